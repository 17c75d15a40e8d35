"""FitsTableDataset: round trip, versioning and clear errors."""

import pandas as pd
import pytest
from kedro.io import DatasetError, Version

from milkyway_mass.datasets import FitsTableDataset


def test_unreadable_file_is_named(tmp_path):
    bad = tmp_path / "broken.fits"
    bad.write_text("this is not FITS")
    with pytest.raises(DatasetError, match="broken.fits"):
        FitsTableDataset(filepath=str(bad)).load()


def test_missing_file_is_named(tmp_path):
    with pytest.raises(DatasetError, match="nowhere.fits"):
        FitsTableDataset(filepath=str(tmp_path / "nowhere.fits")).load()


def test_versioned_saves_never_overwrite(tmp_path):
    path = str(tmp_path / "t.fits")
    first = FitsTableDataset(filepath=path, version=Version(None, "2026-01-01T00.00.00.000Z"))
    first.save(pd.DataFrame({"a": [1, 2]}))
    second = FitsTableDataset(filepath=path, version=Version(None, "2026-01-02T00.00.00.000Z"))
    second.save(pd.DataFrame({"a": [3]}))
    assert FitsTableDataset(filepath=path, version=Version(None, None)).load().a.tolist() == [3]
    assert FitsTableDataset(filepath=path, version=Version("2026-01-01T00.00.00.000Z", None)).load().a.tolist() == [
        1,
        2,
    ]
