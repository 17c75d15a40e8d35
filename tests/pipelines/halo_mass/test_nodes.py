"""Nodes of `halo_mass` on synthesized `escape_velocity` outputs and on the shipped published curve."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from milkyway_mass.pipelines.halo_mass import figures, nodes, reports
from tests.conftest import PROJECT, load_params

TRUTH = np.array([np.log10(9.0e11), 11.0])
RADII = np.array([5.3, 7.1, 9.0, 11.0, 13.0, 17.5, 22.0, 30.0])


@pytest.fixture(scope="module")
def params():
    return load_params("ci")


@pytest.fixture(scope="module")
def upstream(params):
    """vesc_samples_bin1 / vesc_table_bin1 as `escape_velocity` writes them, from a known model.

    Bin 9 is skipped upstream (status not 'ok') but still has samples, which must be dropped.
    """
    spec = nodes.mass_model("nfw", "fixed", params["halo_mass"]["model"], {}, params["cosmology"])
    v_true = spec.build(TRUTH[None, :]).escape_speed(RADII, 0.0, 2.0)[0]
    rng = np.random.default_rng(7)
    frames, rows = [], []
    for b, (r, v) in enumerate(zip([*RADII, 45.0], [*v_true, 330.0]), start=1):
        n = 2000
        frames.append(
            pd.DataFrame(
                {
                    "binning": "bin1",
                    "bin": b,
                    "r0": r,
                    "v_esc": rng.normal(v, 12.0, n),
                    "k": rng.uniform(0.1, 2.5, n),
                    "gamma": rng.uniform(0, 1, n),
                    "f": rng.uniform(0, 0.01, n),
                }
            )
        )
        rows.append(
            {
                "binning": "bin1",
                "bin": b,
                "r0": r,
                "n_stars": 100,
                "status": "ok" if b <= len(RADII) else "too few stars",
                "vesc_median": v,
                "vesc_err_minus": 12.0,
                "vesc_err_plus": 12.0,
                "converged": True,
            }
        )
    return pd.concat(frames, ignore_index=True), pd.DataFrame(rows)


@pytest.fixture(scope="module")
def published():
    return pd.read_csv(PROJECT / "data" / "01_raw" / "published" / "published_vesc_bin1.csv")


def test_measured_curve_uses_ok_bins_only(upstream, params):
    samples, table = upstream
    curve = nodes.build_measured_curve(samples, table, params["halo_mass"]["curve"])
    assert curve.source == "measured"
    assert list(curve.table["bin"]) == list(range(1, len(RADII) + 1))
    np.testing.assert_allclose(curve.r0, RADII)
    assert (curve.table["vesc_err95_minus"] > curve.table["vesc_err_minus"]).all()
    assert (curve.table["vesc_err_plus"] < curve.table["vesc_err95_plus"]).all()


def test_measured_curve_bad_inputs_name_the_bin(upstream, params):
    samples, table = upstream
    cfg = params["halo_mass"]["curve"]
    nan = samples.copy()
    nan.loc[nan.index[nan["bin"] == 3][:4], "v_esc"] = np.nan
    with pytest.raises(ValueError, match=r"bin 3 \(r0 = 9.00 kpc\).*4 non-finite"):
        nodes.build_measured_curve(nan, table, cfg)
    with pytest.raises(ValueError, match=r"bin 2 \(r0 = 7.10 kpc\) has status 'ok' but no v_esc samples"):
        nodes.build_measured_curve(samples[samples["bin"] != 2], table, cfg)
    with pytest.raises(ValueError, match=r"vesc_samples lacks column\(s\) \['v_esc'\]"):
        nodes.build_measured_curve(samples.drop(columns="v_esc"), table, cfg)
    with pytest.raises(ValueError, match="has 1 usable bin"):
        nodes.build_measured_curve(samples, table.assign(status=np.where(table["bin"] == 1, "ok", "skipped")), cfg)
    with pytest.raises(ValueError, match="bin 4: r0 of the samples differs"):
        nodes.build_measured_curve(samples, table.assign(r0=np.where(table["bin"] == 4, 11.5, table["r0"])), cfg)
    with pytest.raises(ValueError, match="unconverged_bins must be 'keep' or 'exclude'"):
        nodes.build_measured_curve(samples, table, cfg | {"unconverged_bins": "drop"})


def test_unconverged_bins_are_named_and_kept_or_left_out(upstream, params, caplog):
    samples, table = upstream
    table = table.assign(converged=table["bin"] != 2)
    cfg = params["halo_mass"]["curve"]
    with caplog.at_level(logging.WARNING, logger="milkyway_mass"):
        kept = nodes.build_measured_curve(samples, table, cfg | {"unconverged_bins": "keep"})
    assert "bin(s) [2] did not converge; their v_esc enter the fit" in caplog.text
    assert not kept.table.set_index("bin").loc[2, "converged"] and kept.table["converged"].sum() == len(kept.table) - 1
    left_out = nodes.build_measured_curve(samples, table, cfg | {"unconverged_bins": "exclude"})
    assert 2 not in set(left_out.table["bin"]) and len(left_out.table) == len(kept.table) - 1


def test_published_curve_from_the_shipped_table(published, params):
    curve = nodes.build_published_curve(published, params["halo_mass"]["curve"])
    assert curve.source == "published" and len(curve.table) == 12
    np.testing.assert_allclose(curve.table["vesc_err_plus"], published["err_plus_kms"])
    np.testing.assert_allclose(curve.table["vesc_err_minus"], published["err_minus_kms"])
    with pytest.raises(ValueError, match=r"published_curve lacks column\(s\) \['err_minus_kms'\]"):
        nodes.build_published_curve(published.drop(columns="err_minus_kms"), params["halo_mass"]["curve"])
    with pytest.raises(ValueError, match="has 1 usable bin"):
        nodes.build_published_curve(published.iloc[:1], params["halo_mass"]["curve"])


def test_calibrated_curve_uses_ok_bins_of_the_calibrated_table(params):
    table = pd.DataFrame(
        {
            "bin": [3, 1, 2],
            "r0": [15.0, 5.0, 10.0],
            "status": ["ok", "ok", "skipped: 3 stars"],
            "vesc_median": [450.0, 560.0, np.nan],
            "vesc_err_minus": [20.0, 25.0, np.nan],
            "vesc_err_plus": [30.0, 26.0, np.nan],
        }
    )
    curve = nodes.build_calibrated_curve(table, params["halo_mass"]["curve"])
    assert curve.table["r0"].tolist() == [5.0, 15.0]
    np.testing.assert_allclose(curve.table["vesc_err_plus"], [26.0, 30.0])
    with pytest.raises(ValueError, match=r"vesc_table_calibrated lacks column\(s\) \['vesc_err_plus'\]"):
        nodes.build_calibrated_curve(table.drop(columns="vesc_err_plus"), params["halo_mass"]["curve"])


def test_scale_curve(published, params):
    curve = nodes.build_published_curve(published, params["halo_mass"]["curve"])
    plus10 = nodes.scale_curve(curve, 1.1)
    np.testing.assert_allclose(plus10.table["vesc_median"], 1.1 * curve.table["vesc_median"])
    assert plus10.scale == pytest.approx(1.1) and curve.scale == 1.0
    with pytest.raises(ValueError, match="scale factor must be positive"):
        nodes.scale_curve(curve, 0.0)


@pytest.fixture(scope="module")
def fitted(upstream, params):
    """Fit, summary and report on the synthesized measured curve, fast `ci` sampler settings."""
    p, hm = params, params["halo_mass"]
    curve = nodes.build_measured_curve(*upstream, hm["curve"])
    chains, summaries = {}, {}
    for name, factor in hm["vesc_scale"].items():
        chains[name] = nodes.fit_halo_mass(
            nodes.scale_curve(curve, factor),
            hm["model"],
            hm["priors"],
            hm["sampler"],
            p["galaxy_frame"],
            p["cosmology"],
        )
        summaries[name] = nodes.summarise_fit(
            chains[name], hm["model"], hm["summary"], p["galaxy_frame"], p["cosmology"]
        )
    return (
        chains,
        summaries,
        reports.report_halo_mass(summaries["nominal"], summaries["corrected"], hm["published_masses"]),
    )


def test_fit_and_summary(fitted, params):
    chains, summaries, _ = fitted
    sampler = params["halo_mass"]["sampler"]
    assert chains["nominal"]["chain"].shape == (sampler["n_keep"], sampler["n_walkers"], 2)
    assert chains["corrected"]["vesc_scale"] == pytest.approx(1.1)
    s = summaries["nominal"]["estimates"]
    assert set(s) == set(reports.QUANTITIES)
    for e in s.values():
        assert e["lo"] <= e["median"] <= e["hi"]
        assert e["err_minus"] == pytest.approx(e["median"] - e["lo"])
    assert s["M_total_r200_msun"]["median"] == pytest.approx(
        s["M200_msun"]["median"] + s["M_baryon_r200_msun"]["median"], rel=1e-3
    )
    assert s["log10_M200"]["lo"] < TRUTH[0] + 0.1 and s["log10_M200"]["hi"] > TRUTH[0] - 0.1
    # Raising every v_esc by 10 % needs a heavier halo.
    assert summaries["corrected"]["estimates"]["M200_msun"]["median"] > 1.3 * s["M200_msun"]["median"]
    assert summaries["nominal"]["diagnostics"]["n_walkers"] == sampler["n_walkers"]


def test_summary_derives_from_the_sampled_parameters(fitted, params):
    """The shared ``derived_samples`` reproduces the chain's own log10 M200 and c200;
    a chain of other parameters or an unknown halo family is refused by name."""
    chains, summaries, _ = fitted
    p, hm = params, params["halo_mass"]
    flat = chains["nominal"]["chain"].reshape(-1, 2)
    s = summaries["nominal"]["estimates"]
    q_lo, q_hi = hm["summary"]["interval_percentiles"]
    for i, key in enumerate(("log10_M200", "c200")):
        lo, med, hi = np.percentile(flat[:, i], [q_lo, 50, q_hi])
        assert (s[key]["lo"], s[key]["median"], s[key]["hi"]) == pytest.approx((lo, med, hi), rel=1e-9)
    renamed = chains["nominal"] | {"parameter_names": ["log10_M200", "r_s_kpc"]}
    with pytest.raises(ValueError, match=r"chain samples \['log10_M200', 'r_s_kpc'\]"):
        nodes.summarise_fit(renamed, hm["model"], hm["summary"], p["galaxy_frame"], p["cosmology"])
    with pytest.raises(ValueError, match="unknown halo family 'burkert'"):
        nodes.summarise_fit(
            chains["nominal"],
            hm["model"] | {"halo_family": "burkert"},
            hm["summary"],
            p["galaxy_frame"],
            p["cosmology"],
        )


def test_report_and_comparison(fitted, params):
    _, summaries, (summary, markdown, comparison) = fitted
    published = params["halo_mass"]["published_masses"]
    assert list(comparison["study"][: len(published)]) == [m["study"] for m in published]
    assert len(comparison) == len(published) + 2
    ours = comparison.iloc[-2]
    assert ours["mass_1e12_msun"] == pytest.approx(
        summaries["nominal"]["estimates"]["M_total_r200_msun"]["median"] / 1e12
    )
    assert summary["variants"]["corrected"] is summaries["corrected"]
    assert "M_total(<r200)" in summary["definitions"]["M_total_r200_msun"]
    assert "| M_total(<r200) [1e12 Msun] |" in markdown and "Deason et al. 2019" in markdown
    assert markdown.count("\n| ") >= len(reports.QUANTITIES) + len(published) + 2


def test_figures(fitted, params):
    chains, _, _ = fitted
    hm = params["halo_mass"]
    corner = figures.plot_corner(chains["nominal"], hm["figures"])
    assert isinstance(corner, Figure) and sum(ax.get_frame_on() for ax in corner.axes) == 3  # lower triangle of 2 x 2
    fig = figures.plot_escape_velocity_curve(
        chains["nominal"], hm["model"], hm["figures"], params["galaxy_frame"], params["cosmology"]
    )
    ax = fig.axes[0]
    labels = ax.get_legend_handles_labels()[1]
    assert {"baryons only", "nfw halo only", "total model (max posterior)"} <= set(labels)
    assert len(ax.patches) == len(RADII)  # one 68 % box per bin


def test_analysis_a_takes_any_registered_halo_family(published, params):
    """Analysis A is the general halo fit with one family: Einasto with its own prior box
    gives a finite posterior inside the box, the NFW prior box is refused by name."""
    hm = params["halo_mass"]
    einasto = {"log10_rho0_msun_kpc3": [5.0, 8.0], "r_s_kpc": [5.0, 50.0], "n": [2.0, 8.0]}
    curve = nodes.build_published_curve(published, hm["curve"])
    model = hm["model"] | {"halo_family": "einasto"}
    post = nodes.halo_posterior(curve, model, einasto, params["galaxy_frame"], params["cosmology"])
    assert post.prior.names == ("log10_rho0_msun_kpc3", "r_s_kpc", "n")
    lp = post(np.array([[6.8, 20.0, 5.0], [9.0, 20.0, 5.0]]))
    assert np.isfinite(lp[0]) and lp[1] == -np.inf
    with pytest.raises(ValueError, match=r"missing \['log10_rho0_msun_kpc3', 'n', 'r_s_kpc'\]"):
        nodes.halo_posterior(curve, model, hm["priors"], params["galaxy_frame"], params["cosmology"])


def test_unconverged_fit_logs_a_warning_naming_it(upstream, params, caplog):
    """The `ci` sampler (300 steps) is far too short: the fit says so at WARNING level."""
    p, hm = params, params["halo_mass"]
    curve = nodes.build_measured_curve(*upstream, hm["curve"])
    short = hm["sampler"] | {"n_walkers": 8, "n_burn": 10, "n_keep": 20}
    with caplog.at_level(logging.WARNING, logger="milkyway_mass"):
        chain = nodes.fit_halo_mass(curve, hm["model"], hm["priors"], short, p["galaxy_frame"], p["cosmology"])
    assert not chain["diagnostics"]["converged"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(m.startswith("halo_mass fit (") and "chain not converged" in m for m in warnings), warnings


def test_the_radial_range_of_the_halo_fit_is_a_setting(upstream, params, published, caplog):
    samples, table = upstream
    cfg = params["halo_mass"]["curve"] | {"r_range_kpc": [RADII[1], RADII[-2]]}
    with caplog.at_level(logging.INFO, logger="milkyway_mass"):
        curve = nodes.build_measured_curve(samples, table, cfg)
    np.testing.assert_allclose(curve.r0, RADII[1:-1])
    assert "outside halo_mass.curve.r_range_kpc" in caplog.text
    inner = nodes.build_published_curve(published, params["halo_mass"]["curve"] | {"r_range_kpc": [0.0, 20.0]})
    assert inner.r0.max() <= 20.0 and len(inner.r0) == int((published["r_gc_kpc"] <= 20.0).sum())


def test_a_posterior_against_a_prior_edge_is_a_warning_and_in_the_summary_and_report(upstream, params, caplog):
    """The mock curve needs log10 M200 ~ 12; a prior ending at 11.3 truncates the posterior there."""
    p, hm = params, params["halo_mass"]
    curve = nodes.build_measured_curve(*upstream, hm["curve"])
    priors = hm["priors"] | {"log10_M200": [11.0, 11.3]}
    short = hm["sampler"] | {"n_walkers": 12, "n_burn": 60, "n_keep": 60}
    with caplog.at_level(logging.WARNING, logger="milkyway_mass"):
        chain = nodes.fit_halo_mass(curve, hm["model"], priors, short, p["galaxy_frame"], p["cosmology"])
    edge = chain["at_prior_edge"]
    assert edge[0] == "log10_M200"  # c200 may follow it to its upper bound
    assert "posterior piles up at the edge of its prior range: log10_M200 against its upper bound 11.3" in caplog.text
    summary = nodes.summarise_fit(chain, hm["model"], hm["summary"], p["galaxy_frame"], p["cosmology"])
    assert summary["at_prior_edge"] == edge
    _, report, _ = reports.report_halo_mass(summary, summary, hm["published_masses"])
    assert f"**Warning (nominal):** the posterior of {', '.join(edge)} piles up against the edge" in report
    assert f"| at prior edge | {', '.join(edge)} | {', '.join(edge)} |" in report
