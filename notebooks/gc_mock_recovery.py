"""Recovery of the enclosed mass from mock globular-cluster systems (a study of the GC constraint).

Each realisation draws a new cluster system from the embedded mock's truth potential
(``mock_survey.globular_clusters``, with its DF chosen by ``--mock-df``: the fitted
double-power-law family, or an Osipkov–Merritt DF outside it), observes it with the
errors of randomly paired real clusters, and fits it like ``halo_mass`` Analysis B
(distances drawn with the catalogue's errors, as the mock observes them, or with
``--modulus-error-mag``): NFW halo + fixed baryons (the mock's family),
the clusters alone (``gc``) and with the mock's rotation curve and K_z (``gc_rc_kz``).
For each fit it records the posterior median and 16-84 % interval of the mass inside
20, 50 and 100 kpc and of M200. The fits use actions in the potential's monopole;
``--staeckel-samples`` posterior samples are then re-weighted with Stäckel actions in the
axisymmetric potential (``galaxy.globular_clusters.staeckel``), giving the effective sample
size and the re-weighted estimates (``*_staeckel_*``).

The summary gives the pulls, (median − truth) divided by the half-interval on the side of
the truth, against two truths. The mock's truth file describes its spherical stand-in, in
which each Miyamoto–Nagai disk is a Plummer sphere with the same potential in the plane;
the fitted model has the Miyamoto–Nagai disks themselves, which put less mass inside a
sphere (~1e10 Msun less at 20 kpc, 5e9 at 50 kpc, 3e9 at 100 kpc). So pulls are also given
against the fitted model at the true halo, what a perfect fit reports.

Run from the project root (each fit takes minutes to tens of minutes on one core):

    python notebooks/gc_mock_recovery.py [--realisations 10] [--first-realisation 1] [--constraint-sets gc gc_rc_kz]
        [--walkers 24] [--steps 1000] [--draws 100] [--staeckel-samples 200] [--workers 2] [--env base]
        [--mock-df double_power_law|osipkov_merritt] [--modulus-error-mag MAG] [--shared-data ../shared/data]
    python notebooks/gc_mock_recovery.py --summarise data/08_reporting/gc_mock_recovery/<run>/fits.csv [...]

It writes ``fits.csv`` (after each finished fit, so a long study can be read while it
runs) and at the end ``summary.md`` to a new timestamped folder under
``data/08_reporting/gc_mock_recovery/``; ``--summarise`` summarises one or more (partial)
``fits.csv`` together (e.g. a study continued with ``--first-realisation``) into a new
``summary_<time>.md`` beside the first. Units: kpc, km/s, Msun.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np
import pandas as pd

from milkyway_mass.config import load_parameters
from milkyway_mass.galaxy.constraints.terms import ConstraintData
from milkyway_mass.galaxy.constraints.vesc_curve import split_normal_curve
from milkyway_mass.galaxy.fitting import fit_posterior, fit_seed
from milkyway_mass.galaxy.globular_clusters.catalogue import read_table
from milkyway_mass.galaxy.globular_clusters.staeckel import reweight_to_staeckel
from milkyway_mass.galaxy.model import ENCLOSED_MASS_RADII_KPC, FitSpec
from milkyway_mass.pipelines.halo_mass import combined_nodes, nodes
from milkyway_mass.pipelines.mock_survey import nodes as mock_nodes

PROJECT = Path(__file__).resolve().parents[1]
QUANTITIES = (*(f"M_enclosed_{r:g}kpc_msun" for r in ENCLOSED_MASS_RADII_KPC), "M200_msun")


def read_tables(shared: Path) -> dict[str, pd.DataFrame]:
    """The published tables the mock takes its layouts and errors from."""
    gc = shared / "gc_vasiliev_baumgardt2021/gc_mean_params_edr3_VB2021.txt"
    return {
        "clusters": read_table(gc),
        "eilers": pd.read_csv(shared / "mw_rotcurve_eilers2019/Eilers2019-circ-velocity.txt", sep=r"\s+"),
        "bovy_rix": pd.read_csv(shared / "kz_bovy_rix2013/bovyrix13kzdata.csv", header=None),
    }


def truths_of(params: dict) -> dict[str, dict[str, float]]:
    """QUANTITIES of the mock's truth file (``mock``: the spherical stand-in) and of the fitted
    model, NFW halo + the mock's Miyamoto–Nagai disks, at the true halo (``fitted model``)."""
    truth = mock_nodes.build_truth(params["mock_survey"], params["galaxy_frame"], params["cosmology"])
    mock = {f"M_enclosed_{k.removesuffix('_kpc')}kpc_msun": v for k, v in truth["M_enclosed_msun"].items()}
    hm = params["halo_mass"]
    mm = nodes.mass_model("nfw", "fixed", hm["model"], hm["analysis_b"]["baryon_models"], params["cosmology"])
    if tuple(mm.parameter_names) != ("log10_M200", "c200"):
        raise ValueError(f"the fitted model's parameters are {mm.parameter_names}, not (log10_M200, c200)")
    halo = params["mock_survey"]["truth"]
    theta = np.array([[np.log10(halo["M200_msun"]), halo["c200"]]])
    derived = nodes.derived_of(mm, theta, hm["model"], hm["analysis_b"]["summary"], params["galaxy_frame"])
    return {
        "mock": mock | {"M200_msun": truth["M200_msun"]},
        "fitted model": {q: float(derived[q][0]) for q in QUANTITIES},
    }


