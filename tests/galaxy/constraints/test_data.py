"""The published rotation curve and K_z table, loaded as the data catalog loads them:
units, error order, bad inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from milkyway_mass.galaxy.constraints.data import (
    KZ_COLUMNS,
    ROTATION_CURVE_COLUMNS,
    kz_from_table,
    rotation_curve_from_table,
)
from milkyway_mass.galaxy.units import KZ_2PIG_MSUN_PC2_IN_KMS2_KPC
from tests.conftest import PROJECT

SHARED = PROJECT.parent / "shared" / "data"
EILERS = SHARED / "mw_rotcurve_eilers2019" / "Eilers2019-circ-velocity.txt"
BOVY_RIX = SHARED / "kz_bovy_rix2013" / "bovyrix13kzdata.csv"
needs_data = pytest.mark.skipif(not (EILERS.is_file() and BOVY_RIX.is_file()), reason="../shared/data not available")

EILERS_TEXT = "R v_c err+ err-\n5.27\t226.83\t1.91\t1.90\t\n6.23\t231.20\t1.70\t1.10\t\n"
KZ_ROW = "-1.25,0.425,4.72,248.1,49.3,3.28,211.9,40.8\n"


def read_eilers2019_rotation_curve(path, error_columns="mean"):
    """The rotation curve as the catalog entry ``eilers2019_rotation_curve`` loads it (sep '\\s+')."""
    return rotation_curve_from_table(pd.read_csv(path, sep=r"\s+"), error_columns, source=path)


def read_bovy_rix2013_kz(path):
    """The K_z table as the catalog entry ``bovy_rix2013_kz`` loads it (header None)."""
    return kz_from_table(pd.read_csv(path, header=None), source=path)


@needs_data
def test_rotation_curve_units_and_default_symmetric_errors():
    curve = read_eilers2019_rotation_curve(EILERS)
    assert list(curve.columns) == list(ROTATION_CURVE_COLUMNS)
    assert len(curve) == 38
    assert curve["R_kpc"].iloc[[0, -1]].tolist() == [5.27, 24.82]
    assert curve["vc_kms"].iloc[[0, -1]].tolist() == [226.83, 198.42]
    mean = 0.5 * (curve["err_col3_kms"] + curve["err_col4_kms"])
    np.testing.assert_array_equal(curve["vc_err_up_kms"], mean)
    np.testing.assert_array_equal(curve["vc_err_down_kms"], mean)
    np.testing.assert_array_equal(curve["vc_err_kms"], mean)
    assert curve["err_col3_kms"].iloc[0] == 1.91 and curve["err_col4_kms"].iloc[0] == 1.90


@needs_data
@pytest.mark.parametrize("order, up_column", [("plus_minus", "err_col3_kms"), ("minus_plus", "err_col4_kms")])
def test_rotation_curve_error_order_alternatives(order, up_column):
    curve = read_eilers2019_rotation_curve(EILERS, error_columns=order)
    down_column = "err_col4_kms" if up_column == "err_col3_kms" else "err_col3_kms"
    np.testing.assert_array_equal(curve["vc_err_up_kms"], curve[up_column])
    np.testing.assert_array_equal(curve["vc_err_down_kms"], curve[down_column])
    np.testing.assert_allclose(curve["vc_err_kms"], 0.5 * (curve["err_col3_kms"] + curve["err_col4_kms"]))
    outer = curve["R_kpc"] > 21
    assert (curve["vc_err_up_kms"] != curve["vc_err_down_kms"])[outer].any()


@needs_data
def test_kz_table_units_and_conversion():
    kz = read_bovy_rix2013_kz(BOVY_RIX)
    assert list(kz.columns) == list(KZ_COLUMNS)
    assert len(kz) == 43
    assert kz["R_kpc"].is_monotonic_increasing
    assert kz["R_kpc"].min() == 4.59 and kz["R_kpc"].max() == 8.55
    assert (kz["z_kpc"] == 1.1).all()
    assert kz["kz_2piG_msun_pc2"].min() == 53.4 and kz["kz_2piG_msun_pc2"].max() == 227.7
    assert KZ_2PIG_MSUN_PC2_IN_KMS2_KPC == pytest.approx(27.02, abs=0.01)
    np.testing.assert_allclose(kz["kz_kms2_kpc"], kz["kz_2piG_msun_pc2"] * KZ_2PIG_MSUN_PC2_IN_KMS2_KPC)
    np.testing.assert_allclose(kz["kz_err_kms2_kpc"], kz["kz_err_2piG_msun_pc2"] * KZ_2PIG_MSUN_PC2_IN_KMS2_KPC)
    np.testing.assert_allclose(kz["R0_minus_R_kpc"], 8.0 - kz["R_kpc"], atol=0.011)


def test_readers_parse_small_files(tmp_path):
    rc = tmp_path / "rc.txt"
    rc.write_text(EILERS_TEXT)
    curve = read_eilers2019_rotation_curve(rc, error_columns="plus_minus")
    assert curve["vc_err_up_kms"].tolist() == [1.91, 1.70] and curve["vc_err_down_kms"].tolist() == [1.90, 1.10]
    kz_file = tmp_path / "kz.csv"
    kz_file.write_text(KZ_ROW * 2)
    assert read_bovy_rix2013_kz(kz_file)["kz_kms2_kpc"].tolist() == pytest.approx([211.9 * 27.0235] * 2, rel=1e-5)


@pytest.mark.parametrize(
    "text, message",
    [
        ("R v_c err\n5.27\t226.83\t1.91\t\n", "expected the columns"),
        ("R v_c err+ err-\n5.27\t226.83\t1.91\n", "column 'err-' must not be missing"),
        ("R v_c err+ err-\n5.27\tfast\t1.91\t1.90\n", "column 'v_c' must hold numbers: e.g. 'fast' \\(row 0"),
        ("R v_c err+ err-\n5.27\t226.83\t-1.91\t1.90\n", "column 'err\\+' must be positive: e.g. -1.91 \\(row 0"),
        ("R v_c err+ err-\n5.27\t226.83\t1.91\t1.90\n6.0\tinf\t1.0\t1.0\n", "'v_c' must be finite: e.g. inf \\(row 1"),
    ],
)
def test_bad_rotation_curve_files(tmp_path, text, message):
    path = tmp_path / "rc.txt"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        read_eilers2019_rotation_curve(path)


def test_bad_error_order_option(tmp_path):
    path = tmp_path / "rc.txt"
    path.write_text(EILERS_TEXT)
    with pytest.raises(ValueError, match="error_columns must be one of"):
        read_eilers2019_rotation_curve(path, error_columns="plus")


@pytest.mark.parametrize(
    "text, message",
    [
        ("-1.25,0.425,4.72,248.1,49.3,3.28,211.9\n", "expected 8 comma-separated columns"),
        ("feh,afe,R,s,se,d,kz,kze\n" + KZ_ROW, "column 'feh' must hold numbers: e.g. 'feh'"),
        (KZ_ROW.replace("40.8", "0.0"), "'kz_err_2piG_msun_pc2' must be positive: e.g. 0.0"),
        (KZ_ROW.replace("4.72", ""), "'R_kpc'"),
    ],
)
def test_bad_kz_files(tmp_path, text, message):
    path = tmp_path / "kz.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        read_bovy_rix2013_kz(path)
