"""The globular-cluster fits of Analysis B at CI size: the catalogue node (155 clusters on the
published file) and a short fit of the first 40 catalogue rows x 20 draws through the grid's nodes:
summary, Stäckel re-weighting, enclosed-mass curves and figure."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from milkyway_mass.galaxy.globular_clusters.likelihood import DF_PARAMETERS
from milkyway_mass.pipelines.halo_mass import combined_nodes, figures, nodes
from tests.conftest import load_params
from tests.galaxy.globular_clusters.test_catalogue import CATALOGUE, read_catalogue

needs_data = pytest.mark.skipif(not CATALOGUE.is_file(), reason="../shared/data not available")


@pytest.fixture(scope="module")
def params():
    return load_params("ci")


@needs_data
def test_catalogue_node_selects_and_draws(params):
    cfg = params["halo_mass"]["analysis_b"]["globular_clusters"]
    draws, selection = combined_nodes.build_globular_cluster_constraint(read_catalogue(), cfg, params["galaxy_frame"])
    assert selection["kept"] == 155 == draws.n_clusters and selection["sagittarius"] == 6
    assert draws.n_draws == cfg["n_draws"] and selection["distance_errors"] == "0.1 mag in distance modulus"
    json.dumps(selection)
    again, _ = combined_nodes.build_globular_cluster_constraint(read_catalogue(), cfg, params["galaxy_frame"])
    np.testing.assert_array_equal(again.r, draws.r)


@needs_data
def test_short_globular_cluster_fit_through_the_grid_nodes(params):
    hm = params["halo_mass"]
    analysis_b = hm["analysis_b"] | {
        "grid": {"families": ["nfw"], "baryons": ["fixed"], "constraint_sets": ["gc"]},
        "extra_fits": [],
        "sampler": hm["analysis_b"]["sampler"] | {"n_walkers": 24, "n_steps": 16},
        "optimizer": {"maxfev": 150, "xatol": 1e-3, "fatol": 1e-2, "adaptive": True, "restarts": 0},
    }
    gc = analysis_b["globular_clusters"] | {"n_draws": 20}
    draws, _ = combined_nodes.build_globular_cluster_constraint(read_catalogue().iloc[:40], gc, params["galaxy_frame"])
    curve = nodes.build_published_curve(
        pd.DataFrame(
            {"r_gc_kpc": [8.0, 20.0], "vesc_kms": [520.0, 430.0], "err_plus_kms": 20.0, "err_minus_kms": 20.0}
        ),
        hm["curve"],
    )
    chains = combined_nodes.fit_analysis_b(
        curve, None, None, hm["model"], analysis_b, params["galaxy_frame"], params["cosmology"], "ci", draws
    )
    fit = chains["fits"]["nfw.fixed.gc"]
    assert fit["parameter_names"] == ["log10_M200", "c200", *DF_PARAMETERS]
    assert fit["chain"].shape == (8, 24, 11) and np.isfinite(fit["log_prob"]).all()
    assert fit["goodness"]["globular_clusters"]["n_points"] == draws.n_clusters
    summary, table, _ = combined_nodes.summarise_analysis_b(
        chains, hm["model"], analysis_b, params["galaxy_frame"], params["cosmology"]
    )
    estimates = summary["fits"]["nfw.fixed.gc"]["estimates"]
    assert {"M200_msun", "gc_slope_out", "gc_rotation"} <= set(estimates)
    assert 1e11 < estimates["M_total_r200_msun"]["median"] < 1e13
    assert table.loc[0, "fit"] == "nfw.fixed.gc"
    # an effective sample size below 101 % of the samples (always) starts the Stäckel MCMC
    staeckel = analysis_b["globular_clusters"]["staeckel"] | {"n_samples": 24, "n_workers": 1}
    staeckel |= {"min_ess_fraction": 1.01, "mcmc_steps": 2}
    gc_cfg = analysis_b["globular_clusters"] | {"staeckel": staeckel}
    frame, cosmology = params["galaxy_frame"], params["cosmology"]
    reweighted, md = combined_nodes.reweight_globular_cluster_fits(
        chains, curve, None, None, draws, hm["model"], analysis_b | {"globular_clusters": gc_cfg}, frame, cosmology
    )
    fit = reweighted["fits"]["nfw.fixed.gc"]
    assert fit["n_samples"] == 24 and 1.0 <= fit["effective_sample_size"] <= 24.0
    assert fit["log_l_difference"]["n_non_finite"] == 0 and fit["failed_fraction"]["max"] < 0.01
    mcmc = fit["staeckel_mcmc"]
    assert mcmc["n_steps"] == 2 and mcmc["diagnostics"]["n_walkers"] == 24 and mcmc["diagnostics"]["n_steps_kept"] == 1
    for e in (fit["estimates_spherical"], fit["estimates_staeckel"], mcmc["estimates"]):
        assert (
            e["M_enclosed_50kpc_msun"]["lo"] <= e["M_enclosed_50kpc_msun"]["median"] <= e["M_enclosed_50kpc_msun"]["hi"]
        )
    assert "## nfw.fixed.gc" in md and "Effective sample size" in md and "Stäckel actions (MCMC)" in md
    json.dumps(reweighted)
    empty, md = combined_nodes.reweight_globular_cluster_fits(
        {"data_label": "ci", "fits": {}}, curve, None, None, draws, hm["model"], analysis_b, frame, cosmology
    )
    assert empty["fits"] == {} and "No fit uses the globular clusters" in md
    curves = combined_nodes.predict_analysis_b_curves(
        chains, pd.DataFrame({"z_kpc": [1.1]}), hm["model"], analysis_b, params["cosmology"]
    )
    mass = curves[(curves["quantity"] == "M_enclosed_msun") & (curves["component"] == "total")]
    assert len(mass) == analysis_b["figures"]["n_radii"] and (np.diff(mass["median"]) > 0).all()
    fig = figures.plot_enclosed_mass_analysis_b(curves, reweighted, summary, analysis_b)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and len(ax.containers) == 1 and len(ax.containers[0].lines[0].get_xdata()) == 3
