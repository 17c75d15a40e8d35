"""Nodes of the ``halo_mass`` pipeline for the combined fits (Analysis B, METHOD.md §6).

A grid of fits (halo family × baryon model × constraint set) combining the
escape-velocity curve, vc(R0), a rotation curve, K_z(R, 1.1 kpc) and the globular
clusters' kinematics (a double-power-law DF in actions whose parameters are sampled
with the potential's), each fitted through ``galaxy.fitting`` (Nelder–Mead, then
emcee around the maximum). Units: kpc, km/s, Msun; K_z in (km/s)² / kpc; the
dark-matter density in GeV / cm³.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import pandas as pd

from milkyway_mass.galaxy.constraints.data import kz_from_table, rotation_curve_from_table
from milkyway_mass.galaxy.constraints.terms import ConstraintData, make_terms, term_goodness
from milkyway_mass.galaxy.constraints.vesc_curve import EscapeVelocityCurve
from milkyway_mass.galaxy.fitting import (
    Posterior,
    Prior,
    convergence_warning,
    fit_posterior,
    fit_seed,
    parameters_at_prior_edge,
    prior_edge_warning,
)
from milkyway_mass.galaxy.globular_clusters.catalogue import select_clusters
from milkyway_mass.galaxy.globular_clusters.draws import ClusterDraws, draw_clusters
from milkyway_mass.galaxy.globular_clusters.likelihood import DF_PARAMETERS, GlobularClusterTerm
from milkyway_mass.galaxy.globular_clusters.staeckel import reweight_to_staeckel, sample_staeckel_posterior
from milkyway_mass.galaxy.model import (
    FitSpec,
    MassModel,
    build_prior,
    component_enclosed_mass,
    component_kz,
    component_vc,
    fit_grid,
)
from milkyway_mass.galaxy.parallel import map_jobs

from .nodes import derived_of, estimates_from, estimates_of, flat_samples, mass_model
from .reports import DEFINITIONS_B, QUANTITIES_B, analysis_b_markdown, staeckel_reweighting_markdown

logger = logging.getLogger(__name__)


def _select_range(table: pd.DataFrame, R_range, min_points, what: str) -> pd.DataFrame:
    lo, hi = (float(v) for v in R_range)
    keep = table["R_kpc"].between(lo, hi)
    if (~keep).any():
        logger.info(
            "halo_mass analysis B: %s: %d of %d points outside R = [%g, %g] kpc not used",
            what,
            int((~keep).sum()),
            len(table),
            lo,
            hi,
        )
    out = table[keep].reset_index(drop=True)
    if len(out) < int(min_points):
        raise ValueError(
            f"{what}: {len(out)} point(s) in R = [{lo:g}, {hi:g}] kpc; the fit needs at least {min_points}"
        )
    return out


def build_rotation_curve_constraint(table: pd.DataFrame, rotation_curve: dict[str, Any]) -> pd.DataFrame:
    """Validated rotation curve (``galaxy.constraints.data.ROTATION_CURVE_COLUMNS``) from a table with
    the Eilers et al. (2019) columns R, v_c, err+, err- [kpc, km/s].

    The order of the error columns is ``rotation_curve.error_columns`` (mean |
    plus_minus | minus_plus); points outside ``R_range_kpc`` are dropped (counted in the log).
    """
    rc = rotation_curve_from_table(table, rotation_curve["error_columns"], source="rotation-curve table")
    return _select_range(rc, rotation_curve["R_range_kpc"], rotation_curve["min_points"], "rotation curve")


def build_vertical_force_constraint(table: pd.DataFrame, vertical_force: dict[str, Any]) -> pd.DataFrame:
    """Validated K_z(R, |z| = 1.1 kpc) (``galaxy.constraints.data.KZ_COLUMNS``, K_z in (km/s)²/kpc) from a
    table in the Bovy & Rix (2013) layout (8 unnamed columns); points outside ``R_range_kpc`` dropped."""
    kz = kz_from_table(table, source="K_z table")
    return _select_range(kz, vertical_force["R_range_kpc"], vertical_force["min_points"], "K_z table")


def build_globular_cluster_constraint(
    table: pd.DataFrame, globular_clusters: dict[str, Any], galaxy_frame: dict[str, Any]
) -> tuple[ClusterDraws, dict[str, Any]]:
    """Monte Carlo draws of the clusters the fit uses (``galaxy.globular_clusters``) and the
    selection's cut flow (input, Sagittarius, no line-of-sight velocity, kept) with the
    draw settings. ``table``: the catalogue in the Vasiliev & Baumgardt (2021) columns."""
    kept, flow = select_clusters(table, source="globular-cluster catalogue")
    cfg = globular_clusters
    modulus = cfg["modulus_error_mag"]
    draws = draw_clusters(
        kept, int(cfg["n_draws"]), int(cfg["seed"]), galaxy_frame, None if modulus is None else float(modulus)
    )
    logger.info(
        "halo_mass analysis B: %d of %d globular clusters kept (%d Sagittarius, %d without v_los), %d draws each",
        flow["kept"],
        flow["input"],
        flow["sagittarius"],
        flow["no_line_of_sight_velocity"],
        draws.n_draws,
    )
    selection = flow | {
        "clusters": list(draws.names),
        "n_draws": draws.n_draws,
        "distance_errors": "catalogue" if modulus is None else f"{float(modulus):g} mag in distance modulus",
    }
    return draws, selection


def _uses_clusters(spec: FitSpec) -> bool:
    return "globular_clusters" in spec.constraints


def fit_specs(analysis_b: dict[str, Any]) -> list[FitSpec]:
    """The fits of the Analysis B grid (``analysis_b.grid``, then ``extra_fits``)."""
    return fit_grid(analysis_b["grid"], analysis_b["constraint_sets"], analysis_b.get("extra_fits") or [])


def _grid_model(spec: FitSpec, model: dict[str, Any], analysis_b: dict[str, Any], cosmology) -> MassModel:
    tracers = DF_PARAMETERS if _uses_clusters(spec) else ()
    return mass_model(spec.family, spec.baryons, model, analysis_b["baryon_models"], cosmology, tracers)


def _cluster_config(spec: FitSpec, analysis_b: dict[str, Any]) -> dict[str, Any]:
    """Priors and start of the clusters' DF parameters (empty for fits without them)."""
    if not _uses_clusters(spec):
        return {"priors": {}, "start": {}}
    cfg = analysis_b["globular_clusters"]
    priors = {n: cfg["priors"][n] for n in DF_PARAMETERS if n in cfg["priors"]}
    missing = [n for n in DF_PARAMETERS if n not in priors]
    if missing:
        raise ValueError(f"fit {spec.name}: analysis_b.globular_clusters.priors lacks {missing}")
    return {"priors": priors, "start": dict(cfg["start"])}


