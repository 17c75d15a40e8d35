"""The `escape_velocity` pipeline."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
