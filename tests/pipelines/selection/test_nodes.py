"""Tests of the `selection` nodes on small hand-made tables."""

import logging

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from milkyway_mass.cut_flow import EmptySelectionError, warn_heavy_losses
from milkyway_mass.pipelines.selection.nodes import (
    apply_quality_cuts,
    assemble_cut_flow,
    build_radial_bin_limits,
    build_reference_vesc_curves,
    combine_radial_bins,
    plot_halo_separation,
    plot_vgc_rgc,
    select_binning,
)
from milkyway_mass.schemas import CUT_FLOW_COLUMNS, RADIAL_BIN_COLUMNS

FRAME = {"R0_kpc": 8.122, "z0_kpc": 0.0208, "v_sun_peculiar_kms": [11.1, 12.24, 7.25], "vc_R0_kms": 234.04}
COSMOLOGY = {"H0_kms_mpc": 70.0, "Om": 1.0}
CUT_FLOW = {"loss_warning_share": 0.9}
SELECTION = {
    "quality": {"max_sigma_d_frac": 0.5, "max_sigma_v_gc_kms": 50.0},
    "reference_curves": {
        "virial_masses_msun": {"low": 5.0e11, "mid": 8.5e11, "high": 1.2e12},
        "virial_overdensity": 200.0,
        "virial_Om": 0.3,
        "r_grid_kpc": {"start": 1.0, "stop": 60.0, "step": 1.0},
    },
    "v_min": {
        "inner_r_max_kpc": 12.0,
        "inner_v_min_kms": 300.0,
        "curve_fraction": 0.6,
        "evaluate_at": "midpoint",
        "round_to_kms": 10.0,
        "rounding": "up",
    },
    "v_max_kms": 700.0,
    "halo_separation": {"rule": "feh_line", "toomre_v_min_kms": 180.0, "vphi_min_kms": -100.0},
    "halo_line": {"slope_kms_per_dex": 276.70, "intercept_kms": 97.78},
    "binnings": {
        "bin1": {"edges_kpc": [4.0, 6, 8, 10, 12, 14, 16, 20, 24, 28, 32, 40, 48]},
        "bin2": {"edges_kpc": [4.5, 6.5, 8.5, 10.5, 12.5, 14.5, 16.5, 20.5, 24.5, 28.5, 32.5, 40.5, 48.5]},
    },
    "min_stars_per_bin": 10,
    "figures": {
        "r_range_kpc": [0.0, 50.0],
        "v_range_kms": [0.0, 800.0],
        "feh_range_dex": [-3.0, 0.8],
        "vphi_range_kms": [-500.0, 500.0],
        "density_bins": [20, 16],
    },
}
LINE = lambda feh: 276.70 * feh + 97.78  # noqa: E731


def _stars(**columns) -> pd.DataFrame:
    n = len(next(iter(columns.values())))
    base = {
        "obsid": np.arange(n),
        "r_gc": np.full(n, 10.0),
        "v_gc": np.full(n, 100.0),
        "v_phi": np.zeros(n),
        "v_R": np.zeros(n),
        "v_z": np.zeros(n),
        "feh": np.full(n, -1.5),
        "sigma_d_frac": np.full(n, 0.1),
        "sigma_v_gc": np.full(n, 10.0),
    }
    base.update({k: np.asarray(v, float) for k, v in columns.items()})
    return pd.DataFrame(base)


def _limits() -> pd.DataFrame:
    """A hand-made binning: [4, 8), [8, 12), [12, 20] kpc with v_min 300, 300, 250 km/s."""
    return pd.DataFrame(
        {
            "binning": "binX",
            "bin": [0, 1, 2],
            "r_lo": [4.0, 8.0, 12.0],
            "r_hi": [8.0, 12.0, 20.0],
            "r_vmin": [6.0, 10.0, 16.0],
            "v_min": [300.0, 300.0, 250.0],
        }
    )