def _baryon_priors(spec: FitSpec, analysis_b: dict[str, Any]) -> dict[str, Any]:
    return (analysis_b["baryon_models"].get(spec.baryons) or {}).get("priors", {})


def _halo_config(spec: FitSpec, analysis_b: dict[str, Any]) -> dict[str, Any]:
    if spec.family not in analysis_b["halos"]:
        raise ValueError(f"fit {spec.name}: no priors/start for the {spec.family} halo under analysis_b.halos")
    return analysis_b["halos"][spec.family]


def _start(spec: FitSpec, names, analysis_b: dict[str, Any]) -> np.ndarray:
    start = dict(_halo_config(spec, analysis_b)["start"])
    start |= {n: p["mean"] for n, p in _baryon_priors(spec, analysis_b).items()}
    start |= _cluster_config(spec, analysis_b)["start"]
    missing = [n for n in names if n not in start]
    if missing:
        raise ValueError(f"fit {spec.name}: no optimizer start for {missing}")
    return np.array([float(start[n]) for n in names])


def _sampler_settings(spec: FitSpec, sampler: dict[str, Any]) -> dict[str, Any]:
    """Sampler settings of one fit: ``n_steps`` times the ``step_factors`` of the fit's
    family, baryon model and constraint set (1 where not given)."""
    factors = sampler.get("step_factors") or {}
    factor = float(np.prod([float(factors.get(k, 1.0)) for k in (spec.family, spec.baryons, spec.constraint_set)]))
    settings = {k: v for k, v in sampler.items() if k != "step_factors"}
    settings["n_steps"] = max(2, int(round(int(sampler["n_steps"]) * factor)))
    return settings


