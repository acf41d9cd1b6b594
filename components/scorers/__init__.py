"""Scorers of the For-You pipeline, in the order they run: phoenix -> weighted ->
author_diversity -> oon."""
