"""Tests of the `escape_velocity` nodes on synthetic selection outputs."""

import copy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from milkyway_mass.pipelines.escape_velocity.figures import (
    VESC_LABEL,
    WU_LABEL,
    plot_corner,
    plot_tail_fits,
    plot_vesc_curve,
)
from milkyway_mass.pipelines.escape_velocity.nodes import (
    escape_velocity_at_sun,
    fit_escape_velocity,
    summarise_escape_velocity,
)

PROJECT = Path(__file__).resolve().parents[3]
CONF = PROJECT / "conf"
PUBLISHED_BIN1 = PROJECT / "data" / "01_raw" / "published" / "published_vesc_bin1.csv"
FRAME = {"R0_kpc": 8.122}
EDGES = {"bin1": [4.0, 6.0, 8.0, 10.0, 12.0], "bin2": [4.5, 6.5, 8.5, 10.5, 12.5]}


def single_range_params(likelihood: str, k_range: list[float], k_init: float) -> dict:
    """base_params with another likelihood and one k range."""
    params = base_params()
    params["likelihood"] = likelihood
    params["priors"]["k_ranges"] = [k_range]
    params["init"]["k"] = [k_init]
    return params


def base_params() -> dict:
    """conf/base parameters with short chains and serial fits."""
    params = yaml.safe_load((CONF / "base" / "parameters_escape_velocity.yml").read_text())["escape_velocity"]
    params = copy.deepcopy(params)
    params["sampler"].update(n_walkers=12, n_burn=80, n_keep=80, polish_max_iter=200)
    params.update(n_workers=1, progress=False)
    params["figures"].update(band_draws=10, grid_points=40, corner_bins=[1, 2])
    params["vesc_at_sun"]["n_draws"] = 500
    return params


def synthetic_selection(n_per_bin=(4, 80, 120, 60), seed=0):
    """Selection-like outputs: stars drawn from a power law below v_esc(r) = 600 (r/5 kpc)^-0.25 km/s."""
    rng = np.random.default_rng(seed)
    stars, bins = {}, []
    for binning, edges in EDGES.items():
        parts = []
        for b, n in enumerate(n_per_bin):
            r = rng.uniform(edges[b], edges[b + 1], n)
            vesc = 600.0 * (r / 5.0) ** -0.25
            v = vesc - (vesc - 300.0) * rng.uniform(size=n) ** (1 / 3.0)
            parts.append(
                pd.DataFrame(
                    {"r_gc": r, "v_gc": v, "sigma_v_gc": 0.05 * v, "binning": binning, "bin": b, "v_min": 300.0}
                )
            )
            bins.append(
                {
                    "binning": binning,
                    "bin": b,
                    "r_lo": edges[b],
                    "r_hi": edges[b + 1],
                    "v_min": 300.0,
                    "r0": float(np.median(r)) if n else np.nan,
                    "n_stars": n,
                }
            )
        stars[binning] = pd.concat(parts, ignore_index=True)
    return stars["bin1"], stars["bin2"], pd.DataFrame(bins)


@pytest.fixture(scope="module")
def fitted():
    s1, s2, bins = synthetic_selection()
    params = base_params()
    c1, c2 = fit_escape_velocity(s1, s2, bins, params)
    return s1, s2, bins, params, c1, c2


def test_too_few_stars_bin_is_reported_and_skipped(fitted):
    _, _, _, params, c1, c2 = fitted
    for chains in (c1, c2):
        status = {m["bin"]: m["status"] for m in chains["bins"]}
        assert status[0].startswith("skipped") and "4 stars" in status[0]
        assert all(status[b] == "ok" for b in (1, 2, 3))
        assert {b for b, _ in chains["fits"]} == {1, 2, 3}
        assert set(chains["chosen"]) == {1, 2, 3}
    samples, table = summarise_escape_velocity(c1, params)
    row0 = table.set_index("bin").loc[0]
    assert row0["status"].startswith("skipped") and row0["n_stars"] == 4
    assert np.isnan(row0["vesc_median"])
    assert 0 not in set(samples["bin"])


def test_chains_hold_every_fit_with_burn_in_marked(fitted):
    _, _, _, params, c1, _ = fitted
    assert c1["k_ranges"] == ["k0.1-2.5", "k0.1-3.7"]
    assert len(c1["fits"]) == 3 * 2
    fit = c1["fits"][(2, "k0.1-3.7")]
    assert fit["chain"].shape == (160, 12, 4) and fit["chain"].dtype == np.float32
    assert fit["log_prob"].shape == (160, 12)
    assert fit["n_burn_stored"] == 80
    assert fit["k_range"] == (0.1, 3.7)
    assert np.all(fit["chain"][:, :, 1] <= 3.7) and np.all(fit["chain"][:, :, 0] >= 300.0)