def _prior(spec: FitSpec, mm: MassModel, analysis_b: dict[str, Any]) -> Prior:
    """The prior of one fit of the grid (halo, baryon and cluster-DF parameters)."""
    return build_prior(
        mm.halo_family,
        _halo_config(spec, analysis_b)["priors"],
        mm.baryons.parameter_names,
        _baryon_priors(spec, analysis_b),
        _cluster_config(spec, analysis_b)["priors"],
    )


def grid_fit_setup(
    spec: FitSpec, data: ConstraintData, model: dict[str, Any], analysis_b: dict[str, Any], cosmology: dict[str, Any]
) -> tuple[Posterior, dict[str, Any], np.ndarray]:
    """Posterior, sampler settings and optimiser start of one fit of the Analysis B grid."""
    mm = _grid_model(spec, model, analysis_b, cosmology)
    prior = _prior(spec, mm, analysis_b)
    terms = make_terms(
        spec.constraints,
        data,
        boundary_r200=float(model["escape_boundary_r200"]),
        frac_systematic=float(analysis_b["rotation_curve"]["frac_systematic"]),
    )
    settings = _sampler_settings(spec, analysis_b["sampler"])
    return Posterior(mm, prior, terms), settings, _start(spec, prior.names, analysis_b)


def _constraint_data(
    vesc_curve: EscapeVelocityCurve,
    rotation_curve: pd.DataFrame,
    vertical_force: pd.DataFrame,
    analysis_b: dict[str, Any],
    galaxy_frame: dict[str, Any],
    globular_clusters: ClusterDraws | None,
) -> ConstraintData:
    return ConstraintData(
        vesc_curve,
        float(galaxy_frame["R0_kpc"]),
        float(galaxy_frame["vc_R0_kms"]),
        float(galaxy_frame["vc_R0_err_kms"]),
        rotation_curve,
        vertical_force,
        globular_clusters,
        float(analysis_b["globular_clusters"]["rotation_scale"]),
    )


def _grid_fit(job: tuple) -> dict[str, Any]:
    """One fit of the grid (run by ``parallel.map_jobs``): Nelder–Mead, emcee, and the entry of
    ``fit_analysis_b``'s output for it, with its wall time."""
    spec, posterior, settings, start, optimizer, progress = job
    started = time.perf_counter()
    mm, prior, terms = posterior.model, posterior.prior, posterior.terms
    result = fit_posterior(
        posterior, start, optimizer, settings | {"progress": progress}, fit_seed(settings["seed"], spec.name), spec.name
    )
    best, lp_best = result["max_posterior"]["x"], result["max_posterior"]["log_posterior"]
    galaxy = mm.build(best[None, :])
    return {
        "family": spec.family,
        "baryons": spec.baryons,
        "constraint_set": spec.constraint_set,
        "constraints": list(spec.constraints),
        "parameter_names": list(prior.names),
        "chain": result["chain"].astype(np.float32),
        "log_prob": result["log_prob"].astype(np.float32),
        "acceptance_fraction": result["acceptance_fraction"],
        "diagnostics": result["diagnostics"],
        "optimizer": result["optimizer"],
        "seed": result["seed"],
        "n_burn": result["n_burn"],
        "store_thin": result["store_thin"],
        "sampler": settings,
        "max_posterior": dict(zip(prior.names, best.tolist())) | {"log_posterior": lp_best},
        "goodness": {t.name: term_goodness(t, galaxy) for t in terms},
        "wall_seconds": time.perf_counter() - started,
    }


