"""Metrics (numpy only) and side-by-side speed measurement of students and teachers."""

from .metrics import classification_metrics

__all__ = ["classification_metrics"]
