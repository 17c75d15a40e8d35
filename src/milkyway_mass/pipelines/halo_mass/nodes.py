"""Nodes of the ``halo_mass`` pipeline: the escape-velocity curve and Analysis A.

The curve comes from ``escape_velocity``'s samples (KDE), a published table or the
calibrated table. Analysis A (METHOD.md §5) fits the halo (``model.halo_family``, NFW
as published) with the fixed baryons to the curve and vc(R0) through
``galaxy.fitting``. The combined fits of Analysis B (§6) are in ``combined_nodes``.

Units: kpc, km/s, Msun; K_z in (km/s)² / kpc. Model escape speeds of a bin are
evaluated at its r0 in the Galactic plane (R = r0, z = 0), to the boundary
``escape_boundary_r200`` * r200 (also in the plane).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from milkyway_mass.galaxy.constraints.terms import (
    ConstraintData,
    make_terms,
)
from milkyway_mass.galaxy.constraints.vesc_curve import (
    EscapeVelocityCurve,
    kde_curve,
    split_normal_curve,
)
from milkyway_mass.galaxy.fitting import (
    Posterior,
    convergence_warning,
    estimate,
    parameters_at_prior_edge,
    prior_edge_warning,
    run_emcee,
)
from milkyway_mass.galaxy.model import (
    HALO_FAMILIES,
    MassModel,
    build_prior,
    derived_samples,
)
from milkyway_mass.galaxy.potentials.baryons import build_baryons
from milkyway_mass.galaxy.units import Cosmology
from milkyway_mass.schemas import (
    PUBLISHED_VESC_COLUMNS,
    VESC_CURVE_COLUMNS,
    VESC_SAMPLE_COLUMNS,
    require_columns,
)

from .reports import QUANTITIES

logger = logging.getLogger(__name__)


def build_measured_curve(
    vesc_samples: pd.DataFrame, vesc_table: pd.DataFrame, curve: dict[str, Any]
) -> EscapeVelocityCurve:
    """Curve from ``escape_velocity``'s per-bin v_esc posterior samples (KDE likelihood).

    Uses the bins whose ``status`` in ``vesc_table`` is 'ok'; samples of other bins
    are dropped and counted in the log. An 'ok' bin without samples, with NaN
    samples, or with an r0 differing from the table's is an error naming the bin.
    Bins whose chains did not converge (``converged`` False) are named in a WARNING and
    kept (``curve.unconverged_bins: keep``, the curve table's ``converged`` column marks
    them) or left out (``exclude``).
    """
    require_columns(vesc_samples, VESC_SAMPLE_COLUMNS, "vesc_samples")
    require_columns(vesc_table, ("bin", "r0", "status", "converged"), "vesc_table")
    policy = curve["unconverged_bins"]
    if policy not in ("keep", "exclude"):
        raise ValueError(f"halo_mass.curve.unconverged_bins must be 'keep' or 'exclude', got {policy!r}")
    ok = _within_fit_range(vesc_table[vesc_table["status"] == "ok"].sort_values("r0"), "r0", curve)
    unconverged = ok.loc[~ok["converged"].astype(bool), "bin"].tolist()
    if unconverged:
        logger.warning(
            "halo_mass: v_esc chains of bin(s) %s did not converge; %s (halo_mass.curve.unconverged_bins: %s)",
            unconverged,
            "their v_esc enter the fit" if policy == "keep" else "they are left out of the fit",
            policy,
        )
        if policy == "exclude":
            ok = ok[ok["converged"].astype(bool)]
    skipped = vesc_samples[~vesc_samples["bin"].isin(ok["bin"])]
    if len(skipped):
        logger.info(
            "halo_mass: dropped %d v_esc samples of bin(s) %s not marked 'ok' in vesc_table",
            len(skipped),
            sorted(skipped["bin"].unique().tolist()),
        )
    grouped = dict(tuple(vesc_samples.groupby("bin")))
    bins, r0, samples = [], [], []
    for bin_id, r in zip(ok["bin"], ok["r0"]):
        chain = grouped.get(bin_id)
        if chain is None:
            raise ValueError(f"bin {bin_id} (r0 = {r:.2f} kpc) has status 'ok' but no v_esc samples")
        if not np.allclose(chain["r0"].to_numpy(dtype=float), r, rtol=1e-6, equal_nan=False):
            raise ValueError(f"bin {bin_id}: r0 of the samples differs from r0 = {r} in vesc_table")
        bins.append(bin_id)
        r0.append(float(r))
        samples.append(chain["v_esc"].to_numpy(dtype=float))
    measured = kde_curve(
        bins,
        r0,
        samples,
        bandwidth=curve["kde_bandwidth"],
        points_per_bandwidth=float(curve["kde_points_per_bandwidth"]),
        pad_bandwidths=float(curve["kde_pad_bandwidths"]),
        min_bins=int(curve["min_bins"]),
    )
    converged = measured.table["bin"].map(ok.set_index("bin")["converged"].astype(bool))
    return replace(measured, table=measured.table.assign(converged=converged.to_numpy()))


def _within_fit_range(table: pd.DataFrame, r_column: str, curve: dict[str, Any]) -> pd.DataFrame:
    """The rows whose radius ``r_column`` [kpc] lies in ``curve.r_range_kpc`` (the radial range of
    the halo fits); the others are named in the log."""
    lo, hi = (float(v) for v in curve["r_range_kpc"])
    inside = table[r_column].astype(float).between(lo, hi)
    if (~inside).any():
        logger.info(
            "halo_mass: %d bin(s) at r = %s kpc outside halo_mass.curve.r_range_kpc [%g, %g] left out of the fit",
            int((~inside).sum()),
            [round(float(r), 2) for r in table.loc[~inside, r_column]],
            lo,
            hi,
        )
    return table[inside]


def build_published_curve(published_curve: pd.DataFrame, curve: dict[str, Any]) -> EscapeVelocityCurve:
    """Curve from a published table (r_gc_kpc, vesc_kms, err_plus_kms, err_minus_kms); split-normal likelihood.

    Bins are numbered 1, 2, ... in order of radius.
    """
    require_columns(published_curve, PUBLISHED_VESC_COLUMNS, "published_curve")
    table = _within_fit_range(published_curve.sort_values("r_gc_kpc"), "r_gc_kpc", curve).reset_index(drop=True)
    return split_normal_curve(
        list(range(1, len(table) + 1)),
        table["r_gc_kpc"],
        table["vesc_kms"],
        table["err_minus_kms"],
        table["err_plus_kms"],
        min_bins=int(curve["min_bins"]),
    )


def build_calibrated_curve(calibrated_table: pd.DataFrame, curve: dict[str, Any]) -> EscapeVelocityCurve:
    """Curve from the calibrated per-bin table (``calibration``: bias removed, σ_sys added); split-normal likelihood.

    Uses the bins whose ``status`` is 'ok', with their r0, vesc_median and 68 % errors.
    """
    require_columns(calibrated_table, VESC_CURVE_COLUMNS, "vesc_table_calibrated")
    ok = _within_fit_range(calibrated_table[calibrated_table["status"] == "ok"].sort_values("r0"), "r0", curve)
    return split_normal_curve(
        ok["bin"].tolist(),
        ok["r0"],
        ok["vesc_median"],
        ok["vesc_err_minus"],
        ok["vesc_err_plus"],
        min_bins=int(curve["min_bins"]),
    )


def scale_curve(curve: EscapeVelocityCurve, factor: float) -> EscapeVelocityCurve:
    """Multiply every v_esc of the curve by ``factor`` (1.1 for the +10 % variant of §5)."""
    return curve.scaled(factor)


def mass_model(
    family: str,
    baryons: str,
    model: dict[str, Any],
    baryon_models: dict[str, Any],
    cosmology: dict[str, Any],
    tracer_parameter_names: tuple[str, ...] = (),
) -> MassModel:
    """The halo family ``family`` + the baryon model ``baryons`` ('fixed': ``model.baryons``;
    others: ``baryon_models[baryons].model``), with the cosmology and overdensity of the halo
    definition, and any tracer parameters sampled with them."""
    if family not in HALO_FAMILIES:
        raise ValueError(f"unknown halo family {family!r}; expected one of {sorted(HALO_FAMILIES)}")
    return MassModel(
        HALO_FAMILIES[family],
        build_baryons(baryons, model["baryons"], baryon_models),
        Cosmology.from_config(cosmology),
        float(model["overdensity"]),
        tuple(tracer_parameter_names),
    )


def halo_posterior(curve: EscapeVelocityCurve, model, priors, galaxy_frame, cosmology) -> Posterior:
    """Posterior of §5: ``model.halo_family`` + fixed baryons, flat box prior, the
    escape-velocity curve term + the Gaussian vc(R0) term."""
    mm = mass_model(model["halo_family"], "fixed", model, {}, cosmology)
    data = ConstraintData(
        curve, float(galaxy_frame["R0_kpc"]), float(galaxy_frame["vc_R0_kms"]), float(galaxy_frame["vc_R0_err_kms"])
    )
    terms = make_terms(("vesc_curve", "vc_R0"), data, boundary_r200=float(model["escape_boundary_r200"]))
    return Posterior(mm, build_prior(mm.halo_family, priors, (), {}), terms)


def fit_halo_mass(
    curve: EscapeVelocityCurve,
    model: dict[str, Any],
    priors: dict[str, list[float]],
    sampler: dict[str, Any],
    galaxy_frame: dict[str, Any],
    cosmology: dict[str, Any],
) -> dict[str, Any]:
    """emcee fit of the halo parameters to the curve plus the Gaussian vc(R0) term.

    Returns the kept chain (steps, walkers, parameters), its log posterior, the
    diagnostics, the parameters whose posterior piles up against a prior bound
    (``at_prior_edge``, each also a WARNING) and the fitted curve's table, source and scale.
    """
    posterior = halo_posterior(curve, model, priors, galaxy_frame, cosmology)
    result = run_emcee(
        posterior,
        posterior.prior,
        n_walkers=int(sampler["n_walkers"]),
        n_burn=int(sampler["n_burn"]),
        n_keep=int(sampler["n_keep"]),
        seed=int(sampler["seed"]),
        progress=bool(sampler["progress"]),
    )
    prior = posterior.prior
    edge = parameters_at_prior_edge(flat_samples(result), prior.lower, prior.upper, prior.names)
    result.update(
        curve_source=curve.source,
        vesc_scale=curve.scale,
        curve_table=curve.table.to_dict(orient="list"),
        at_prior_edge=list(edge),
    )
    logger.info(
        "halo_mass fit (%s curve x %.3f): acceptance %.2f, autocorrelation times %s",
        curve.source,
        curve.scale,
        result["diagnostics"]["acceptance_mean"],
        result["diagnostics"]["autocorr_time"],
    )
    where = f"halo_mass fit ({curve.source} curve x {curve.scale:.3f})"
    warning = convergence_warning(where, result["diagnostics"])
    if warning:
        logger.warning("%s", warning)
    if edge:
        logger.warning("%s", prior_edge_warning(where, edge))
    return result


def flat_samples(chain: dict[str, Any]) -> np.ndarray:
    """The chain's samples as one array of shape (steps x walkers, parameters)."""
    c = np.asarray(chain["chain"])
    return c.reshape(-1, c.shape[-1])