def fit_analysis_b(
    vesc_curve: EscapeVelocityCurve,
    rotation_curve: pd.DataFrame,
    vertical_force: pd.DataFrame,
    model: dict[str, Any],
    analysis_b: dict[str, Any],
    galaxy_frame: dict[str, Any],
    cosmology: dict[str, Any],
    data_label: str,
    globular_clusters: ClusterDraws | None = None,
) -> dict[str, Any]:
    """Run every fit of the grid (``analysis_b.grid`` x ..., plus ``extra_fits``);
    ``data_label`` describes the data in the outputs; ``globular_clusters`` holds the
    clusters' draws for fits with the ``globular_clusters`` constraint.

    Each fit: Nelder–Mead maximum from the configured start, then emcee around it
    (first ``burn_fraction`` of the steps discarded). The fits are independent and run on
    ``analysis_b.n_workers`` processes (``galaxy.parallel``), the costliest (steps x
    parameters) first; each has its own seed, so the results do not depend on the number of
    workers. With more than one worker the progress bar counts finished fits. Returns, per
    fit name ``<family>.<baryons>.<constraint set>`` in grid order: the kept chain (float32,
    thinned by ``store_thin``), log posterior, diagnostics, optimizer result, the
    maximum-posterior sample, each constraint's goodness there and the fit's wall time.
    """
    data = _constraint_data(vesc_curve, rotation_curve, vertical_force, analysis_b, galaxy_frame, globular_clusters)
    n_workers = int(analysis_b["n_workers"])
    progress = bool(analysis_b["sampler"]["progress"])
    specs = fit_specs(analysis_b)
    jobs = []
    for spec in specs:
        posterior, settings, start = grid_fit_setup(spec, data, model, analysis_b, cosmology)
        posterior(start[None, :])  # builds what the model caches (baryon tables) once, here, before pickling
        jobs.append((spec, posterior, settings, start, analysis_b["optimizer"], progress and n_workers <= 1))
    order = sorted(range(len(jobs)), key=lambda i: -jobs[i][2]["n_steps"] * len(jobs[i][1].prior.names))
    results = map_jobs(
        _grid_fit,
        [jobs[i] for i in order],
        n_workers,
        labels=[specs[i].name for i in order],
        desc="analysis B fit",
        unit="fit",
        progress=progress and n_workers > 1,
    )
    by_name = {specs[i].name: result for i, result in zip(order, results)}
    fits = {spec.name: by_name[spec.name] for spec in specs}
    for name, fit in fits.items():
        logger.info(
            "halo_mass analysis B %s: max log posterior %.2f, acceptance %.2f, steps / tau %.1f, %.0f s",
            name,
            fit["max_posterior"]["log_posterior"],
            fit["diagnostics"]["acceptance_mean"],
            fit["diagnostics"]["steps_over_autocorr_time"],
            fit["wall_seconds"],
        )
    return {
        "data_label": str(data_label),
        "vesc_curve_source": vesc_curve.source,
        "vesc_scale": float(vesc_curve.scale),
        "vesc_curve_table": vesc_curve.table.to_dict(orient="list"),
        "fits": fits,
    }


def _fit_spec(fit: dict[str, Any]) -> FitSpec:
    return FitSpec(fit["family"], fit["baryons"], fit["constraint_set"], tuple(fit["constraints"]))


