"""Project-specific Kedro datasets."""

from .fits_table import FitsTableDataset

__all__ = ["FitsTableDataset"]
