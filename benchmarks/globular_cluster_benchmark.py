"""Benchmark of the globular-cluster likelihood (plain script).

    python benchmarks/globular_cluster_benchmark.py

One call of the globular-cluster term for the 155 published clusters × 100 draws
(the configured draws), for 1 walker and for 40 walkers in one vectorised call, with
the Zhao halo + McMillan (2017)-type baryons of the published fits; and its parts:
the monopole table, the spherical actions and the DF normalisation. Prints wall time
per call and per walker [ms] on one core (the issue's target: <= 50 ms per walker).
Then the Stäckel re-weighting's cost per posterior sample (galpy potential, Stäckel
actions, whole likelihood) and what the configured ``staeckel.n_samples`` cost per fit
on ``staeckel.n_workers`` processes.
"""

from __future__ import annotations

import numpy as np
from analysis_b_fit_benchmark import PROJECT, read_globular_clusters
from kedro.config import OmegaConfigLoader
from timing import best_of

from milkyway_mass.galaxy.dynamics.actions import spherical_actions
from milkyway_mass.galaxy.globular_clusters.likelihood import DF_PARAMETERS, GlobularClusterTerm
from milkyway_mass.galaxy.globular_clusters.staeckel import model_potential, staeckel_actions, staeckel_log_likelihood
from milkyway_mass.galaxy.potentials.monopole import MonopoleTable
from milkyway_mass.pipelines.halo_mass import combined_nodes, nodes


def main() -> None:
    loader = OmegaConfigLoader(str(PROJECT / "conf"), base_env="base", default_run_env="base")
    p = loader["parameters"]
    b = p["halo_mass"]["analysis_b"]
    shared = PROJECT / loader["globals"]["shared_data_dir"]
    draws, _ = combined_nodes.build_globular_cluster_constraint(
        read_globular_clusters(shared), b["globular_clusters"], p["galaxy_frame"]
    )
    model = nodes.mass_model(
        "zhao", "mcmillan17", p["halo_mass"]["model"], b["baryon_models"], p["cosmology"], DF_PARAMETERS
    )
    start = b["halos"]["zhao"]["start"] | {n: v["mean"] for n, v in b["baryon_models"]["mcmillan17"]["priors"].items()}
    start |= b["globular_clusters"]["start"]
    centre = np.array([start[n] for n in model.parameter_names])
    term = GlobularClusterTerm(draws, b["globular_clusters"]["rotation_scale"])
    rng = np.random.default_rng(1)
    print(f"{draws.n_clusters} clusters x {draws.n_draws} draws")  # noqa: T201
    print(f"{'walkers':>7s} {'part':<22s} {'ms / call':>10s} {'ms / walker':>12s}")  # noqa: T201
    for walkers in (1, 40):
        theta = centre * (1.0 + 0.01 * rng.standard_normal((walkers, centre.size)))
        galaxy = model.build(theta)
        table = MonopoleTable.from_components(galaxy.components)
        d = draws
        parts = {
            "monopole table": lambda: MonopoleTable.from_components(galaxy.components),  # noqa: B023
            "spherical actions": lambda: spherical_actions(
                table, d.r.ravel(), d.v2.ravel(), d.L.ravel(), d.L_z.ravel()
            ),  # noqa: B023
            "DF normalisation": lambda: term.distribution(galaxy).log_normalisation(),  # noqa: B023
            "whole term": lambda: term.log_likelihood(galaxy),  # noqa: B023
        }
        for name, fn in parts.items():
            seconds = best_of(fn, repeat=3, number=1 if walkers > 1 else 3)
            print(f"{walkers:7d} {name:<22s} {seconds * 1e3:10.1f} {seconds * 1e3 / walkers:12.1f}")  # noqa: T201
    galaxy = model.build(centre[None, :])
    pot = model_potential(model, centre)
    stages = {
        "galpy potential": lambda: model_potential(model, centre),
        "Staeckel actions": lambda: staeckel_actions(draws, pot),
        "whole likelihood": lambda: staeckel_log_likelihood(term, galaxy, model_potential(model, centre)),
    }
    print(f"Staeckel re-weighting, one posterior sample (McMillan stand-ins): {'part':<18s} {'s':>6s}")  # noqa: T201
    for name, fn in stages.items():
        seconds = best_of(fn, repeat=2, number=1)
        print(f"{'':66s}{name:<18s} {seconds:6.2f}")  # noqa: T201
    cfg = b["globular_clusters"]["staeckel"]
    minutes = seconds * int(cfg["n_samples"]) / int(cfg["n_workers"]) / 60
    print(  # noqa: T201
        f"{cfg['n_samples']} samples on {cfg['n_workers']} processes: ~{minutes:.0f} min per fit (if the cores are free)"
    )


if __name__ == "__main__":
    main()