def test_summary_table_and_samples(fitted):
    _, _, _, params, c1, _ = fitted
    samples, table = summarise_escape_velocity(c1, params)
    assert list(samples.columns) == ["binning", "bin", "r0", "v_esc", "k", "gamma", "f"]
    for col in (
        "binning",
        "bin",
        "r_lo",
        "r_hi",
        "r0",
        "v_min",
        "n_stars",
        "status",
        "k_range",
        "vesc_median",
        "vesc_err_minus",
        "vesc_err_plus",
        "k_median",
        "k_err",
        "gamma_median",
        "gamma_err",
        "f_median",
        "f_err",
        "lnL_max_k0.1-2.5",
        "aic_k0.1-2.5",
        "lnL_max_k0.1-3.7",
        "aic_k0.1-3.7",
        "acceptance_fraction",
        "tau",
        "converged",
        "at_prior_edge",
        "likelihood",
    ):
        assert col in table.columns, col
    ok = table[table["status"] == "ok"]
    assert len(ok) == 3 and (ok["likelihood"] == "published").all()
    assert (ok["vesc_err_minus"] > 0).all() and (ok["vesc_err_plus"] > 0).all()
    np.testing.assert_allclose(ok["aic_k0.1-2.5"], 8 - 2 * ok["lnL_max_k0.1-2.5"])
    # each bin's samples are the chosen fit's kept chain, and the table medians come from them
    for _, row in ok.iterrows():
        s = samples[samples["bin"] == row["bin"]]
        assert len(s) == 80 * 12
        assert np.median(s["v_esc"]) == pytest.approx(row["vesc_median"], rel=1e-5)
        assert s["r0"].iloc[0] == pytest.approx(row["r0"], rel=1e-6)
    # the synthetic truth 600 (r0/5)^-0.25 km/s lies within a generous interval of each bin
    truth = 600.0 * (ok["r0"] / 5.0) ** -0.25
    assert (np.abs(ok["vesc_median"] - truth) < 4 * (ok["vesc_err_minus"] + ok["vesc_err_plus"])).all()


def test_samples_thinning(fitted):
    _, _, _, params, c1, _ = fitted
    thinned, _ = summarise_escape_velocity(c1, {**params, "samples_thin": 4})
    assert len(thinned[thinned["bin"] == 1]) == 80 * 12 // 4


def test_vesc_at_sun_interpolates_posterior_draws():
    rng = np.random.default_rng(0)
    n = 40_000
    samples = pd.DataFrame(
        {
            "binning": "bin1",
            "bin": np.repeat([1, 2], n),
            "r0": np.repeat([7.0, 9.0], n),
            "v_esc": np.concatenate([rng.normal(550, 10, n), rng.normal(510, 20, n)]),
            "k": 2.0,
            "gamma": np.repeat([0.0, 0.5], n),
            "f": 1e-3,
        }
    )
    table = pd.DataFrame(
        {
            "bin": [0, 1, 2],
            "r_lo": [4.0, 6.0, 8.0],
            "r_hi": [6.0, 8.0, 10.0],
            "r0": [5.0, 7.0, 9.0],
            "status": ["skipped: 3 stars < min_stars=20", "ok", "ok"],
            "converged": [False, True, False],
        }
    )
    params = {"likelihood": "published", "vesc_at_sun": {"n_draws": 40_000, "seed": 1}}
    out = escape_velocity_at_sun(samples, samples.assign(binning="bin2"), table, table, FRAME, params)
    w = (8.122 - 7.0) / 2.0
    interp = out["bin1"]["interpolated"]
    assert interp["bins"] == [1, 2]
    assert interp["median"] == pytest.approx((1 - w) * 550 + w * 510, abs=0.5)
    sd = np.hypot((1 - w) * 10, w * 20)
    assert interp["err_minus"] == pytest.approx(sd, rel=0.03) and interp["err_plus"] == pytest.approx(sd, rel=0.03)
    in_bin = out["bin2"]["in_bin_model"]
    assert in_bin["bin"] == 2
    assert interp["converged"] is False and in_bin["converged"] is False  # bin 2 did not converge
    assert in_bin["median"] == pytest.approx(510 * (8.122 / 9.0) ** -0.25, abs=0.6)
    assert "interpolat" in out["method"]