def _subsample(flat: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """At most ``n`` rows of ``flat``, drawn without replacement."""
    return flat if len(flat) <= n else flat[np.sort(rng.choice(len(flat), size=n, replace=False))]


def summarise_analysis_b(
    chains: dict[str, Any],
    model: dict[str, Any],
    analysis_b: dict[str, Any],
    galaxy_frame: dict[str, Any],
    cosmology: dict[str, Any],
) -> tuple[dict[str, Any], pd.DataFrame, str]:
    """JSON summary, results table and Markdown report of the Analysis B grid.

    Per fit: median and interval (``summary.interval_percentiles``) of QUANTITIES_B,
    log10_M200, M_baryon_r200_msun and the sampled parameters (over at most
    ``summary.max_samples`` posterior samples), the maximum-posterior sample, each
    constraint's goodness there, the optimizer result, the MCMC diagnostics, the parameters
    whose posterior piles up against a prior bound (``at_prior_edge``, also logged as a
    warning) and the fit's wall time (NaN for chains written before it was recorded).
    """
    cfg = analysis_b["summary"]
    percentiles = [float(p) for p in cfg["interval_percentiles"]]
    rng = np.random.default_rng(int(cfg["seed"]))
    fits, rows = {}, []
    for name, fit in chains["fits"].items():
        spec = _fit_spec(fit)
        mm = _grid_model(spec, model, analysis_b, cosmology)
        samples = _subsample(flat_samples(fit).astype(float), int(cfg["max_samples"]), rng)
        estimates = estimates_of(mm, samples, model, cfg, galaxy_frame, chunk=int(cfg["chunk_size"]))
        prior = _prior(spec, mm, analysis_b)
        edge = parameters_at_prior_edge(samples, prior.lower, prior.upper, prior.names)
        if edge:
            logger.warning("%s", prior_edge_warning(f"halo_mass analysis B {name}", edge))
        warning = convergence_warning(f"halo_mass analysis B {name}", fit["diagnostics"])
        if warning:
            logger.warning("%s", warning)
        optimizer = {k: v for k, v in fit["optimizer"].items() if k != "x"}
        fits[name] = {k: fit[k] for k in ("family", "baryons", "constraint_set", "constraints", "parameter_names")} | {
            "n_samples_summarised": len(samples),
            "estimates": estimates,
            "max_posterior": fit["max_posterior"],
            "goodness": fit["goodness"],
            "optimizer": optimizer | {"x": dict(zip(fit["parameter_names"], fit["optimizer"]["x"]))},
            "diagnostics": fit["diagnostics"],
            "at_prior_edge": list(edge),
            "wall_seconds": fit.get("wall_seconds", float("nan")),
        }
        row = {k: fit[k] for k in ("family", "baryons", "constraint_set")} | {
            "fit": name,
            "constraints": "+".join(fit["constraints"]),
        }
        enclosed = [k for k in estimates if k.startswith("M_enclosed_")]
        for key in (*QUANTITIES_B, "log10_M200", "M_baryon_r200_msun", *enclosed, *(["q"] if "q" in estimates else [])):
            e = estimates[key]
            row |= {f"{key}_median": e["median"], f"{key}_err_minus": e["err_minus"], f"{key}_err_plus": e["err_plus"]}
        for term, g in fit["goodness"].items():
            row |= {f"lnL_{term}": g["log_likelihood"]} | ({f"chi2_{term}": g["chi2"]} if "chi2" in g else {})
        d = fit["diagnostics"]
        row |= {k: d[k] for k in ("acceptance_mean", "steps_over_autocorr_time", "effective_samples", "converged")}
        row["at_prior_edge"] = " ".join(edge)
        row["wall_seconds"] = fits[name]["wall_seconds"]
        rows.append(row)
    table = pd.DataFrame(rows)
    lead = ["fit", "family", "baryons", "constraint_set", "constraints"]
    table = table[lead + [c for c in table.columns if c not in lead]]
    summary = {
        "data_label": chains["data_label"],
        "vesc_curve_source": chains["vesc_curve_source"],
        "vesc_scale": chains["vesc_scale"],
        "escape_boundary_r200": float(model["escape_boundary_r200"]),
        "interval_percentiles": percentiles,
        "definitions": DEFINITIONS_B,
        "fits": fits,
    }
    return summary, table, analysis_b_markdown(summary)


def reweight_globular_cluster_fits(
    chains: dict[str, Any],
    vesc_curve: EscapeVelocityCurve,
    rotation_curve: pd.DataFrame,
    vertical_force: pd.DataFrame,
    globular_clusters: ClusterDraws,
    model: dict[str, Any],
    analysis_b: dict[str, Any],
    galaxy_frame: dict[str, Any],
    cosmology: dict[str, Any],
) -> tuple[dict[str, Any], str]:
    """Each globular-cluster fit's posterior re-weighted from spherical to Stäckel actions
    (``galaxy.globular_clusters.staeckel``): JSON summary and Markdown report.

    Per fit with the ``globular_clusters`` constraint: ``analysis_b.globular_clusters.staeckel``
    sets ``n_samples`` posterior samples (drawn with ``seed``), ``n_workers`` processes and the
    ``focal_distance_scale``; the summary holds the effective sample size of the importance
    weights, the spread of ln L_Staeckel − ln L_spherical, the fraction of bound draws galpy's
    Stäckel solver failed on (they take their monopole actions), and the estimates (median and
    ``summary.interval_percentiles``) of every derived quantity on the same samples before and
    after re-weighting. An effective sample size below ``min_ess_fraction`` of the samples is
    logged as a warning and, if ``mcmc_steps`` > 0, starts a short emcee run with Stäckel
    actions (the fit's walkers drawn from the re-weighted samples, ``mcmc_steps`` steps, the
    first ``mcmc_burn_fraction`` discarded; the fit's data: curve, rotation curve, K_z, clusters),
    whose estimates and diagnostics are added as ``staeckel_mcmc``.
    """
    cfg = analysis_b["globular_clusters"]["staeckel"]
    summary_cfg = analysis_b["summary"]
    rng = np.random.default_rng(int(cfg["seed"]))
    term = GlobularClusterTerm(globular_clusters, float(analysis_b["globular_clusters"]["rotation_scale"]))
    data = _constraint_data(vesc_curve, rotation_curve, vertical_force, analysis_b, galaxy_frame, globular_clusters)
    fits = {}
    for name, fit in chains["fits"].items():
        spec = _fit_spec(fit)
        if not _uses_clusters(spec):
            continue
        mm = _grid_model(spec, model, analysis_b, cosmology)
        samples = _subsample(flat_samples(fit).astype(float), int(cfg["n_samples"]), rng)
        logger.info("halo_mass analysis B %s: Stäckel actions for %d posterior samples", name, len(samples))
        progress = bool(analysis_b["sampler"]["progress"])
        result = reweight_to_staeckel(
            term, mm, samples, int(cfg["n_workers"]), float(cfg["focal_distance_scale"]), progress=progress, label=name
        )
        ess = result["effective_sample_size"]
        derived = derived_of(mm, samples, model, summary_cfg, galaxy_frame)
        diff = result["log_l_staeckel"] - result["log_l_spherical"]
        finite = diff[np.isfinite(diff)]
        fits[name] = {k: fit[k] for k in ("family", "baryons", "constraint_set", "constraints")} | {
            "n_samples": len(samples),
            "effective_sample_size": ess,
            "failed_fraction": {
                "mean": float(np.mean(result["failed_fraction"])),
                "max": float(np.max(result["failed_fraction"])),
            },
            "log_l_difference": {
                "mean": float(np.mean(finite)),
                "std": float(np.std(finite)),
                "min": float(np.min(finite)),
                "max": float(np.max(finite)),
                "n_non_finite": int(diff.size - finite.size),
            },
            "estimates_spherical": estimates_from(derived, summary_cfg),
            "estimates_staeckel": estimates_from(derived, summary_cfg, result["weights"]),
        }
        if ess >= float(cfg["min_ess_fraction"]) * len(samples):
            continue
        steps = int(cfg["mcmc_steps"])
        logger.warning(
            "halo_mass analysis B %s: effective sample size of the Stäckel re-weighting %.1f of %d samples "
            "(< %.0f %%): the re-weighted estimates rest on few samples%s",
            name,
            ess,
            len(samples),
            100 * float(cfg["min_ess_fraction"]),
            f"; running a {steps}-step Stäckel MCMC" if steps else " (mcmc_steps is 0: no Stäckel MCMC)",
        )
        if steps:
            posterior, _, _ = grid_fit_setup(spec, data, model, analysis_b, cosmology)
            mcmc = sample_staeckel_posterior(
                posterior,
                samples,
                result["weights"],
                int(fit["sampler"]["n_walkers"]),
                steps,
                float(cfg["mcmc_burn_fraction"]),
                fit_seed(int(cfg["seed"]), name),
                int(cfg["n_workers"]),
                float(cfg["focal_distance_scale"]),
                progress=progress,
                label=name,
            )
            chain = mcmc["chain"].reshape(-1, mcmc["chain"].shape[-1])
            fits[name]["staeckel_mcmc"] = {
                "n_steps": steps,
                "diagnostics": mcmc["diagnostics"],
                "estimates": estimates_from(derived_of(mm, chain, model, summary_cfg, galaxy_frame), summary_cfg),
            }
            if not mcmc["diagnostics"]["converged"]:
                logger.warning(
                    "halo_mass analysis B %s: the Stäckel MCMC has not converged (steps / tau %.1f)",
                    name,
                    mcmc["diagnostics"]["steps_over_autocorr_time"],
                )
    summary = {
        "data_label": chains["data_label"],
        "interval_percentiles": [float(p) for p in summary_cfg["interval_percentiles"]],
        "focal_distance_scale": float(cfg["focal_distance_scale"]),
        "fits": fits,
    }
    return summary, staeckel_reweighting_markdown(summary)


def _model_curves(mm: MassModel, draws: np.ndarray, grids: dict[str, np.ndarray], z: float, boundary: float) -> dict:
    """{quantity: (radii, {component: values (n_draws or 1, n_radii)})} of ``draws`` of ``mm``."""
    return {
        "vc_kms": (grids["vc"], component_vc(mm, draws, grids["vc"])),
        "kz_kms2_kpc": (grids["kz"], component_kz(mm, draws, grids["kz"], z)),
        "vesc_kms": (grids["vesc"], {"total": mm.build(draws).escape_speed(grids["vesc"], 0.0, boundary)}),
        "M_enclosed_msun": (grids["mass"], component_enclosed_mass(mm, draws, grids["mass"])),
    }


def predict_analysis_b_curves(
    chains: dict[str, Any],
    vertical_force: pd.DataFrame,
    model: dict[str, Any],
    analysis_b: dict[str, Any],
    cosmology: dict[str, Any],
) -> pd.DataFrame:
    """Posterior bands of each fit's model curves, long format.

    Columns: fit, quantity (vc_kms: circular speed in the plane; kz_kms2_kpc: K_z at
    the height of ``vertical_force``; vesc_kms: escape speed in the plane;
    M_enclosed_msun: mass inside the sphere whose radius is the R_kpc column), component
    (each baryon component, halo, total; signed sqrt(vc²) for vc, total only for
    v_esc), R_kpc, median, lo, hi (``figures.band_percentiles``) over
    ``figures.n_band_draws`` posterior draws, evaluated ``figures.chunk_size`` draws at a time
    (an oblate halo's monopole holds draws x radii x 64 angles x 48 nodes values).
    """
    cfg = analysis_b["figures"]
    rng = np.random.default_rng(int(cfg["seed"]))
    pct = [float(cfg["band_percentiles"][0]), 50.0, float(cfg["band_percentiles"][1])]
    grids = {
        q: np.linspace(*(float(v) for v in cfg[f"{q}_R_range_kpc"]), int(cfg["n_radii"])) for q in ("vc", "kz", "vesc")
    }
    grids["mass"] = np.geomspace(*(float(v) for v in cfg["mass_r_range_kpc"]), int(cfg["n_radii"]))
    z = float(np.unique(vertical_force["z_kpc"])[0])
    boundary = float(model["escape_boundary_r200"])
    chunk = int(cfg["chunk_size"])
    frames = []
    for name, fit in chains["fits"].items():
        mm = _grid_model(_fit_spec(fit), model, analysis_b, cosmology)
        draws = _subsample(flat_samples(fit).astype(float), int(cfg["n_band_draws"]), rng)
        chunks = [draws[i : i + chunk] for i in range(0, len(draws), chunk)]
        parts = [_model_curves(mm, c, grids, z, boundary) for c in chunks]
        for quantity, (R, components) in parts[0].items():
            for component in components:
                values = np.concatenate(
                    [np.broadcast_to(part[quantity][1][component], (len(c), R.size)) for part, c in zip(parts, chunks)]
                )
                lo, med, hi = np.percentile(values, pct, axis=0)
                frames.append(
                    pd.DataFrame(
                        {
                            "fit": name,
                            "quantity": quantity,
                            "component": component,
                            "R_kpc": R,
                            "median": med,
                            "lo": lo,
                            "hi": hi,
                        }
                    )
                )
    return pd.concat(frames, ignore_index=True)
