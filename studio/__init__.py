"""Compression Studio: make trained neural networks smaller and faster by point-and-click."""

__version__ = "0.1.0"