def analysis_a_model(chain: dict[str, Any], model: dict[str, Any], cosmology: dict[str, Any]) -> MassModel:
    """Analysis A's mass model (``model.halo_family`` + the fixed ``model.baryons``), checked against the chain."""
    mm = mass_model(model["halo_family"], "fixed", model, {}, cosmology)
    if tuple(chain["parameter_names"]) != mm.parameter_names:
        raise ValueError(
            f"the chain samples {chain['parameter_names']}; the {model['halo_family']} halo needs "
            f"{list(mm.parameter_names)}"
        )
    return mm


def derived_of(
    mm: MassModel,
    samples: np.ndarray,
    model: dict[str, Any],
    summary: dict[str, Any],
    galaxy_frame: dict[str, Any],
    chunk: int = 1000,
) -> dict[str, np.ndarray]:
    """``derived_samples`` of ``samples`` with the configured R0, escape boundary and mass quadrature."""
    return derived_samples(
        mm,
        samples,
        R0_kpc=float(galaxy_frame["R0_kpc"]),
        boundary_r200=float(model["escape_boundary_r200"]),
        n_nodes=int(summary["mass_quadrature_nodes"]),
        n_grid=int(summary["mass_grid_points"]),
        chunk=chunk,
    )


def estimates_from(
    derived: dict[str, np.ndarray], summary: dict[str, Any], weights: np.ndarray | None = None
) -> dict[str, dict[str, float]]:
    """Median and ``summary.interval_percentiles`` interval of every quantity of ``derived``
    (weighted percentiles with the samples' normalised ``weights``)."""
    percentiles = [float(p) for p in summary["interval_percentiles"]]
    return {key: estimate(values, percentiles, weights) for key, values in derived.items()}


