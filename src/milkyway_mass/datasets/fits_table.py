"""A FITS binary table as a pandas DataFrame (astropy.table), optionally versioned."""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

import pandas as pd
from astropy.table import Table
from kedro.io import AbstractVersionedDataset, DatasetError, Version


class FitsTableDataset(AbstractVersionedDataset[pd.DataFrame, pd.DataFrame]):
    """Load/save a FITS binary table (e.g. a LAMOST catalogue) as a DataFrame.

    Masked integer columns load as pandas nullable integers, masked floats as NaN.
    ``load_args`` go to ``astropy.table.Table.read`` (e.g. ``hdu: 1``).

    Example catalog entry::

        lamost_kgiants:
          type: milkyway_mass.datasets.FitsTableDataset
          filepath: data/01_raw/lamost_dr8_kgiants.fits
    """

    def __init__(
        self,
        *,
        filepath: str,
        load_args: dict[str, Any] | None = None,
        version: Version | None = None,
        metadata: dict[str, Any] | None = None,
    ):
        super().__init__(filepath=PurePosixPath(filepath), version=version)
        self._load_args = load_args or {}
        self.metadata = metadata

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath), "load_args": self._load_args, "version": self._version}

    def load(self) -> pd.DataFrame:
        path = Path(str(self._get_load_path()))
        if not path.exists():
            raise DatasetError(f"FITS table not found: {path}")
        try:
            table = Table.read(path, format="fits", **self._load_args)
        except (OSError, ValueError, TypeError) as err:
            raise DatasetError(f"Cannot read FITS table {path}: {err}") from err
        return table.to_pandas()

    def save(self, data: pd.DataFrame) -> None:
        path = Path(str(self._get_save_path()))
        path.parent.mkdir(parents=True, exist_ok=True)
        Table.from_pandas(data).write(path, format="fits", overwrite=False)

    def _exists(self) -> bool:
        try:
            return Path(str(self._get_load_path())).exists()
        except DatasetError:
            return False
