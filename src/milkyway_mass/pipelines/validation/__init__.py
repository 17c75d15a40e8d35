"""The `validation` pipeline: what the analysis recovers against the mock's truth."""

from .pipeline import create_pipeline

__all__ = ["create_pipeline"]