def estimates_of(
    mm: MassModel,
    samples: np.ndarray,
    model: dict[str, Any],
    summary: dict[str, Any],
    galaxy_frame: dict[str, Any],
    chunk: int = 1000,
) -> dict[str, dict[str, float]]:
    """Median and ``summary.interval_percentiles`` interval of every quantity of ``derived_samples``."""
    return estimates_from(derived_of(mm, samples, model, summary, galaxy_frame, chunk), summary)


def summarise_fit(
    chain: dict[str, Any],
    model: dict[str, Any],
    summary: dict[str, Any],
    galaxy_frame: dict[str, Any],
    cosmology: dict[str, Any],
) -> dict[str, Any]:
    """Median and interval (``summary.interval_percentiles``) of the fitted and derived quantities.

    Keys: log10_M200, M200_msun, c200, r200_kpc, M_baryon_r200_msun, M_total_r200_msun
    (see ``TOTAL_MASS_DEFINITION``), vesc_R0_kms and vc_R0_kms (model at R = R0, z = 0),
    computed by ``galaxy.model.derived_samples`` as for Analysis B, plus the
    maximum-posterior sample and the MCMC diagnostics.
    """
    lo, hi = (float(p) for p in summary["interval_percentiles"])
    estimates = estimates_of(
        analysis_a_model(chain, model, cosmology), flat_samples(chain), model, summary, galaxy_frame
    )
    estimates = {key: estimates[key] for key in QUANTITIES}
    best = np.unravel_index(np.argmax(chain["log_prob"]), np.shape(chain["log_prob"]))
    return {
        "curve_source": chain["curve_source"],
        "halo_family": model["halo_family"],
        "vesc_scale": float(chain["vesc_scale"]),
        "n_bins": len(chain["curve_table"]["r0"]),
        "unconverged_bins": [
            int(b) for b, ok in zip(chain["curve_table"]["bin"], chain["curve_table"].get("converged", [])) if not ok
        ],
        "escape_boundary_r200": float(model["escape_boundary_r200"]),
        "interval_percentiles": [lo, hi],
        "estimates": estimates,
        "max_posterior": {n: float(chain["chain"][best][i]) for i, n in enumerate(chain["parameter_names"])}
        | {"log_posterior": float(np.max(chain["log_prob"]))},
        "diagnostics": chain["diagnostics"],
        "at_prior_edge": list(chain.get("at_prior_edge", [])),
    }