def realisation_data(seed: int, params: dict, tables: dict, n_draws: int) -> ConstraintData:
    """Constraint data of one realisation: a new cluster system (mock seed ``seed``), the mock's
    rotation curve and K_z (same seed), each cluster drawn ``n_draws`` times (distance errors
    as ``halo_mass.analysis_b.globular_clusters.modulus_error_mag`` says)."""
    mock = params["mock_survey"] | {"seed": int(seed)}
    frame, cosmology = params["galaxy_frame"], params["cosmology"]
    catalogue = mock_nodes.mock_globular_clusters(tables["clusters"], mock, frame, cosmology)
    b = params["halo_mass"]["analysis_b"]
    gc = b["globular_clusters"] | {"n_draws": int(n_draws), "seed": int(seed)}
    draws, _ = combined_nodes.build_globular_cluster_constraint(catalogue, gc, frame)
    rc = combined_nodes.build_rotation_curve_constraint(
        mock_nodes.mock_rotation_curve(tables["eilers"], mock, frame, cosmology), b["rotation_curve"]
    )
    kz = combined_nodes.build_vertical_force_constraint(
        mock_nodes.mock_kz(tables["bovy_rix"], mock, frame, cosmology), b["vertical_force"]
    )
    unused = split_normal_curve(
        [1, 2], np.array([8.0, 20.0]), np.array([500.0, 420.0]), np.full(2, 50.0), np.full(2, 50.0)
    )
    return ConstraintData(
        unused, frame["R0_kpc"], frame["vc_R0_kms"], frame["vc_R0_err_kms"], rc, kz, draws, gc["rotation_scale"]
    )