def _hand_made():
    """12 stars; the comment says which cut removes each."""
    return _stars(
        r_gc=[5, 5, 4.0, 3.99, 20.0, 20.01, 15, 15, 9, 9, 10, 13],
        v_gc=[350, 299.9, 300, 500, 400, 400, 700, 699, 450, 450, 260, 260],
        #     ok  slow  ==vmin out  last-edge out  vmax disk line NaN slow ok(250)
        feh=[-1.5, -1.5, -1.5, -1.5, -2.0, -1.5, -1.5, 0.0, -1.0, np.nan, -1.5, -1.5],
        v_phi=[0, 0, 0, 0, 100, 0, 0, -300, LINE(-1.0) - 0.01, 0, 0, 0],
    )


def test_quality_cuts_counts_and_nonfinite_note():
    stars = _stars(sigma_d_frac=[0.1, 0.5, 0.49, np.nan, 0.2], sigma_v_gc=[10, 10, 50, 10, np.nan])
    kept, rows = apply_quality_cuts(stars, SELECTION["quality"])
    assert kept["obsid"].tolist() == [0]
    assert list(rows.columns) == list(CUT_FLOW_COLUMNS)
    assert rows["n_stars"].tolist() == [3, 1] and rows["n_removed"].tolist() == [2, 2]
    assert rows["cut"].tolist() == ["sigma_d/d < 0.5", "sigma_vGC < 50 km/s"]
    assert all("of which 1 non-finite" in note for note in rows["note"])


def test_quality_cuts_name_missing_column():
    with pytest.raises(ValueError, match="sigma_v_gc"):
        apply_quality_cuts(_stars(r_gc=[5.0]).drop(columns="sigma_v_gc"), SELECTION["quality"])


def test_each_cut_count_on_hand_made_table(caplog):
    with caplog.at_level(logging.WARNING):
        candidates, selected, bins, rows = select_binning(_hand_made(), _limits(), SELECTION, FRAME)
    assert rows["n_stars"].tolist() == [8, 7, 4]
    assert rows["n_removed"].tolist() == [4, 1, 3]
    assert (rows["binning"] == "binX").all()
    assert "outside [4, 20] kpc: 2; below v_min: 2" in rows["note"].iloc[0]
    assert "disk-like removed: 3, of which 1 non-finite" in rows["note"].iloc[2]
    assert "empty bins: [1]" in rows["note"].iloc[2] and "bins with < 10 stars: [0, 2]" in rows["note"].iloc[2]
    assert sorted(selected["obsid"]) == [0, 2, 4, 11]
    assert sorted(candidates["obsid"]) == [0, 2, 4, 7, 8, 9, 11]
    assert candidates.set_index("obsid").loc[[7, 8, 9], "is_halo"].eq(False).all()
    # bin labels and v_min of the selected stars; r == last edge belongs to the last bin
    sel = selected.set_index("obsid")
    assert sel.loc[[0, 2, 4, 11], "bin"].tolist() == [0, 0, 2, 2]
    assert sel.loc[[0, 2, 4, 11], "v_min"].tolist() == [300.0, 300.0, 250.0, 250.0]
    assert (selected["binning"] == "binX").all() and selected["bin"].dtype.kind == "i"
    # empty bin: count 0 and r0 NaN; sparse bins: median radius
    assert list(bins.columns) == list(RADIAL_BIN_COLUMNS)
    assert bins["n_stars"].tolist() == [2, 0, 2]
    assert (
        bins["r0"].iloc[0] == pytest.approx(4.5)
        and np.isnan(bins["r0"].iloc[1])
        and bins["r0"].iloc[2] == pytest.approx(16.5)
    )
    assert "binX bin(s) [1] empty" in caplog.text and "fewer than 10 stars" in caplog.text


