"""Benchmark of the Analysis B posterior (plain script).

    python benchmarks/analysis_b_fit_benchmark.py [env]

For every fit of the grid in the Kedro environment ``env`` (default ``base``):
the time of one vectorised posterior call for half the walkers (emcee's stretch
move evaluates two halves per step), the resulting seconds per 1000 steps and the
estimated sampling time of the configured steps. Data: the published v_esc curve,
rotation curve, K_z table and globular clusters (../shared/data); the first three have
the same sizes as the mock's. ``published_gc`` times the globular-cluster fits.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
from kedro.config import OmegaConfigLoader
from timing import best_of

from milkyway_mass.galaxy.constraints.terms import ConstraintData
from milkyway_mass.galaxy.fitting import initial_ball
from milkyway_mass.galaxy.globular_clusters.catalogue import read_table
from milkyway_mass.pipelines.halo_mass import combined_nodes, nodes

PROJECT = Path(__file__).resolve().parents[1]


def read_globular_clusters(shared: Path) -> pd.DataFrame:
    """The Vasiliev & Baumgardt (2021) table as the catalog entry ``gc_vasiliev_baumgardt2021`` reads it."""
    return read_table(shared / "gc_vasiliev_baumgardt2021/gc_mean_params_edr3_VB2021.txt")


def main(env: str = "base") -> None:
    loader = OmegaConfigLoader(
        str(PROJECT / "conf"), base_env="base", default_run_env=env, merge_strategy={"parameters": "soft"}
    )
    p = loader["parameters"]
    hm, b = p["halo_mass"], p["halo_mass"]["analysis_b"]
    shared = PROJECT / loader["globals"]["shared_data_dir"]
    curve = nodes.build_published_curve(
        pd.read_csv(PROJECT / "data/01_raw/published/published_vesc_bin1.csv"), hm["curve"]
    )
    rc = combined_nodes.build_rotation_curve_constraint(
        pd.read_csv(shared / "mw_rotcurve_eilers2019/Eilers2019-circ-velocity.txt", sep=r"\s+"), b["rotation_curve"]
    )
    kz = combined_nodes.build_vertical_force_constraint(
        pd.read_csv(shared / "kz_bovy_rix2013/bovyrix13kzdata.csv", header=None), b["vertical_force"]
    )
    frame = p["galaxy_frame"]
    clusters, _ = combined_nodes.build_globular_cluster_constraint(
        read_globular_clusters(shared), b["globular_clusters"], frame
    )
    data = ConstraintData(
        curve,
        frame["R0_kpc"],
        frame["vc_R0_kms"],
        frame["vc_R0_err_kms"],
        rc,
        kz,
        clusters,
        b["globular_clusters"]["rotation_scale"],
    )
    total = 0.0
    print(f"{'fit':<28s} {'ms / call':>10s} {'s / 1000 steps':>15s} {'steps':>6s} {'est. s':>7s}")  # noqa: T201
    for spec in combined_nodes.fit_specs(b):
        post, settings, start = combined_nodes.grid_fit_setup(spec, data, hm["model"], b, p["cosmology"])
        prior = post.prior
        theta = initial_ball(
            start, post, int(settings["n_walkers"]) // 2, 0.01 * (prior.upper - prior.lower), np.random.default_rng(1)
        )
        seconds = best_of(lambda: post(theta), repeat=3, number=10)  # noqa: B023
        estimate = 2 * seconds * settings["n_steps"]
        total += estimate
        print(  # noqa: T201
            f"{spec.name:<28s} {seconds * 1e3:10.2f} {2 * seconds * 1e3:15.1f} {settings['n_steps']:6d} {estimate:7.0f}"
        )
    print(f"estimated sampling time of the grid (without the optimizer): {total / 60:.1f} min")  # noqa: T201


if __name__ == "__main__":
    main(*sys.argv[1:])
