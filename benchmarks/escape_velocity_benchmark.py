"""Benchmark of the `escape_velocity` tail likelihood and fits (plain script).

    python benchmarks/escape_velocity_benchmark.py [--likelihood published|convolved|df_consistent|df_power_exp|all]
        [--bins 12] [--walkers 50] [--burn 2000] [--keep 3000] [--workers 2] [--skip-fits]

1. Cost of one log-likelihood evaluation in ns per star per walker, for every
   likelihood (50 walkers; 50, 200 and 500 stars; best of several repeats).
2. Wall time of the full Analysis A fits as the pipeline runs them
   (``fit_escape_velocity``: both binnings, both k ranges, conf/base settings, i.e.
   50 walkers, 2000 burn-in, 3000 kept, polishing, process pool) on synthetic bins
   with the star counts of the published Table A1 (55–506 stars per bin), whose
   speeds carry Gaussian errors (so the published likelihood is expected high).
   ``--bins`` < 12 runs only the first bins of each binning (a subset).
"""

from __future__ import annotations

import argparse
import copy
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from milkyway_mass.galaxy.tail.likelihood import LIKELIHOODS, TailData, TailLikelihood
from milkyway_mass.pipelines.escape_velocity.nodes import (
    fit_escape_velocity,
    summarise_escape_velocity,
)

PROJECT = Path(__file__).resolve().parents[1]
#: Stars per bin of the published Bin-1 curve (Table A1).
PUBLISHED_COUNTS = (167, 420, 506, 335, 320, 212, 306, 191, 168, 141, 156, 55)
EDGES = {
    "bin1": [4, 6, 8, 10, 12, 14, 16, 20, 24, 28, 32, 40, 48],
    "bin2": [4.5, 6.5, 8.5, 10.5, 12.5, 14.5, 16.5, 20.5, 24.5, 28.5, 32.5, 40.5, 48.5],
}


def _vesc(r):
    return 600.0 * (np.asarray(r) / 5.0) ** -0.25


def synthetic_selection(n_bins: int, seed: int = 0):
    """Selection-like tables with the published Table A1 star counts.

    True speeds follow the power law (v_esc(r) − v)^2 down to v = 0, observed speeds
    add a Gaussian error σ_i ~ 30 km/s × U(0.5, 1.5) (≈ 8 % of v), stars are kept
    if v_obs ≥ v_min, and 2 % unbound outliers are uniform in [v_min, 700) km/s.
    """
    rng = np.random.default_rng(seed)
    stars, rows = {}, []
    for binning, edges in EDGES.items():
        parts = []
        for b in range(n_bins):
            lo, hi, n = edges[b], edges[b + 1], PUBLISHED_COUNTS[b]
            v_min = 300.0 if hi <= 12 else float(np.ceil(0.6 * _vesc(0.5 * (lo + hi)) / 10) * 10)
            r = rng.uniform(lo, hi, 40 * n)
            v_true = _vesc(r) * (1.0 - rng.uniform(size=r.size) ** (1 / 3))
            sigma = 30.0 * rng.uniform(0.5, 1.5, r.size)
            v = v_true + sigma * rng.standard_normal(r.size)
            keep = np.flatnonzero((v >= v_min) & (v < 700.0))[:n]
            if keep.size < n:
                raise RuntimeError(f"{binning} bin {b}: only {keep.size} of {n} synthetic stars above v_min")
            r, v, sigma = r[keep], v[keep], sigma[keep]
            out = rng.uniform(size=n) < 0.02
            v[out] = rng.uniform(v_min, 700.0, out.sum())
            parts.append(
                pd.DataFrame({"r_gc": r, "v_gc": v, "sigma_v_gc": sigma, "binning": binning, "bin": b, "v_min": v_min})
            )
            rows.append(
                {
                    "binning": binning,
                    "bin": b,
                    "r_lo": lo,
                    "r_hi": hi,
                    "v_min": v_min,
                    "r0": float(np.median(r)),
                    "n_stars": n,
                }
            )
        stars[binning] = pd.concat(parts, ignore_index=True)
    return stars["bin1"], stars["bin2"], pd.DataFrame(rows)


