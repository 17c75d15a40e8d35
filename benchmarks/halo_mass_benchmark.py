"""Benchmark of the halo_mass likelihood and fit (plain script).

    python benchmarks/halo_mass_benchmark.py

Reports the cost of one log-posterior evaluation per walker (split-normal
published curve and KDE measured curve, 12 bins, both terms of §5), the KDE
build time, and the wall time of the default fit (100 walkers, 2000 burn-in,
3000 kept) on the published Bin-1 curve, plus its summary and figures.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
from timing import best_of

from milkyway_mass.config import load_parameters
from milkyway_mass.pipelines.halo_mass import figures, nodes

PROJECT = Path(__file__).resolve().parents[1]


def main() -> None:
    params = load_parameters(PROJECT)
    hm, frame, cosmo = params["halo_mass"], params["galaxy_frame"], params["cosmology"]
    published = nodes.build_published_curve(
        pd.read_csv(PROJECT / "data/01_raw/published/published_vesc_bin1.csv"), hm["curve"]
    )
    rng = np.random.default_rng(0)
    n_samples = 150_000  # 50 walkers x 3000 kept steps per bin, as escape_velocity writes
    samples = pd.concat(
        pd.DataFrame({"bin": b, "r0": r, "v_esc": rng.normal(v, 15.0, n_samples)})
        for b, r, v in zip(published.table["bin"], published.r0, published.table["vesc_median"])
    )
    table = pd.DataFrame({"bin": published.table["bin"], "r0": published.r0, "status": "ok"})
    t = time.perf_counter()
    measured = nodes.build_measured_curve(samples, table, hm["curve"])
    print(f"KDE build, 12 bins x {n_samples} samples: {time.perf_counter() - t:.2f} s")  # noqa: T201

    for label, curve in (("published (split-normal)", published), ("measured (KDE)", measured)):
        posterior = nodes.halo_posterior(curve, hm["model"], hm["priors"], frame, cosmo)
        for n_walkers in (50, 100):
            theta = posterior.prior.sample(rng, n_walkers)
            per_call = best_of(lambda: posterior(theta))
            print(  # noqa: T201
                f"log posterior, {label}, {n_walkers} walkers: {per_call * 1e6:.0f} us per call, "
                f"{per_call / n_walkers * 1e6:.2f} us per walker"
            )

    sampler = {**hm["sampler"], "progress": False}
    t = time.perf_counter()
    chain = nodes.fit_halo_mass(published, hm["model"], hm["priors"], sampler, frame, cosmo)
    t_fit = time.perf_counter() - t
    t = time.perf_counter()
    summary = nodes.summarise_fit(chain, hm["model"], hm["summary"], frame, cosmo)
    figures.plot_corner(chain, hm["figures"])
    figures.plot_escape_velocity_curve(chain, hm["model"], hm["figures"], frame, cosmo)
    t_post = time.perf_counter() - t
    s = sampler
    print(  # noqa: T201
        f"default fit on the published curve ({s['n_walkers']} walkers, {s['n_burn']} + {s['n_keep']} steps): "
        f"{t_fit:.1f} s; summary + figures {t_post:.1f} s"
    )
    e = summary["estimates"]
    print(  # noqa: T201
        f"  log10 M200 = {e['log10_M200']['median']:.3f} +{e['log10_M200']['err_plus']:.3f} -{e['log10_M200']['err_minus']:.3f}, "
        f"c200 = {e['c200']['median']:.2f}, acceptance {summary['diagnostics']['acceptance_mean']:.2f}, "
        f"max tau {max(summary['diagnostics']['autocorr_time'].values()):.1f}"
    )


if __name__ == "__main__":
    main()
