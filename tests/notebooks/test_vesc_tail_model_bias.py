"""The large-sample bias study of the tail models (notebooks/vesc_tail_model_bias.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd

STUDY = Path(__file__).resolve().parents[2] / "notebooks" / "vesc_tail_model_bias.py"


def test_df_consistent_model_is_unbiased_for_a_power_law_df_and_published_is_not(tmp_path):
    spec = importlib.util.spec_from_file_location("vesc_tail_model_bias", STUDY)
    study = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(study)
    out = study.main(["--stars", "6000", "--bins", "5", "--dfs", "power_2.5", "--out", str(tmp_path)])
    table = pd.read_csv(out / "bias.csv").set_index("model")
    assert abs(table.loc["df_consistent", "bias"]) < 0.01
    assert abs(table.loc["df_consistent", "k_ml"] - 2.5) < 0.5
    assert abs(table.loc["published", "bias"]) > 0.015  # the published form misses the v² (v_esc + v)^k factor
    assert "power_2.5" in (out / "summary.md").read_text()
