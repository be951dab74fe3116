"""Versions, recipes and projects: the history of a model and how it is replayed."""