def test_vesc_at_sun_reports_unbracketed_r0():
    samples = pd.DataFrame(
        {"binning": "bin1", "bin": [3] * 10, "r0": 11.0, "v_esc": 480.0, "k": 2.0, "gamma": 0.1, "f": 1e-3}
    )
    table = pd.DataFrame(
        {"bin": [3], "r_lo": [10.0], "r_hi": [12.0], "r0": [11.0], "status": ["ok"], "converged": [True]}
    )
    params = {"likelihood": "published", "vesc_at_sun": {"n_draws": 100, "seed": 1}}
    out = escape_velocity_at_sun(samples, samples, table, table, FRAME, params)
    assert "not bracketed" in out["bin1"]["interpolated"]["status"]
    assert "no fitted bin contains" in out["bin1"]["in_bin_model"]["status"]


def _curve(params, c1, c2, published=None):
    _, t1 = summarise_escape_velocity(c1, params)
    _, t2 = summarise_escape_velocity(c2, params)
    sun = {"bin1": {"interpolated": {"status": "ok", "median": 530.0, "err_minus": 10.0, "err_plus": 12.0}}}
    published = pd.read_csv(PUBLISHED_BIN1) if published is None else published
    return plot_vesc_curve(t1, t2, sun, published, FRAME, params), t1, t2


def test_figures(fitted):
    s1, _, _, params, c1, c2 = fitted
    _, table = summarise_escape_velocity(c1, params)
    fig = plot_tail_fits(s1, c1, table, params)
    assert isinstance(fig, Figure)
    assert sum(ax.get_visible() for ax in fig.axes) == 4
    assert len(fig.axes[2].lines) >= 4  # total, bound, outlier, v_esc marker
    corner = plot_corner(c1, params)
    assert sum(ax.get_frame_on() for ax in corner.axes) == 10  # lower triangle of 4 x 4 panels
    curve, _, _ = _curve(params, c1, c2)
    labels = curve.axes[0].get_legend_handles_labels()[1]
    assert {"Prudil et al. 2022", "Williams et al. 2017", "bin1 at R0", WU_LABEL} <= set(labels)


def _vesc_lines(ax):
    return [line for line in ax.lines if line.get_gid() == "vesc_median"]


def test_tail_fit_legend_is_shared_and_complete_when_the_first_bin_is_skipped(fitted):
    s1, _, _, params, c1, _ = fitted
    assert c1["bins"][0]["status"].startswith("skipped")
    _, table = summarise_escape_velocity(c1, params)
    fig = plot_tail_fits(s1, c1, table, params)
    assert all(ax.get_legend() is None for ax in fig.axes)
    assert len(fig.legends) == 1
    texts = [t.get_text() for t in fig.legends[0].get_texts()]
    assert len(texts) == len(set(texts))  # one entry per kind, not one per panel
    assert {"stars", "total (68 % band)", "bound (68 % band)", "outlier (68 % band)", VESC_LABEL} <= set(texts)


def test_tail_fit_marks_the_tabulated_median_and_interval(fitted):
    s1, _, _, params, c1, _ = fitted
    _, table = summarise_escape_velocity(c1, params)
    fig = plot_tail_fits(s1, c1, table, params)
    assert not _vesc_lines(fig.axes[0])  # skipped bin
    for b in (1, 2, 3):
        row = table.set_index("bin").loc[b]
        (line,) = _vesc_lines(fig.axes[b])
        assert line.get_xdata()[0] == pytest.approx(row["vesc_median"], rel=1e-12)
        assert row["vesc_median"] != pytest.approx(c1["fits"][(b, c1["chosen"][b])]["theta_max"][0], rel=1e-9)
        spans = [
            p
            for p in fig.axes[b].patches
            if isinstance(p, Rectangle) and p.get_x() == pytest.approx(row["vesc_median"] - row["vesc_err_minus"])
        ]
        assert len(spans) == 1
        assert spans[0].get_width() == pytest.approx(row["vesc_err_minus"] + row["vesc_err_plus"])


def test_tail_fit_median_beyond_v_max_stays_visible(fitted):
    s1, _, _, params, c1, _ = fitted
    _, table = summarise_escape_velocity(c1, params)
    table.loc[table["bin"] == 2, ["vesc_median", "vesc_err_minus", "vesc_err_plus"]] = [850.0, 30.0, 40.0]
    fig = plot_tail_fits(s1, c1, table, params)
    lo, hi = fig.axes[2].get_xlim()
    assert params["figures"]["v_max_kms"] == 700.0 and lo < 850.0 - 30.0 and hi >= 850.0 + 40.0
    assert _vesc_lines(fig.axes[2])[0].get_xdata()[0] == 850.0
    assert fig.axes[1].get_xlim()[1] == 700.0  # other panels keep v_max
    capped = copy.deepcopy(params)
    capped["figures"]["vesc_xlim_cap_kms"] = 800.0
    table.loc[table["bin"] == 2, "vesc_median"] = 900.0
    fig = plot_tail_fits(s1, c1, table, capped)
    assert fig.axes[2].get_xlim()[1] == 800.0
    notes = [t for t in fig.axes[2].texts if t.get_gid() == "vesc_beyond_axis"]
    assert len(notes) == 1 and "900 km/s" in notes[0].get_text()


