"""Tiny example components that show the framework without any recommendation model."""
