"""A FITS binary table as a pandas DataFrame (astropy.table), optionally versioned."""

from __future__ import annotations

import warnings
from pathlib import Path, PurePosixPath
from typing import Any

import pandas as pd
from astropy.io import fits
from astropy.table import Table
from kedro.io import AbstractVersionedDataset, DatasetError, Version


class FitsTableDataset(AbstractVersionedDataset[pd.DataFrame, pd.DataFrame]):
    """Load/save a FITS binary table (e.g. a LAMOST catalogue) as a DataFrame.

    Masked integer columns load as pandas nullable integers, masked floats as NaN.
    ``load_args`` go to ``astropy.table.Table.read`` (e.g. ``hdu: 1``). Saved files carry
    FITS checksums (CHECKSUM, DATASUM); a file whose checksums do not match its bytes is
    refused on load, naming the file and HDU (files without checksums are read as they are).

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
            with _open_verified(path) as hdus:
                return Table.read(hdus, format="fits", **self._load_args).to_pandas()
        except (OSError, ValueError, TypeError) as err:
            raise DatasetError(f"Cannot read FITS table {path}: {err}") from err

    def save(self, data: pd.DataFrame) -> None:
        path = Path(str(self._get_save_path()))
        path.parent.mkdir(parents=True, exist_ok=True)
        table = fits.table_to_hdu(Table.from_pandas(data))
        fits.HDUList([fits.PrimaryHDU(), table]).writeto(path, overwrite=False, checksum=True)

    def _exists(self) -> bool:
        try:
            return Path(str(self._get_load_path())).exists()
        except DatasetError:
            return False


def _open_verified(path: Path) -> fits.HDUList:
    """The FITS file read into memory, every HDU loaded; raises ``DatasetError`` if an HDU has a
    CHECKSUM or DATASUM card that does not match its bytes (astropy only warns)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        hdus = fits.open(path, checksum=True, memmap=False)
        for hdu in hdus:
            _ = hdu.data
    failed = [str(w.message) for w in caught if "verification failed" in str(w.message).lower()]
    if failed:
        hdus.close()
        raise DatasetError(f"FITS table {path} is corrupt (its checksums do not match its bytes): {'; '.join(failed)}")
    return hdus