def say(message: str) -> None:
    print(message)  # noqa: T201


def likelihood_cost(kind: str, n_stars: int, n_walkers: int = 50, repeat: int = 7, number: int = 30) -> float:
    """Best time of one ln L evaluation per star per walker [ns]."""
    rng = np.random.default_rng(1)
    v = rng.uniform(300, 650, n_stars)
    data = TailData(v=v, r=rng.uniform(8, 12, n_stars), sigma=0.08 * v, v_min=np.full(n_stars, 300.0), r0=10.0)
    theta = np.column_stack(
        [
            rng.uniform(480, 600, n_walkers),
            rng.uniform(0.1, 3.7, n_walkers),
            rng.uniform(0, 1, n_walkers),
            rng.uniform(1e-6, 0.1, n_walkers),
            rng.uniform(-5, 15, n_walkers),
        ]
    )
    like = TailLikelihood(data, 1000.0, kind)
    theta = theta[:, : len(like.parameter_names)]
    like(theta)  # builds the tabulated special functions once
    best = np.inf
    for _ in range(repeat):
        t = time.perf_counter()
        for _ in range(number):
            like(theta)
        best = min(best, (time.perf_counter() - t) / number)
    return best / (n_stars * n_walkers) * 1e9


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--likelihood", choices=[*LIKELIHOODS, "all"], default="published")
    ap.add_argument("--bins", type=int, default=12, help="bins per binning to fit (12 = all)")
    ap.add_argument("--walkers", type=int, default=None)
    ap.add_argument("--burn", type=int, default=None)
    ap.add_argument("--keep", type=int, default=None)
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--skip-fits", action="store_true")
    args = ap.parse_args()

    say("ln L cost per star per walker (50 walkers):")
    for kind in LIKELIHOODS:
        costs = {n: likelihood_cost(kind, n) for n in (50, 200, 500)}
        say(f"  {kind:13s} " + "  ".join(f"N={n}: {c:6.1f} ns" for n, c in costs.items()))
    if args.skip_fits:
        return

    base = yaml.safe_load((PROJECT / "conf/base/parameters_escape_velocity.yml").read_text())["escape_velocity"]
    s1, s2, bins = synthetic_selection(args.bins)
    kinds = list(LIKELIHOODS) if args.likelihood == "all" else [args.likelihood]
    for kind in kinds:
        params = copy.deepcopy(base)
        params["likelihood"] = kind
        for key, value in (("n_walkers", args.walkers), ("n_burn", args.burn), ("n_keep", args.keep)):
            if value is not None:
                params["sampler"][key] = value
        if args.workers is not None:
            params["n_workers"] = args.workers
        smp = params["sampler"]
        n_fits = 2 * args.bins * len(params["priors"]["k_ranges"])
        say(
            f"\n{kind}: {n_fits} fits ({args.bins} bins x 2 binnings x {len(params['priors']['k_ranges'])} k ranges, "
            f"{len(s1) + len(s2)} stars), {smp['n_walkers']} walkers x ({smp['n_burn']} + {smp['n_keep']}) steps, "
            f"{params['n_workers']} workers"
        )
        t = time.perf_counter()
        c1, c2 = fit_escape_velocity(s1, s2, bins, params)
        wall = time.perf_counter() - t
        cpu = sum(f["runtime_s"] for c in (c1, c2) for f in c["fits"].values())
        say(f"  wall time {wall:.1f} s; sum of per-fit times {cpu:.1f} s")
        for chains in (c1, c2):
            _, table = summarise_escape_velocity(chains, params)
            truth = _vesc(table["r0"])
            say(
                f"  {chains['binning']}: median v_esc/truth {np.median(table['vesc_median'] / truth):.3f}, "
                f"converged {int(table['converged'].sum())}/{len(table)}, max tau {table['tau'].max():.0f}, "
                f"acceptance {table['acceptance_fraction'].min():.2f}-{table['acceptance_fraction'].max():.2f}"
            )


if __name__ == "__main__":
    main()
