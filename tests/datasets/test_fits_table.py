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


def test_saved_tables_carry_checksums_and_garbled_bytes_are_refused(tmp_path):
    path = tmp_path / "t.fits"
    data = pd.DataFrame({"obsid": range(2000), "rv": [float(i) for i in range(2000)]})
    FitsTableDataset(filepath=str(path)).save(data)
    assert FitsTableDataset(filepath=str(path)).load().rv.sum() == data.rv.sum()
    raw = bytearray(path.read_bytes())
    middle = len(raw) // 2 + 17  # inside the table's data
    raw[middle] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(DatasetError, match=r"t\.fits is corrupt \(its checksums do not match"):
        FitsTableDataset(filepath=str(path)).load()
