"""Wall time and peak memory of the `kinematics` node at survey scale.

Usage: ``python benchmarks/kinematics_benchmark.py [--stars 650000] [--draws 100] [--chunk 20000]``.
Builds a synthetic ``stars_6d`` table (isotropic sky, 0.1–60 kpc, realistic errors),
runs ``compute_galactocentric`` with Monte Carlo errors and prints the wall time and
the peak resident memory of the process (target: < 3 GB for 650k stars × 100 draws).
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import pandas as pd

from milkyway_mass.pipelines.kinematics.nodes import compute_galactocentric
from milkyway_mass.schemas import STARS_6D_COLUMNS

FRAME = {"R0_kpc": 8.122, "z0_kpc": 0.0208, "v_sun_peculiar_kms": [11.1, 12.24, 7.25], "vc_R0_kms": 234.04}


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far [MB] (Linux reports ru_maxrss in kB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def synthetic_stars(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    dist = 10 ** rng.uniform(-1, np.log10(60), n)
    stars = pd.DataFrame(
        {
            "obsid": np.arange(n, dtype=np.int64),
            "source_id": np.arange(n, dtype=np.int64),
            "ra": rng.uniform(0, 360, n),
            "dec": np.rad2deg(np.arcsin(rng.uniform(-0.2, 1, n))),
            "dist": dist,
            "dist_err": dist * rng.uniform(0.05, 0.3, n),
            "rv": rng.normal(0, 100, n),
            "rv_err": rng.uniform(2, 10, n),
            "pmra": rng.normal(0, 5, n),
            "pmdec": rng.normal(0, 5, n),
            "pmra_error": rng.uniform(0.01, 0.1, n),
            "pmdec_error": rng.uniform(0.01, 0.1, n),
            "pmra_pmdec_corr": rng.uniform(-0.5, 0.5, n),
            "parallax": 1 / dist,
            "parallax_error": rng.uniform(0.01, 0.1, n),
            "ruwe": rng.uniform(0.9, 1.3, n),
            "feh": rng.normal(-0.4, 0.5, n),
            "teff": rng.uniform(4000, 5300, n),
            "logg": rng.uniform(1, 3.5, n),
        }
    )
    return stars[list(STARS_6D_COLUMNS)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stars", type=int, default=650_000)
    parser.add_argument("--draws", type=int, default=100)
    parser.add_argument("--chunk", type=int, default=20_000)
    args = parser.parse_args()
    stars = synthetic_stars(args.stars)
    rss_input = peak_rss_mb()
    start = time.perf_counter()
    out = compute_galactocentric(
        stars, FRAME, {"mc_draws": args.draws, "seed": 1, "chunk_size": args.chunk, "progress": True}
    )
    wall = time.perf_counter() - start
    print(f"stars: {len(out)}  draws: {args.draws}  chunk: {args.chunk}")  # noqa: T201
    print(f"wall time: {wall:.1f} s  ({wall / len(out) * 1e6:.1f} us per star)")  # noqa: T201
    print(f"peak RSS: {peak_rss_mb():.0f} MB (after building the input table: {rss_input:.0f} MB)")  # noqa: T201
    print(f"median sigma_vGC: {out['sigma_v_gc'].median():.1f} km/s")  # noqa: T201


if __name__ == "__main__":
    main()
