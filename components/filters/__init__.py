"""Filters of the For-You pipeline, one module each (after X's ``home-mixer/filters``)."""