def test_no_stars_left_stops_the_run_naming_the_cut():
    """A binning without stars stops selection (the tail fits need them), naming the cut that emptied it."""
    empty = _hand_made().iloc[:0]
    with pytest.raises(EmptySelectionError, match="selection binX: no star passed the quality cuts"):
        select_binning(empty, _limits(), SELECTION, FRAME)
    too_strict = SELECTION | {"v_max_kms": 1.0}
    with pytest.raises(EmptySelectionError, match=r"no star was left after the cut 'v_GC < 1 km/s'"):
        select_binning(_hand_made(), _limits(), too_strict, FRAME)
    candidates = select_binning(_hand_made(), _limits(), SELECTION, FRAME)[0].iloc[:0]
    assert isinstance(plot_halo_separation(empty, candidates, candidates, SELECTION, FRAME), Figure)


def test_heavy_losses_are_logged_as_warnings(caplog):
    rows = pd.DataFrame(
        [
            {"pipeline": "p", "cut": "a", "binning": "all", "n_stars": 100, "n_removed": 0, "note": ""},
            {"pipeline": "p", "cut": "b", "binning": "all", "n_stars": 5, "n_removed": 95, "note": "too far: 95"},
            {"pipeline": "p", "cut": "c", "binning": "all", "n_stars": 4, "n_removed": 1, "note": ""},
        ]
    )
    with caplog.at_level(logging.WARNING, logger="milkyway_mass"):
        messages = warn_heavy_losses(rows, 0.9)
    assert messages == ["p: cut 'b' (all) removed 95 of 100 stars (too far: 95)"]
    assert messages[0] in caplog.text


def test_select_binning_rejects_mixed_or_gapped_limits():
    limits = _limits()
    with pytest.raises(ValueError, match="exactly one binning"):
        select_binning(_hand_made(), pd.concat([limits, limits.assign(binning="other")]), SELECTION, FRAME)
    with pytest.raises(ValueError, match="not contiguous"):
        select_binning(_hand_made(), limits.assign(r_lo=[4.0, 9.0, 12.0]), SELECTION, FRAME)


def test_radial_bin_limits_from_configuration():
    tables = build_radial_bin_limits(
        SELECTION["binnings"], SELECTION["v_min"], SELECTION["reference_curves"], FRAME, COSMOLOGY
    )
    assert set(tables) == {"bin1", "bin2"}
    b1, b2 = tables["bin1"], tables["bin2"]
    assert len(b1) == len(b2) == 12 and b1["bin"].tolist() == list(range(12))
    np.testing.assert_allclose(b2["r_lo"], b1["r_lo"] + 0.5)
    assert (b1.loc[b1["r_hi"] <= 12, "v_min"] == 300).all()
    assert b1.loc[b1["r_lo"] == 14, "v_min"].item() == 280.0 and b1.loc[b1["r_lo"] == 20, "v_min"].item() == 250.0
    assert b2.loc[b2["r_lo"] == 10.5, "v_min"].item() == 300.0  # midpoint 11.5 kpc is inside 12 kpc
    bad = {"bin1": {"edges_kpc": [4.0, 3.0, 8.0]}}
    with pytest.raises(ValueError, match="bin1.edges_kpc"):
        build_radial_bin_limits(bad, SELECTION["v_min"], SELECTION["reference_curves"], FRAME, COSMOLOGY)


def test_reference_curve_table_contract():
    table = build_reference_vesc_curves(SELECTION["reference_curves"], SELECTION["v_min"], FRAME, COSMOLOGY)
    assert list(table.columns) == [
        "r_kpc",
        "vesc_low_kms",
        "vesc_mid_kms",
        "vesc_high_kms",
        "vesc_mean_kms",
        "vmin_curve_kms",
    ]
    assert table["r_kpc"].iloc[0] == 1.0 and table["r_kpc"].iloc[-1] == 60.0
    np.testing.assert_allclose(table["vmin_curve_kms"], 0.6 * table["vesc_mean_kms"])
    bad = {**SELECTION["reference_curves"], "virial_masses_msun": {"a": 1e12}}
    with pytest.raises(ValueError, match="virial_masses_msun"):
        build_reference_vesc_curves(bad, SELECTION["v_min"], FRAME, COSMOLOGY)