def fit_one(task: dict) -> dict:
    """Fit one realisation with one constraint set; the row of ``fits.csv``."""
    params, seed, cset = task["params"], task["seed"], task["constraint_set"]
    started = time.perf_counter()
    data = realisation_data(seed, params, read_tables(task["shared"]), task["draws"])
    b = params["halo_mass"]["analysis_b"] | {"sampler": params["halo_mass"]["analysis_b"]["sampler"] | task["sampler"]}
    spec = FitSpec("nfw", "fixed", cset, tuple(b["constraint_sets"][cset]))
    post, settings, start = combined_nodes.grid_fit_setup(
        spec, data, params["halo_mass"]["model"], b, params["cosmology"]
    )
    result = fit_posterior(post, start, b["optimizer"], settings, fit_seed(settings["seed"], f"{spec.name}.{seed}"))
    chain = result["chain"]
    samples = chain.reshape(-1, chain.shape[-1])
    cfg = b["summary"]
    rng = np.random.default_rng(seed)
    samples = samples[rng.choice(len(samples), size=min(len(samples), int(cfg["max_samples"])), replace=False)]
    estimates = nodes.estimates_of(post.model, samples, params["halo_mass"]["model"], cfg, params["galaxy_frame"])
    modulus = params["halo_mass"]["analysis_b"]["globular_clusters"]["modulus_error_mag"]
    row = {"seed": seed, "constraint_set": cset, "mock_df": params["mock_survey"]["globular_clusters"]["df"]}
    row |= {"distance_errors": "catalogue" if modulus is None else f"{modulus:g} mag"}
    row |= {"seconds": time.perf_counter() - started}
    row |= {k: result["diagnostics"][k] for k in ("acceptance_mean", "steps_over_autocorr_time", "converged")}
    tables = {"": estimates}
    if task["staeckel_samples"]:
        tables["_staeckel"], row["staeckel_ess"] = reweighted_estimates(post, samples, task, cfg, params)
    for suffix, table in tables.items():
        for q in QUANTITIES:
            e = table[q]
            row |= {f"{q}{suffix}_{k}": e[k] for k in ("median", "err_minus", "err_plus")}
    return row


def reweighted_estimates(post, samples: np.ndarray, task: dict, cfg: dict, params: dict) -> tuple[dict, float]:
    """Estimates of QUANTITIES from ``staeckel_samples`` posterior samples re-weighted from
    spherical to Stäckel actions, and the effective sample size of the weights."""
    rng = np.random.default_rng(task["seed"] + 1)
    thinned = samples[rng.choice(len(samples), size=min(len(samples), task["staeckel_samples"]), replace=False)]
    term = next(t for t in post.terms if t.name == "globular_clusters")
    reweighted = reweight_to_staeckel(term, post.model, thinned)
    weights, ess = reweighted["weights"], reweighted["effective_sample_size"]
    derived = nodes.derived_of(post.model, thinned, params["halo_mass"]["model"], cfg, params["galaxy_frame"])
    return nodes.estimates_from({q: derived[q] for q in QUANTITIES}, cfg, weights), ess


def pulls(fits: pd.DataFrame, quantity: str, truth: float) -> pd.Series:
    """(median − truth) / half-interval on the side of the truth, per fit; ``quantity`` is a
    column prefix of ``fits`` (``M200_msun``, ``M200_msun_staeckel``, ...)."""
    median = fits[f"{quantity}_median"]
    side = np.where(truth > median, fits[f"{quantity}_err_plus"], fits[f"{quantity}_err_minus"])
    return (median - truth) / side


def summarise(fits: pd.DataFrame, truths: dict[str, dict[str, float]]) -> str:
    """Markdown table of the pulls of ``fits`` (rows of ``fit_one``) against each of ``truths``."""
    names = list(truths)
    lines = ["# Mock globular clusters: recovery of the enclosed mass", ""]
    lines += [f"Pulls against the {' and the '.join(names)} truth ({truths_note(truths)}).", ""]
    head = ["mock DF", "constraints", "actions", "quantity", "fits"]
    head += [f"{h} ({n})" for n in names for h in ("median pull", "share abs(pull) <= 1")]
    head += [f"mean median / truth ({n})" for n in names]
    lines += ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for (mock_df, cset), group in fits.groupby(["mock_df", "constraint_set"]):
        reweighted = "staeckel_ess" in group and group["staeckel_ess"].notna().all()
        variants = {"spherical": ""} | ({"Staeckel (re-weighted)": "_staeckel"} if reweighted else {})
        for label, suffix in variants.items():
            for q in QUANTITIES:
                cells = [mock_df, cset, label, q, str(len(group))]
                for n in names:
                    p = pulls(group, f"{q}{suffix}", truths[n][q])
                    cells += [f"{p.median():+.2f}", f"{(p.abs() <= 1).mean():.2f}"]
                cells += [f"{(group[f'{q}{suffix}_median'] / truths[n][q]).mean():.3f}" for n in names]
                lines.append("| " + " | ".join(cells) + " |")
    if "staeckel_ess" in fits and fits["staeckel_ess"].notna().any():
        ess = fits["staeckel_ess"].dropna().round(1).tolist()
        lines += ["", f"Effective sample size of the re-weighting: {ess}"]
    lines += ["", f"steps / autocorrelation time: {fits['steps_over_autocorr_time'].round(1).tolist()}"]
    return "\n".join(lines) + "\n"