def test_vesc_curve_shows_wu2025_bin1_and_star_counts(fitted):
    _, _, _, params, c1, c2 = fitted
    published = pd.read_csv(PUBLISHED_BIN1).iloc[::-1]  # any row order
    curve, t1, t2 = _curve(params, c1, c2, published)
    ax = curve.axes[0]
    wu = published.sort_values("r_gc_kpc")
    (line,) = [line for line in ax.lines if line.get_label() == WU_LABEL]
    np.testing.assert_allclose(line.get_xdata(), wu["r_gc_kpc"])
    np.testing.assert_allclose(line.get_ydata(), wu["vesc_kms"])
    (band,) = [c for c in ax.collections if c.get_gid() == "wu2025_bin1"]
    ys = band.get_paths()[0].vertices[:, 1]
    assert ys.min() == pytest.approx((wu["vesc_kms"] - wu["err_minus_kms"]).min())
    assert ys.max() == pytest.approx((wu["vesc_kms"] + wu["err_plus_kms"]).max())
    assert WU_LABEL in [t.get_text() for t in curve.legends[0].get_texts()]
    for binning, table in (("bin1", t1), ("bin2", t2)):
        ok = table[table["status"] == "ok"]
        notes = [t for t in ax.texts if t.get_gid() == f"n_stars_{binning}"]
        assert [t.get_text() for t in notes] == [str(n) for n in ok["n_stars"]]
        np.testing.assert_allclose([t.xy[0] for t in notes], ok["r0"])


def test_vesc_curve_rejects_a_published_table_without_its_columns(fitted):
    _, _, _, params, c1, c2 = fitted
    with pytest.raises(ValueError, match="published_vesc_bin1 lacks column"):
        _curve(params, c1, c2, pd.read_csv(PUBLISHED_BIN1).drop(columns="err_plus_kms"))


def test_convolved_likelihood_runs_through_the_nodes():
    s1, s2, bins = synthetic_selection(n_per_bin=(0, 40, 30, 25), seed=3)
    params = single_range_params("convolved", [0.1, 2.5], 2.0)
    c1, _ = fit_escape_velocity(s1, s2, bins, params)
    assert c1["likelihood"] == "convolved" and c1["bins"][0]["status"].startswith("skipped: 0 stars")
    _, table = summarise_escape_velocity(c1, params)
    assert (table["likelihood"] == "convolved").all()
    assert table["vesc_median"].notna().sum() == 3


def test_df_power_exp_likelihood_carries_b_through_the_nodes():
    s1, s2, bins = synthetic_selection(n_per_bin=(0, 40, 30, 25), seed=3)
    params = single_range_params("df_power_exp", [0.0, 6.0], 2.0)
    c1, _ = fit_escape_velocity(s1, s2, bins, params)
    fit = c1["fits"][(1, "k0-6")]
    assert fit["chain"].shape[-1] == 5 and fit["parameter_names"][-1] == "b"
    samples, table = summarise_escape_velocity(c1, params)
    assert list(samples.columns) == ["binning", "bin", "r0", "v_esc", "k", "gamma", "f", "b"]
    assert samples["b"].between(*params["priors"]["b"]).all()
    assert table.loc[table["bin"] == 1, ["b_median", "b_err"]].notna().all(axis=None)
    fig = plot_corner(c1, params)
    assert sum(ax.get_frame_on() for ax in fig.axes) == 15  # lower triangle of 5 x 5 panels


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda s, b: (s.drop(columns="sigma_v_gc"), b), "lacks column"),
        (lambda s, b: (s.assign(bin=s["bin"].where(s["bin"] != 1, 7)), b), "does not list"),
        (lambda s, b: (s.assign(binning="bin2"), b), "binning other than"),
        (lambda s, b: (s.assign(v_min=s["v_min"] + 5.0), b), "'v_min' differs"),
        (lambda s, b: (s.assign(v_gc=s["v_gc"].where(s.index != 10, 250.0)), b), "v >= v_min"),
        (lambda s, b: (s, b[b["binning"] == "bin2"]), "no rows for binning 'bin1'"),
    ],
)
def test_bad_inputs_raise_clear_errors(mutate, message):
    s1, s2, bins = synthetic_selection()
    s1, bins = mutate(s1, bins)
    with pytest.raises(ValueError, match=message):
        fit_escape_velocity(s1, s2, bins, base_params())