def _ingest_rows(n):
    return pd.DataFrame(
        [
            {"pipeline": "ingest", "cut": "K giants", "binning": "all", "n_stars": n + 3, "n_removed": 0, "note": ""},
            {"pipeline": "ingest", "cut": "full 6D", "binning": "all", "n_stars": n, "n_removed": 3, "note": ""},
        ]
    )


def test_cut_flow_adds_up_and_mismatch_raises():
    stars = _hand_made()
    quality, q_rows = apply_quality_cuts(stars, SELECTION["quality"])
    _, _, _, rows = select_binning(quality, _limits(), SELECTION, FRAME)
    flow = assemble_cut_flow(CUT_FLOW, _ingest_rows(len(stars)), q_rows, rows, rows.assign(binning="binY"))
    assert list(flow.columns) == list(CUT_FLOW_COLUMNS)
    assert flow["pipeline"].tolist() == ["ingest"] * 2 + ["selection"] * 8
    for _, part in flow.iloc[2:].groupby("binning"):
        assert part["n_removed"].sum() + part["n_stars"].iloc[-1] == part["n_stars"].iloc[0] + part["n_removed"].iloc[0]
    with pytest.raises(ValueError, match="cut_flow_ingest ends with"):
        assemble_cut_flow(CUT_FLOW, _ingest_rows(len(stars) + 1), q_rows, rows)
    with pytest.raises(ValueError, match="does not add up"):
        assemble_cut_flow(CUT_FLOW, _ingest_rows(len(stars)), q_rows, rows.assign(n_removed=rows["n_removed"] + 1))
    with pytest.raises(ValueError, match="CUT_FLOW_COLUMNS"):
        assemble_cut_flow(CUT_FLOW, _ingest_rows(len(stars)).drop(columns="note"), q_rows, rows)


def test_figures_are_matplotlib_figures():
    stars = _hand_made()
    candidates, selected, bins, _ = select_binning(stars, _limits(), SELECTION, FRAME)
    curves = build_reference_vesc_curves(SELECTION["reference_curves"], SELECTION["v_min"], FRAME, COSMOLOGY)
    fig = plot_vgc_rgc(stars, curves, combine_radial_bins(bins, bins.assign(binning="binY")), selected, SELECTION)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert len(ax.lines) >= 5  # three curves, 0.6 x mean, v_max
    assert isinstance(plot_halo_separation(stars, candidates, candidates, SELECTION, FRAME), Figure)


@pytest.mark.parametrize(
    ("rule", "kept", "cut"),
    [
        ("toomre", [0, 2], "halo stars: Toomre |v - v_disk| > 180 km/s"),
        ("vphi", [0, 1, 2], "halo stars: v_phi > -100 km/s"),
    ],
)
def test_kinematic_halo_rules_need_no_metallicity(rule, kept, cut):
    """Disk speed vc(R0) = 234.04 km/s: v_phi = -234 is the disk itself; -60 is 174 km/s from it
    (a disk star by Toomre, halo by the v_phi rule); +50 is retrograde."""
    stars = _stars(r_gc=[10.0] * 4, v_gc=[400.0] * 4, v_phi=[50.0, -60.0, -20.0, -234.0], feh=[np.nan] * 4)
    stars.loc[2, "v_R"] = 150.0
    settings = SELECTION | {"halo_separation": SELECTION["halo_separation"] | {"rule": rule}}
    candidates, selected, _, rows = select_binning(stars, _limits(), settings, FRAME)
    assert selected["obsid"].tolist() == kept
    assert rows["cut"].iloc[-1].startswith(cut)
    assert isinstance(plot_halo_separation(stars, candidates, candidates, settings, FRAME), Figure)


def test_metallicity_rule_without_metallicities_names_the_kinematic_rules():
    stars = _stars(r_gc=[10.0] * 3, v_gc=[400.0] * 3, feh=[np.nan] * 3)
    with pytest.raises(ValueError, match="no star has \\[Fe/H\\].*set the rule to toomre or vphi"):
        select_binning(stars, _limits(), SELECTION, FRAME)
