"""One DF for all radii: a joint fit of the escape-velocity curve with a shared edge shape (a study, not yet an estimator).

Fitted bin by bin, a flexible DF shape is prior-dominated at a bin's star count
(README, "A more flexible DF shape, bin by bin"). But an isotropic halo has one
f(E) at all radii, so the shape can be fitted to every bin at once:

    p(v | r) ∝ v² (v_esc(r)² − v²)^k exp(β1 ε̃ + … + βP ε̃^P),  ε̃ = (v_esc(r)² − v²)/v_ref²  on [v_min, v_esc(r)),

with (k, β1 … βP) shared by all bins of Bin 1 (P = ``--shape-terms``, default 2),
one free node v_esc(r0_j) per bin,
the in-bin slope γ_j = −2 d ln v_esc / d ln r from the neighbouring nodes
(centred differences in ln r0, one-sided at the ends), and one outlier fraction
(the outlier Gaussian of ``escape_velocity``). Priors: ln v_esc(r0_j) uniform
with v_min,j < v_esc < 1000 km/s, k ∈ [0, 6], every β ∈ [−30, 30], ln f ∈ [ln 1e-6, 0].

Each realisation draws ``--stars`` noise-free stars per bin (radii uniform in
ln r within the bin, speeds v ≥ v_min from p(v | r) ∝ v² f(E)) from a DF of the
calibration (reference potential and DFs of ``conf/base/parameters_calibration.yml``),
fits them with emcee, and scores each bin's v_esc(r0_j) posterior against the
truth: bias, 68 % and 95 % coverage, pull, and the chain's autocorrelation time.

Run from the project root (about 2 min per fit on one core):

    python notebooks/vesc_shared_shape.py [--dfs steep_sharp ...] [--realisations 4] [--stars 200]
        [--shape-terms 2] [--walkers 48] [--burn 1500] [--keep 2500] [--workers 2]

It writes ``fits.csv`` and ``summary.md`` to a new timestamped folder under
``data/08_reporting/vesc_shared_shape/``. Units: km/s, kpc.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import emcee
import numpy as np
import pandas as pd

from milkyway_mass.config import load_parameters
from milkyway_mass.galaxy.mock import TruthGalaxy
from milkyway_mass.galaxy.tail.calibration import energy_df, sample_speeds
from milkyway_mass.galaxy.tail.coverage import score_posterior
from milkyway_mass.galaxy.tail.fit import task_seed
from milkyway_mass.galaxy.tail.likelihood import (
    log_bound_df_power_exp,
    log_outlier_density,
)
from milkyway_mass.galaxy.tail.special import (
    chebyshev_interpolation_matrix,
    log_power_exp_integral,
)
from milkyway_mass.pipelines.selection.nodes import build_radial_bin_limits

PROJECT = Path(__file__).resolve().parents[1]
V_REF = 500.0  # km/s: energy unit of the shape, ε̃ = 2ε / v_ref²
K_RANGE = (0.0, 6.0)
BETA_RANGE = (-30.0, 30.0)
LN_F_RANGE = (np.log(1e-6), 0.0)
VESC_MAX = 1000.0
N_NODES = 9  # Chebyshev nodes in ln(r/r0) per bin for the normalisation


class SharedShapePosterior:
    """ln posterior of θ = (ln v_esc(r0_1) … ln v_esc(r0_J), k, β1 … βP, ln f), shape (W, J + P + 2) → (W,).

    ``bins``: list of dicts with arrays v, r [km/s, kpc] and scalars v_min, r0;
    ``n_terms``: P, the number of powers of ε̃ in ln f.
    """

    def __init__(self, bins: list[dict], sigma_out: float, n_terms: int = 2):
        self.bins = bins
        self.n_terms = n_terms
        self.n_params = len(bins) + n_terms + 2
        self.n_bins = len(bins)
        self.log_r0 = np.log([b["r0"] for b in bins])
        self.v_min = np.array([b["v_min"] for b in bins])
        self.log_r = [np.log(b["r"] / b["r0"]) for b in bins]
        self.interp = [chebyshev_interpolation_matrix(lr, N_NODES) for lr in self.log_r]
        self.log_out = [log_outlier_density(b["v"], 0.0, b["v_min"], sigma_out) for b in bins]

    def in_prior(self, theta: np.ndarray) -> np.ndarray:
        j, p = self.n_bins, self.n_terms
        vesc = np.exp(theta[:, :j])
        beta = theta[:, j + 1 : j + 1 + p]
        return (
            np.all((vesc > self.v_min) & (vesc < VESC_MAX), axis=1)
            & (theta[:, j] >= K_RANGE[0])
            & (theta[:, j] <= K_RANGE[1])
            & np.all((beta >= BETA_RANGE[0]) & (beta <= BETA_RANGE[1]), axis=1)
            & (theta[:, -1] >= LN_F_RANGE[0])
            & (theta[:, -1] <= LN_F_RANGE[1])
        )

    def __call__(self, theta):
        theta = np.atleast_2d(theta)
        out = np.full(theta.shape[0], -np.inf)
        ok = self.in_prior(theta)
        if ok.any():
            with np.errstate(over="ignore", invalid="ignore"):
                ln_l = self.log_likelihood(theta[ok])
            out[ok] = np.where(np.isfinite(ln_l), ln_l, -np.inf)  # exp overflow far out in the box
        return out

    def log_likelihood(self, theta: np.ndarray) -> np.ndarray:
        j, p = self.n_bins, self.n_terms
        log_vesc0, k = theta[:, :j], theta[:, j]
        beta = [theta[:, j + 1 + m : j + 2 + m] for m in range(p)]
        f = np.exp(theta[:, -1:])
        gamma = -2.0 * np.gradient(log_vesc0, self.log_r0, axis=1)
        total = np.zeros(theta.shape[0])
        for i, b in enumerate(self.bins):
            nodes, matrix = self.interp[i]
            vesc_nodes = np.exp(log_vesc0[:, i : i + 1] - 0.5 * gamma[:, i : i + 1] * nodes[None, :])
            u_nodes = np.square(vesc_nodes / V_REF)
            y_nodes = np.clip(1.0 - np.square(b["v_min"] / vesc_nodes), 0.0, 1.0)
            log_h = (
                log_power_exp_integral(k, y_nodes, [b_m * u_nodes ** (m + 1) for m, b_m in enumerate(beta)]) @ matrix.T
            )
            vesc = np.exp(log_vesc0[:, i : i + 1] - 0.5 * gamma[:, i : i + 1] * self.log_r[i][None, :])
            u = np.square(vesc / V_REF)
            log_bound = log_bound_df_power_exp(
                b["v"][None, :], vesc, k, [b_m * u ** (m + 1) for m, b_m in enumerate(beta)], b["v_min"], log_h
            )
            with np.errstate(divide="ignore"):
                total += np.logaddexp(np.log1p(-f) + log_bound, np.log(f) + self.log_out[i][None, :]).sum(axis=1)
        return total


def draw_bins(galaxy: TruthGalaxy, f, limits: pd.DataFrame, n_stars: int, rng: np.random.Generator) -> list[dict]:
    """One noise-free realisation: ``n_stars`` per bin, radii uniform in ln r, speeds v ≥ v_min."""
    bins = []
    for _, row in limits.iterrows():
        r = np.exp(rng.uniform(np.log(row["r_lo"]), np.log(row["r_hi"]), n_stars))
        v = sample_speeds(galaxy, f, r, float(row["v_min"]), rng)
        r0 = float(np.median(r))
        bins.append(
            {
                "bin": int(row["bin"]),
                "r": r,
                "v": v,
                "v_min": float(row["v_min"]),
                "r0": r0,
                "vesc_true": float(galaxy.vesc(r0)[0]),
            }
        )
    return bins


def fit_realisation(job: dict) -> list[dict]:
    """Draw and fit one realisation; one row per bin."""
    t0 = time.perf_counter()
    rng = np.random.default_rng(job["seed"])
    bins = draw_bins(
        job["galaxy"], energy_df(job["variant"], job["galaxy"], job["tracer"]), job["limits"], job["stars"], rng
    )
    post = SharedShapePosterior(bins, job["sigma_out"], job["shape_terms"])
    n, p = post.n_bins, post.n_terms
    v_top = np.array([b["v"].max() for b in bins])
    start = np.concatenate([np.log(1.08 * v_top), [1.0, 3.0], np.zeros(p - 1), [np.log(1e-3)]])
    widths = np.concatenate([np.full(n, 0.01), [0.1, 0.3], np.full(p - 1, 0.1), [0.1]])
    p0 = start + widths * rng.standard_normal((job["walkers"], post.n_params))
    p0[:, n] = np.clip(p0[:, n], K_RANGE[0] + 1e-3, K_RANGE[1])
    sampler = emcee.EnsembleSampler(job["walkers"], post.n_params, post, vectorize=True)
    sampler.random_state = np.random.RandomState(job["seed"] % 2**32).get_state()
    sampler.run_mcmc(p0, job["burn"] + job["keep"])
    chain = sampler.get_chain(discard=job["burn"])
    tau = float(np.max(emcee.autocorr.integrated_time(chain, tol=0, quiet=True)))
    flat = chain.reshape(-1, post.n_params)
    rows = []
    for i, b in enumerate(bins):
        score = score_posterior(np.exp(flat[:, i]), b["vesc_true"])
        rows.append(
            {
                "df": job["df"],
                "realisation": job["realisation"],
                "bin": b["bin"],
                "r0_kpc": b["r0"],
                "n_stars": b["v"].size,
                **score,
                "bias": score["vesc_median"] / b["vesc_true"] - 1.0,
                "k_median": float(np.median(flat[:, n])),
                **{f"beta{m + 1}_median": float(np.median(flat[:, n + 1 + m])) for m in range(p)},
                "tau_max": tau,
                "chain_over_tau": job["keep"] / tau,
                "runtime_s": time.perf_counter() - t0,
            }
        )
    return rows


def summarise(table: pd.DataFrame) -> pd.DataFrame:
    """Per DF: mean bias, rms error, 68/95 % coverage, max |pull|, median k, chain length in units of τ."""
    t = table.assign(
        in_68=(table["vesc_p16"] <= table["vesc_true"]) & (table["vesc_true"] <= table["vesc_p84"]),
        in_95=(table["vesc_p2.5"] <= table["vesc_true"]) & (table["vesc_true"] <= table["vesc_p97.5"]),
    )
    return t.groupby("df", sort=False).agg(
        fits=("bias", "size"),
        mean_bias=("bias", "mean"),
        rms_error=("bias", lambda e: float(np.sqrt(np.mean(e**2)))),
        coverage_68=("in_68", "mean"),
        coverage_95=("in_95", "mean"),
        max_abs_pull=("pull", lambda p: float(np.abs(p).max())),
        k_median=("k_median", "median"),
        chain_over_tau=("chain_over_tau", "min"),
    )


def main(argv=None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--dfs", nargs="*", default=None, help="DF names (default: the calibration family and its held-out DFs)"
    )
    parser.add_argument("--realisations", type=int, default=4)
    parser.add_argument("--stars", type=int, default=200, help="stars per bin")
    parser.add_argument("--shape-terms", type=int, default=2, help="powers of the energy in ln f besides k ln(energy)")
    parser.add_argument("--bins", type=int, nargs="*", default=None, help="Bin-1 bin numbers, 0-11 (default: all)")
    parser.add_argument("--walkers", type=int, default=48)
    parser.add_argument("--burn", type=int, default=1500)
    parser.add_argument("--keep", type=int, default=2500)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--out", type=Path, default=PROJECT / "data" / "08_reporting" / "vesc_shared_shape")
    args = parser.parse_args(argv)

    params = load_parameters(PROJECT)
    cal, sel = params["calibration"], params["selection"]
    galaxy = TruthGalaxy.from_config(cal["potential"], params["cosmology"], params["galaxy_frame"])
    limits = build_radial_bin_limits(
        sel["binnings"], sel["v_min"], sel["reference_curves"], params["galaxy_frame"], params["cosmology"]
    )["bin1"]
    if args.bins is not None:
        limits = limits[limits["bin"].isin(args.bins)]
    names = args.dfs if args.dfs is not None else [*cal["family"], *cal["held_out"]]
    jobs = [
        {
            "df": name,
            "variant": cal["dfs"][name]["variant"],
            "tracer": cal["dfs"][name].get("tracer"),
            "realisation": real,
            "seed": task_seed(args.seed, list(cal["dfs"]).index(name), real),
            "galaxy": galaxy,
            "limits": limits,
            "stars": args.stars,
            "shape_terms": args.shape_terms,
            "walkers": args.walkers,
            "burn": args.burn,
            "keep": args.keep,
            "sigma_out": params["escape_velocity"]["sigma_out_kms"],
        }
        for real in range(args.realisations)
        for name in names
    ]
    rows = []
    pool = ProcessPoolExecutor(max_workers=args.workers) if args.workers > 1 else None
    for result in pool.map(fit_realisation, jobs) if pool else map(fit_realisation, jobs):
        rows += result
        print(  # noqa: T201
            f"{result[0]['df']:15s} realisation {result[0]['realisation']}: k={result[0]['k_median']:.2f}, "
            f"tau={result[0]['tau_max']:.0f}, {result[0]['runtime_s']:.0f} s, bias "
            + " ".join(f"{r['bias']:+.3f}" for r in result),
            flush=True,
        )
    if pool:
        pool.shutdown()
    table = pd.DataFrame(rows)
    summary = summarise(table)
    out = args.out / dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H.%M.%S.%fZ")
    out.mkdir(parents=True)
    table.to_csv(out / "fits.csv", index=False)
    (out / "summary.md").write_text(
        f"# Shared-shape joint fit of Bin 1 ({args.stars} noise-free stars per bin, {args.shape_terms} shape terms, "
        f"{args.realisations} realisations, "
        f"{args.walkers} walkers x ({args.burn} + {args.keep}) steps)\n\n" + summary.round(3).to_markdown() + "\n"
    )
    print(summary.round(3).to_markdown())  # noqa: T201
    return out


if __name__ == "__main__":
    main()
