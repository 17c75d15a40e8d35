"""`calibration`: simulation-based calibration of the escape-velocity estimators."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