def truths_note(truths: dict[str, dict[str, float]]) -> str:
    """The truths' values in one line [Msun]."""
    return "; ".join(
        f"{n}: " + ", ".join(f"{q.removesuffix('_msun')} {v:.4g}" for q, v in t.items()) for n, t in truths.items()
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--realisations", type=int, default=10)
    parser.add_argument(
        "--first-realisation", type=int, default=1, help="number of the first realisation (mock seed + 1000 x number)"
    )
    parser.add_argument("--constraint-sets", nargs="+", default=["gc", "gc_rc_kz"])
    parser.add_argument("--walkers", type=int, default=24)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--draws", type=int, default=100)
    parser.add_argument("--staeckel-samples", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--env", default="base")
    parser.add_argument("--mock-df", choices=["double_power_law", "osipkov_merritt"], default="double_power_law")
    parser.add_argument(
        "--modulus-error-mag", type=float, default=None, help="distance errors in the fit (default: the catalogue's)"
    )
    parser.add_argument("--shared-data", type=Path, default=PROJECT.parent / "shared" / "data")
    parser.add_argument(
        "--summarise", type=Path, nargs="+", help="summarise these fits.csv files together instead of fitting"
    )
    args = parser.parse_args()
    params = load_parameters(PROJECT, args.env)
    params["mock_survey"]["globular_clusters"]["df"] = args.mock_df
    params["halo_mass"]["analysis_b"]["globular_clusters"]["modulus_error_mag"] = args.modulus_error_mag
    truths = truths_of(params)
    if args.summarise:
        fits = pd.concat([pd.read_csv(p) for p in args.summarise])
        # fits.csv files written before the mock_df column existed all drew Osipkov-Merritt systems
        fits = fits.assign(mock_df=fits.get("mock_df", pd.Series(index=fits.index, dtype=object)))
        fits = fits.fillna({"mock_df": "osipkov_merritt"}).sort_values(["mock_df", "constraint_set", "seed"])
        out = args.summarise[0].parent / f"summary_{dt.datetime.now(dt.UTC).strftime('%Y-%m-%dT%H.%M.%S')}.md"
        out.write_text(summarise(fits, truths))
        print(out.read_text(), f"written to {out}", sep="\n")  # noqa: T201
        return
    sampler = {"n_walkers": args.walkers, "n_steps": args.steps, "progress": False, "step_factors": {}}
    base_seed = int(params["mock_survey"]["seed"])
    tasks = [
        {"params": params, "seed": base_seed + 1000 * i, "constraint_set": cset, "sampler": sampler}
        | {"draws": args.draws, "shared": args.shared_data, "staeckel_samples": args.staeckel_samples}
        for i in range(args.first_realisation, args.first_realisation + args.realisations)
        for cset in args.constraint_sets
    ]
    out = PROJECT / "data/08_reporting/gc_mock_recovery" / dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H.%M.%S")
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        for future in as_completed([pool.submit(fit_one, task) for task in tasks]):
            rows.append(future.result())
            pd.DataFrame(rows).to_csv(out / "fits.csv", index=False)
            print(f"{len(rows)} of {len(tasks)} fits done, written to {out / 'fits.csv'}", flush=True)  # noqa: T201
    fits = pd.DataFrame(rows).sort_values(["mock_df", "constraint_set", "seed"])
    fits.to_csv(out / "fits.csv", index=False)
    (out / "summary.md").write_text(summarise(fits, truths))
    print(summarise(fits, truths))  # noqa: T201
    print(f"written to {out}")  # noqa: T201


if __name__ == "__main__":
    main()
