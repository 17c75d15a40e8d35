"""The noise-free calibration study of the tail fit (notebooks/vesc_estimator_calibration.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

STUDY = Path(__file__).resolve().parents[2] / "notebooks" / "vesc_estimator_calibration.py"


@pytest.fixture(scope="module")
def study():
    spec = importlib.util.spec_from_file_location("vesc_estimator_calibration", STUDY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_study_writes_a_per_fit_table_and_summary(study, tmp_path):
    out = study.main(
        [
            "--seeds",
            "1",
            "--variants",
            "power_2.0",
            "--bins",
            "7",
            "--walkers",
            "12",
            "--burn",
            "50",
            "--keep",
            "50",
            "--out",
            str(tmp_path),
        ]
    )
    table = (out / "fits.csv").read_text().splitlines()
    assert table[0].startswith("variant,seed,bin,r0_kpc,v_max_kms,vesc_true_kms")
    assert len(table) == 2
    assert "power_2.0" in (out / "summary.md").read_text()
