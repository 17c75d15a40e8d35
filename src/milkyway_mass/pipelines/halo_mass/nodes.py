"""Nodes of the ``halo_mass`` pipeline.

Analysis A (METHOD.md §5): the NFW halo mass from the escape-velocity curve.
Analysis B (§6, the ``*_analysis_b`` nodes): a grid of fits combining the
escape-velocity curve, vc(R0), a rotation curve and K_z(R, 1.1 kpc), with NFW,
Zhao or Einasto halos and fixed or McMillan (2017)-type baryons
(``milkyway_mass.galaxy.model``).

Units: kpc, km/s, Msun; K_z in (km/s)² / kpc. Model escape speeds of a bin are
evaluated at its r0 in the Galactic plane (R = r0, z = 0), to the boundary
``escape_boundary_r200`` * r200 (also in the plane).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from milkyway_mass.galaxy.constraints.data import (
    kz_from_table,
    rotation_curve_from_table,
)
from milkyway_mass.galaxy.constraints.terms import (
    ConstraintData,
    make_terms,
    term_goodness,
)
from milkyway_mass.galaxy.constraints.vesc_curve import (
    EscapeVelocityCurve,
    kde_curve,
    split_normal_curve,
)
from milkyway_mass.galaxy.fitting import (
    Posterior,
    Prior,
    estimate,
    fit_posterior,
    fit_seed,
    run_emcee,
)
from milkyway_mass.galaxy.model import (
    HALO_FAMILIES,
    FitSpec,
    MassModel,
    build_prior,
    component_kz,
    component_vc,
    derived_samples,
    fit_grid,
)
from milkyway_mass.galaxy.potentials.baryons import build_baryons
from milkyway_mass.galaxy.potentials.composite import escape_speed
from milkyway_mass.galaxy.units import Cosmology
from milkyway_mass.schemas import require_columns

logger = logging.getLogger(__name__)

SAMPLES_COLUMNS = ("bin", "r0", "v_esc")
TABLE_COLUMNS = ("bin", "r0", "status")
PUBLISHED_COLUMNS = ("r_gc_kpc", "vesc_kms", "err_plus_kms", "err_minus_kms")
CALIBRATED_COLUMNS = ("vesc_median", "vesc_err_minus", "vesc_err_plus")

#: Summary quantities: key in the summary -> (label in the Markdown table, format).
QUANTITIES = {
    "log10_M200": ("log10 M200 [Msun]", "{:.3f}"),
    "M200_msun": ("M200 [1e12 Msun]", "{:.3f}"),
    "c200": ("c200", "{:.2f}"),
    "r200_kpc": ("r200 [kpc]", "{:.1f}"),
    "M_baryon_r200_msun": ("M_baryon(<r200) [1e12 Msun]", "{:.4f}"),
    "M_total_r200_msun": ("M_total(<r200) [1e12 Msun]", "{:.3f}"),
    "vesc_R0_kms": ("v_esc(R0) [km/s]", "{:.1f}"),
    "vc_R0_kms": ("v_c(R0) [km/s]", "{:.1f}"),
}

TOTAL_MASS_DEFINITION = (
    "M_total(<r200) = M200 (the NFW mass inside r200) + the baryon mass inside the sphere "
    "of radius r200; Plummer bulge analytic, Miyamoto-Nagai disks by Gauss's theorem "
    "(flux of the exact potential gradient through the sphere, Gauss-Legendre in cos theta). "
    "Disk mass beyond r200 is not counted."
)



def build_measured_curve(
    vesc_samples: pd.DataFrame, vesc_table: pd.DataFrame, curve: dict[str, Any]
) -> EscapeVelocityCurve:
    """Curve from ``escape_velocity``'s per-bin v_esc posterior samples (KDE likelihood).

    Uses the bins whose ``status`` in ``vesc_table`` is 'ok'; samples of other bins
    are dropped and counted in the log. An 'ok' bin without samples, with NaN
    samples, or with an r0 differing from the table's is an error naming the bin.
    """
    require_columns(vesc_samples, SAMPLES_COLUMNS, "vesc_samples")
    require_columns(vesc_table, TABLE_COLUMNS, "vesc_table")
    ok = vesc_table[vesc_table["status"] == "ok"].sort_values("r0")
    skipped = vesc_samples[~vesc_samples["bin"].isin(ok["bin"])]
    if len(skipped):
        logger.info(
            "halo_mass: dropped %d v_esc samples of bin(s) %s not marked 'ok' in vesc_table",
            len(skipped), sorted(skipped["bin"].unique().tolist()),
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
    return kde_curve(
        bins,
        r0,
        samples,
        bandwidth=curve["kde_bandwidth"],
        points_per_bandwidth=float(curve["kde_points_per_bandwidth"]),
        pad_bandwidths=float(curve["kde_pad_bandwidths"]),
        min_bins=int(curve["min_bins"]),
    )


def build_published_curve(published_curve: pd.DataFrame, curve: dict[str, Any]) -> EscapeVelocityCurve:
    """Curve from a published table (r_gc_kpc, vesc_kms, err_plus_kms, err_minus_kms); split-normal likelihood.

    Bins are numbered 1, 2, ... in order of radius.
    """
    require_columns(published_curve, PUBLISHED_COLUMNS, "published_curve")
    table = published_curve.sort_values("r_gc_kpc").reset_index(drop=True)
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
    require_columns(calibrated_table, (*TABLE_COLUMNS, *CALIBRATED_COLUMNS), "vesc_table_calibrated")
    ok = calibrated_table[calibrated_table["status"] == "ok"].sort_values("r0")
    return split_normal_curve(ok["bin"].tolist(), ok["r0"], ok["vesc_median"], ok["vesc_err_minus"], ok["vesc_err_plus"],
                              min_bins=int(curve["min_bins"]))


def scale_curve(curve: EscapeVelocityCurve, factor: float) -> EscapeVelocityCurve:
    """Multiply every v_esc of the curve by ``factor`` (1.1 for the +10 % variant of §5)."""
    return curve.scaled(factor)


def mass_model(family: str, baryons: str, model: dict[str, Any], baryon_models: dict[str, Any],
               cosmology: dict[str, Any]) -> MassModel:
    """The halo family ``family`` + the baryon model ``baryons`` ('fixed': ``model.baryons``;
    others: ``baryon_models[baryons].model``), with the cosmology and overdensity of the halo definition."""
    if family not in HALO_FAMILIES:
        raise ValueError(f"unknown halo family {family!r}; expected one of {sorted(HALO_FAMILIES)}")
    return MassModel(HALO_FAMILIES[family], build_baryons(baryons, model["baryons"], baryon_models),
                     Cosmology.from_config(cosmology), float(model["overdensity"]))


def halo_posterior(curve: EscapeVelocityCurve, model, priors, galaxy_frame, cosmology) -> Posterior:
    """Posterior of §5: ``model.halo_family`` + fixed baryons, flat box prior, the
    escape-velocity curve term + the Gaussian vc(R0) term."""
    mm = mass_model(model["halo_family"], "fixed", model, {}, cosmology)
    data = ConstraintData(curve, float(galaxy_frame["R0_kpc"]), float(galaxy_frame["vc_R0_kms"]),
                          float(galaxy_frame["vc_R0_err_kms"]))
    terms = make_terms(("vesc_curve", "vc_R0"), data, boundary_r200=float(model["escape_boundary_r200"]))
    return Posterior(mm, Prior.box(mm.parameter_names, priors), terms)


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
    diagnostics and the fitted curve's table, source and scale.
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
    result.update(
        curve_source=curve.source,
        vesc_scale=curve.scale,
        curve_table=curve.table.to_dict(orient="list"),
    )
    logger.info(
        "halo_mass fit (%s curve x %.3f): acceptance %.2f, autocorrelation times %s",
        curve.source, curve.scale, result["diagnostics"]["acceptance_mean"], result["diagnostics"]["autocorr_time"],
    )
    return result


def _flat(chain: dict[str, Any]) -> np.ndarray:
    c = np.asarray(chain["chain"])
    return c.reshape(-1, c.shape[-1])


def _analysis_a_model(chain: dict[str, Any], model: dict[str, Any], cosmology: dict[str, Any]) -> MassModel:
    """Analysis A's mass model (``model.halo_family`` + the fixed ``model.baryons``), checked against the chain."""
    mm = mass_model(model["halo_family"], "fixed", model, {}, cosmology)
    if tuple(chain["parameter_names"]) != mm.parameter_names:
        raise ValueError(f"the chain samples {chain['parameter_names']}; the {model['halo_family']} halo needs "
                         f"{list(mm.parameter_names)}")
    return mm


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
    computed by ``combined_fit.derived_samples`` as for Analysis B, plus the
    maximum-posterior sample and the MCMC diagnostics.
    """
    lo, hi = (float(p) for p in summary["interval_percentiles"])
    derived = derived_samples(
        _analysis_a_model(chain, model, cosmology),
        _flat(chain),
        R0_kpc=float(galaxy_frame["R0_kpc"]),
        boundary_r200=float(model["escape_boundary_r200"]),
        n_nodes=int(summary["mass_quadrature_nodes"]),
        n_grid=int(summary["mass_grid_points"]),
    )
    estimates = {key: estimate(derived[key], (lo, hi)) for key in QUANTITIES}
    best = np.unravel_index(np.argmax(chain["log_prob"]), np.shape(chain["log_prob"]))
    return {
        "curve_source": chain["curve_source"],
        "vesc_scale": float(chain["vesc_scale"]),
        "n_bins": len(chain["curve_table"]["r0"]),
        "escape_boundary_r200": float(model["escape_boundary_r200"]),
        "interval_percentiles": [lo, hi],
        "estimates": estimates,
        "max_posterior": {
            n: float(chain["chain"][best][i]) for i, n in enumerate(chain["parameter_names"])
        } | {"log_posterior": float(np.max(chain["log_prob"]))},
        "diagnostics": chain["diagnostics"],
    }


def _fmt(estimate: dict[str, float], fmt: str, scale: float = 1.0) -> str:
    m, p, n = (estimate[k] / scale for k in ("median", "err_plus", "err_minus"))
    return f"{fmt.format(m)} +{fmt.format(p)} / -{fmt.format(n)}"


def report_halo_mass(
    nominal: dict[str, Any], corrected: dict[str, Any], published_masses: list[dict[str, Any]]
) -> tuple[dict[str, Any], str, pd.DataFrame]:
    """Combine both variants into the JSON summary, a Markdown report and the mass comparison table.

    The comparison lists the published escape-velocity masses (``published_masses``,
    1e12 Msun) beside this run's M_total(<r200) for both curves.
    """
    variants = {"nominal": nominal, "corrected": corrected}
    rows = [
        {
            "study": m["study"],
            "mass_1e12_msun": float(m["mass_1e12_msun"]),
            "err_plus_1e12_msun": float(m["err_plus_1e12_msun"]),
            "err_minus_1e12_msun": float(m["err_minus_1e12_msun"]),
            "note": m.get("note", ""),
        }
        for m in published_masses
    ]
    for name, v in variants.items():
        e = v["estimates"]["M_total_r200_msun"]
        rows.append(
            {
                "study": f"this run ({name} curve, v_esc x {v['vesc_scale']:.2f})",
                "mass_1e12_msun": e["median"] / 1e12,
                "err_plus_1e12_msun": e["err_plus"] / 1e12,
                "err_minus_1e12_msun": e["err_minus"] / 1e12,
                "note": f"M_total(<r200), {v['curve_source']} curve",
            }
        )
    comparison = pd.DataFrame(rows)

    lo, hi = nominal["interval_percentiles"]
    lines = [
        f"# Halo mass from the escape-velocity curve ({nominal['curve_source']} curve)",
        "",
        f"Median and {lo:g}-{hi:g} percentile interval; NFW halo + fixed baryons, escape boundary "
        f"{nominal['escape_boundary_r200']:g} r200, v_esc of each bin at (R = r0, z = 0).",
        "",
        "| quantity | " + " | ".join(f"{n} (v_esc x {v['vesc_scale']:.2f})" for n, v in variants.items()) + " |",
        "|---|" + "---|" * len(variants),
    ]
    for key, (label, fmt) in QUANTITIES.items():
        scale = 1e12 if key.endswith("_msun") else 1.0
        lines.append(f"| {label} | " + " | ".join(_fmt(v["estimates"][key], fmt, scale) for v in variants.values()) + " |")
    lines += ["", "MCMC diagnostics:", "", "| | " + " | ".join(variants) + " |", "|---|" + "---|" * len(variants)]
    for key in ("n_walkers", "n_steps_kept", "acceptance_mean", "steps_over_autocorr_time", "effective_samples", "converged"):
        lines.append(f"| {key} | " + " | ".join(_cell(v["diagnostics"][key]) for v in variants.values()) + " |")
    lines.append(
        "| autocorr_time | "
        + " | ".join(", ".join(f"{k} {t:.1f}" for k, t in v["diagnostics"]["autocorr_time"].items()) for v in variants.values())
        + " |"
    )
    lines += ["", TOTAL_MASS_DEFINITION, "", "Comparison with published escape-velocity masses [1e12 Msun]:", ""]
    lines += ["| study | mass | note |", "|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['study']} | {r['mass_1e12_msun']:.2f} +{r['err_plus_1e12_msun']:.2f} / -{r['err_minus_1e12_msun']:.2f} | {r['note']} |"
        )
    summary = {
        "curve_source": nominal["curve_source"],
        "definitions": {
            "interval": f"median and {lo:g}-{hi:g} percentiles of the posterior",
            "M_total_r200_msun": TOTAL_MASS_DEFINITION,
            "vesc_R0_kms": "model escape speed at (R = R0, z = 0) to the escape boundary",
        },
        "variants": variants,
        "comparison": rows,
    }
    return summary, "\n".join(lines) + "\n", comparison


def _cell(value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    return f"{value:.3g}"


def _credible_levels(hist: np.ndarray, fractions) -> list[float]:
    """Histogram levels enclosing the given probability fractions (highest density first)."""
    flat = np.sort(hist.ravel())[::-1]
    cum = np.cumsum(flat) / flat.sum()
    return sorted({float(flat[min(np.searchsorted(cum, f), flat.size - 1)]) for f in fractions})


def plot_corner(chain: dict[str, Any], figures: dict[str, Any]) -> Figure:
    """Corner plot of the sampled parameters: 1-d histograms and 2-d credible contours (68 %, 95 %)."""
    flat = _flat(chain)
    names = chain["parameter_names"]
    n = len(names)
    bins = int(figures["corner_bins"])
    fig = Figure(figsize=(2.8 * n, 2.8 * n))
    axes = fig.subplots(n, n, squeeze=False)
    for i in range(n):
        for j in range(n):
            ax = axes[i, j]
            if j > i:
                ax.set_axis_off()
                continue
            if i == j:
                ax.hist(flat[:, i], bins=bins, histtype="step", color="k")
                for q, ls in zip(np.percentile(flat[:, i], [16, 50, 84]), ("--", "-", "--")):
                    ax.axvline(q, color="C0", ls=ls, lw=1)
                ax.set_yticks([])
                med, lo, hi = np.percentile(flat[:, i], [50, 16, 84])
                ax.set_title(f"{names[i]} = {med:.4g} +{hi - med:.2g} / -{med - lo:.2g}", fontsize=9)
            else:
                h, xe, ye = np.histogram2d(flat[:, j], flat[:, i], bins=bins)
                ax.hist2d(flat[:, j], flat[:, i], bins=[xe, ye], cmap="Greys")
                levels = _credible_levels(h, [0.95, 0.68])
                if len(levels) == 2:
                    ax.contour(0.5 * (xe[1:] + xe[:-1]), 0.5 * (ye[1:] + ye[:-1]), h.T, levels=levels, colors="C0")
            if i == n - 1:
                ax.set_xlabel(names[j])
            if j == 0 and i > 0:
                ax.set_ylabel(names[i])
    fig.suptitle(f"{chain['curve_source']} curve, v_esc x {chain['vesc_scale']:.2f}")
    fig.tight_layout()
    return fig


def plot_escape_velocity_curve(
    chain: dict[str, Any],
    model: dict[str, Any],
    figures: dict[str, Any],
    galaxy_frame: dict[str, Any],
    cosmology: dict[str, Any],
) -> Figure:
    """Escape-velocity curve like Wu et al. (2025) Fig. 4.

    Measurements: 68 % boxes and 95 % whiskers (whiskers only where the curve
    gives them); the maximum-posterior total model with the band of
    ``figures.band_percentiles`` over ``figures.n_band_draws`` posterior draws; and
    the baryon-only and NFW-only escape speeds of the maximum-posterior model (same
    boundary). All in the plane, z = 0.
    """
    spec = _analysis_a_model(chain, model, cosmology)
    boundary_r200 = float(model["escape_boundary_r200"])
    r = np.linspace(float(figures["r_min_kpc"]), float(figures["r_max_kpc"]), int(figures["n_radii"]))
    flat = _flat(chain)
    rng = np.random.default_rng(int(figures["seed"]))
    draws = flat[rng.choice(len(flat), size=min(int(figures["n_band_draws"]), len(flat)), replace=False)]
    band = np.percentile(spec.build(draws).escape_speed(r, 0.0, boundary_r200), figures["band_percentiles"], axis=0)
    best_index = np.unravel_index(np.argmax(chain["log_prob"]), np.shape(chain["log_prob"]))
    best = spec.build(chain["chain"][best_index][None, :])
    boundary = best.boundary_kpc(boundary_r200)
    total = best.escape_speed(r, 0.0, boundary_r200)[0]
    baryons = escape_speed(best.baryons, r, 0.0, boundary)[0]
    halo = escape_speed((best.halo,), r, 0.0, boundary)[0]

    fig = Figure(figsize=(7.0, 4.8))
    ax = fig.subplots()
    ax.fill_between(r, band[0], band[1], color="C0", alpha=0.3, lw=0, label="total model, posterior band")
    ax.plot(r, total, color="C0", lw=2, label="total model (max posterior)")
    ax.plot(r, baryons, color="C2", ls="--", label="baryons only")
    ax.plot(r, halo, color="C3", ls=":", label="NFW halo only")
    t = pd.DataFrame(chain["curve_table"])
    width = float(figures["box_width_kpc"])
    for row in t.itertuples():
        if np.isfinite(row.vesc_lo95) and np.isfinite(row.vesc_hi95):
            ax.plot([row.r0, row.r0], [row.vesc_lo95, row.vesc_hi95], color="k", lw=1)
        ax.add_patch(
            Rectangle(
                (row.r0 - width / 2, row.vesc_lo68), width, row.vesc_hi68 - row.vesc_lo68,
                facecolor="none", edgecolor="k", lw=1,
            )
        )
        ax.plot([row.r0 - width / 2, row.r0 + width / 2], [row.vesc_median] * 2, color="k", lw=1.5)
    whiskers = "95 % whiskers" if np.isfinite(t["vesc_lo95"]).any() else "no 95 % given"
    ax.plot([], [], color="k", lw=1, label=f"{chain['curve_source']} v_esc: 68 % boxes, {whiskers}")
    ax.axvline(float(galaxy_frame["R0_kpc"]), color="0.6", lw=0.8, ls="-.")
    ax.set_xlabel("r [kpc] (model in the plane, z = 0)")
    ax.set_ylabel("v_esc [km/s]")
    ax.set_title(f"{chain['curve_source']} curve, v_esc x {chain['vesc_scale']:.2f}; boundary {boundary_r200:g} r200")
    ax.set_xlim(r[0], r[-1])
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


# --- Analysis B (METHOD.md §6) -----------------------------------------------------

#: Analysis B headline quantities: key in ``estimates`` -> (Markdown label, format, display scale).
QUANTITIES_B = {
    "M200_msun": ("M200 [1e12 Msun]", "{:.3f}", 1e12),
    "r200_kpc": ("r200 [kpc]", "{:.1f}", 1.0),
    "M_total_r200_msun": ("M_total(<r200) [1e12 Msun]", "{:.3f}", 1e12),
    "vesc_R0_kms": ("v_esc(R0) [km/s]", "{:.1f}", 1.0),
    "rho_dm_R0_gev_cm3": ("rho_DM(R0) [GeV/cm3]", "{:.3f}", 1.0),
    "vc_R0_kms": ("v_c(R0) [km/s]", "{:.1f}", 1.0),
    "c200": ("c200 = r200 / r_-2", "{:.1f}", 1.0),
}

#: Line colours of the model components in the Analysis B figures.
COMPONENT_COLOURS = {"bulge": "C1", "thin_disk": "C2", "thick_disk": "C3", "gas": "C5", "halo": "C4"}

DEFINITIONS_B = {
    "interval": "median and the interval_percentiles of the posterior samples",
    "M200_msun": "dark-halo mass inside r200 (mean density 200 rho_crit Om, the published convention)",
    "M_total_r200_msun": "M200 + baryon mass inside the sphere r200 (fixed baryons: Gauss's theorem; "
    "McMillan baryons: their total mass, < 1e-10 of it lies beyond 100 kpc)",
    "vesc_R0_kms": "model escape speed at (R = R0, z = 0) to the boundary escape_boundary_r200 * r200 in the plane",
    "rho_dm_R0_gev_cm3": "dark-matter density at (R = R0, z = 0) in GeV/cm3",
    "q": "axis ratio of an oblate halo (families <name>_oblate): density of the spherical profile at "
    "m^2 = R^2 + z^2/q^2; its r200 is a semi-major axis and M200 = q x the spherical profile's M200",
    "vc_R0_kms": "model circular speed at (R = R0, z = 0)",
    "c200": "r200 / r_-2, r_-2 the radius of logarithmic density slope -2 (NFW and Einasto: r_s)",
    "goodness": "log-likelihood (and chi2 for Gaussian terms) of each constraint at the maximum-posterior sample",
}


def _select_range(table: pd.DataFrame, R_range, min_points, what: str) -> pd.DataFrame:
    lo, hi = (float(v) for v in R_range)
    keep = table["R_kpc"].between(lo, hi)
    if (~keep).any():
        logger.info("halo_mass analysis B: %s: %d of %d points outside R = [%g, %g] kpc not used", what, int((~keep).sum()), len(table), lo, hi)
    out = table[keep].reset_index(drop=True)
    if len(out) < int(min_points):
        raise ValueError(f"{what}: {len(out)} point(s) in R = [{lo:g}, {hi:g}] kpc; the fit needs at least {min_points}")
    return out


def build_rotation_curve_constraint(table: pd.DataFrame, rotation_curve: dict[str, Any]) -> pd.DataFrame:
    """Validated rotation curve (``constraint_data.ROTATION_CURVE_COLUMNS``) from a table with
    the Eilers et al. (2019) columns R, v_c, err+, err- [kpc, km/s].

    The order of the error columns is ``rotation_curve.error_columns`` (mean |
    plus_minus | minus_plus); points outside ``R_range_kpc`` are dropped (counted in the log).
    """
    rc = rotation_curve_from_table(table, rotation_curve["error_columns"], source="rotation-curve table")
    return _select_range(rc, rotation_curve["R_range_kpc"], rotation_curve["min_points"], "rotation curve")


def build_vertical_force_constraint(table: pd.DataFrame, vertical_force: dict[str, Any]) -> pd.DataFrame:
    """Validated K_z(R, |z| = 1.1 kpc) (``constraint_data.KZ_COLUMNS``, K_z in (km/s)²/kpc) from a
    table in the Bovy & Rix (2013) layout (8 unnamed columns); points outside ``R_range_kpc`` dropped."""
    kz = kz_from_table(table, source="K_z table")
    return _select_range(kz, vertical_force["R_range_kpc"], vertical_force["min_points"], "K_z table")


def _fit_specs(analysis_b: dict[str, Any]) -> list[FitSpec]:
    return fit_grid(analysis_b["grid"], analysis_b["constraint_sets"], analysis_b.get("extra_fits") or [])


def _mass_model(spec: FitSpec, model: dict[str, Any], analysis_b: dict[str, Any], cosmology) -> MassModel:
    return mass_model(spec.family, spec.baryons, model, analysis_b["baryon_models"], cosmology)


def _baryon_priors(spec: FitSpec, analysis_b: dict[str, Any]) -> dict[str, Any]:
    return (analysis_b["baryon_models"].get(spec.baryons) or {}).get("priors", {})


def _halo_config(spec: FitSpec, analysis_b: dict[str, Any]) -> dict[str, Any]:
    if spec.family not in analysis_b["halos"]:
        raise ValueError(f"fit {spec.name}: no priors/start for the {spec.family} halo under analysis_b.halos")
    return analysis_b["halos"][spec.family]


def _start(spec: FitSpec, names, analysis_b: dict[str, Any]) -> np.ndarray:
    start = dict(_halo_config(spec, analysis_b)["start"])
    start |= {n: p["mean"] for n, p in _baryon_priors(spec, analysis_b).items()}
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


def fit_analysis_b(
    vesc_curve: EscapeVelocityCurve,
    rotation_curve: pd.DataFrame,
    vertical_force: pd.DataFrame,
    model: dict[str, Any],
    analysis_b: dict[str, Any],
    galaxy_frame: dict[str, Any],
    cosmology: dict[str, Any],
    data_label: str,
) -> dict[str, Any]:
    """Run every fit of the grid (``analysis_b.grid`` x ..., plus ``extra_fits``);
    ``data_label`` describes the data in the outputs.

    Each fit: Nelder–Mead maximum from the configured start, then emcee around it
    (first ``burn_fraction`` of the steps discarded). Returns, per fit name
    ``<family>.<baryons>.<constraint set>``: the kept chain (float32, thinned by
    ``store_thin``), log posterior, diagnostics, optimizer result, the
    maximum-posterior sample and each constraint's goodness there.
    """
    data = ConstraintData(
        vesc_curve, float(galaxy_frame["R0_kpc"]), float(galaxy_frame["vc_R0_kms"]), float(galaxy_frame["vc_R0_err_kms"]),
        rotation_curve, vertical_force,
    )
    fits = {}
    for spec in _fit_specs(analysis_b):
        combined = _mass_model(spec, model, analysis_b, cosmology)
        prior = build_prior(
            combined.halo_family, _halo_config(spec, analysis_b)["priors"], combined.baryons.parameter_names,
            _baryon_priors(spec, analysis_b),
        )
        terms = make_terms(
            spec.constraints, data, boundary_r200=float(model["escape_boundary_r200"]),
            frac_systematic=float(analysis_b["rotation_curve"]["frac_systematic"]),
        )
        posterior = Posterior(combined, prior, terms)
        settings = _sampler_settings(spec, analysis_b["sampler"])
        result = fit_posterior(
            posterior, _start(spec, prior.names, analysis_b), analysis_b["optimizer"], settings,
            fit_seed(settings["seed"], spec.name), label=spec.name,
        )
        flat, flat_lp = _flat(result), np.ravel(result["log_prob"])
        candidates = np.vstack([flat[np.argmax(flat_lp)], result["optimizer"]["x"]])
        lp = posterior(candidates)
        best = candidates[int(np.argmax(lp))]
        galaxy = combined.build(best[None, :])
        fits[spec.name] = {
            "family": spec.family, "baryons": spec.baryons, "constraint_set": spec.constraint_set,
            "constraints": list(spec.constraints), "parameter_names": list(prior.names),
            "chain": result["chain"].astype(np.float32), "log_prob": result["log_prob"].astype(np.float32),
            "acceptance_fraction": result["acceptance_fraction"], "diagnostics": result["diagnostics"],
            "optimizer": result["optimizer"], "seed": result["seed"], "n_burn": result["n_burn"],
            "store_thin": result["store_thin"], "sampler": settings,
            "max_posterior": dict(zip(prior.names, best.tolist())) | {"log_posterior": float(np.max(lp))},
            "goodness": {t.name: term_goodness(t, galaxy) for t in terms},
        }
        logger.info(
            "halo_mass analysis B %s: max log posterior %.2f, acceptance %.2f, steps / tau %.1f",
            spec.name, float(np.max(lp)), result["diagnostics"]["acceptance_mean"],
            result["diagnostics"]["steps_over_autocorr_time"],
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
    constraint's goodness there, the optimizer result and the MCMC diagnostics.
    """
    cfg = analysis_b["summary"]
    percentiles = [float(p) for p in cfg["interval_percentiles"]]
    rng = np.random.default_rng(int(cfg["seed"]))
    fits, rows = {}, []
    for name, fit in chains["fits"].items():
        combined = _mass_model(_fit_spec(fit), model, analysis_b, cosmology)
        samples = _subsample(_flat(fit).astype(float), int(cfg["max_samples"]), rng)
        derived = derived_samples(
            combined, samples, R0_kpc=float(galaxy_frame["R0_kpc"]), boundary_r200=float(model["escape_boundary_r200"]),
            n_nodes=int(cfg["mass_quadrature_nodes"]), n_grid=int(cfg["mass_grid_points"]), chunk=int(cfg["chunk_size"]),
        )
        estimates = {k: estimate(v, percentiles) for k, v in derived.items()}
        optimizer = {k: v for k, v in fit["optimizer"].items() if k != "x"}
        fits[name] = {
            k: fit[k] for k in ("family", "baryons", "constraint_set", "constraints", "parameter_names")
        } | {
            "n_samples_summarised": len(samples),
            "estimates": estimates,
            "max_posterior": fit["max_posterior"],
            "goodness": fit["goodness"],
            "optimizer": optimizer | {"x": dict(zip(fit["parameter_names"], fit["optimizer"]["x"]))},
            "diagnostics": fit["diagnostics"],
        }
        row = {k: fit[k] for k in ("family", "baryons", "constraint_set")} | {
            "fit": name, "constraints": "+".join(fit["constraints"]),
        }
        for key in (*QUANTITIES_B, "log10_M200", "M_baryon_r200_msun", *(["q"] if "q" in estimates else [])):
            e = estimates[key]
            row |= {f"{key}_median": e["median"], f"{key}_err_minus": e["err_minus"], f"{key}_err_plus": e["err_plus"]}
        for term, g in fit["goodness"].items():
            row |= {f"lnL_{term}": g["log_likelihood"]} | ({f"chi2_{term}": g["chi2"]} if "chi2" in g else {})
        d = fit["diagnostics"]
        row |= {k: d[k] for k in ("acceptance_mean", "steps_over_autocorr_time", "effective_samples", "converged")}
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
    return summary, table, _markdown_b(summary)


def _markdown_b(summary: dict[str, Any]) -> str:
    lo, hi = summary["interval_percentiles"]
    lines = [
        "# Analysis B: halo fits to the escape-velocity curve, rotation curve and K_z",
        "",
        f"Data: {summary['data_label']} (v_esc curve: {summary['vesc_curve_source']}, x {summary['vesc_scale']:.2f}). "
        f"Median and {lo:g}-{hi:g} percentile interval; escape boundary {summary['escape_boundary_r200']:g} r200.",
        "",
        "| halo | baryons | constraints | " + " | ".join(v[0] for v in QUANTITIES_B.values()) + " |",
        "|---|---|---|" + "---|" * len(QUANTITIES_B),
    ]
    for fit in summary["fits"].values():
        cells = [_fmt(fit["estimates"][k], fmt, scale) for k, (_, fmt, scale) in QUANTITIES_B.items()]
        halo = fit["family"] + (f" (q = {_fmt(fit['estimates']['q'], '{:.2f}')})" if "q" in fit["estimates"] else "")
        lines.append(f"| {halo} | {fit['baryons']} | {' + '.join(fit['constraints'])} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Fit quality at the maximum posterior (chi2 / points) and MCMC diagnostics:",
        "",
        "| halo | baryons | constraints | rotation curve | K_z | vc(R0) | ln L v_esc curve | acceptance | steps / tau | converged |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for fit in summary["fits"].values():
        g = fit["goodness"]
        cells = [
            f"{g[t]['chi2']:.1f} / {g[t]['n_points']}" if t in g else "-" for t in ("rotation_curve", "vertical_force", "vc_R0")
        ]
        cells.append(f"{g['vesc_curve']['log_likelihood']:.1f}" if "vesc_curve" in g else "-")
        d = fit["diagnostics"]
        cells += [f"{d['acceptance_mean']:.2f}", f"{d['steps_over_autocorr_time']:.1f}", _cell(d["converged"])]
        lines.append(f"| {fit['family']} | {fit['baryons']} | {' + '.join(fit['constraints'])} | " + " | ".join(cells) + " |")
    lines += ["", "Definitions:", ""] + [f"- {k}: {v}" for k, v in summary["definitions"].items()]
    return "\n".join(lines) + "\n"


def predict_analysis_b_curves(
    chains: dict[str, Any],
    vertical_force: pd.DataFrame,
    model: dict[str, Any],
    analysis_b: dict[str, Any],
    cosmology: dict[str, Any],
) -> pd.DataFrame:
    """Posterior bands of each fit's model curves, long format.

    Columns: fit, quantity (vc_kms: circular speed in the plane; kz_kms2_kpc: K_z at
    the height of ``vertical_force``; vesc_kms: escape speed in the plane), component
    (each baryon component, halo, total; signed sqrt(vc²) for vc, total only for
    v_esc), R_kpc, median, lo, hi (``figures.band_percentiles``) over
    ``figures.n_band_draws`` posterior draws.
    """
    cfg = analysis_b["figures"]
    rng = np.random.default_rng(int(cfg["seed"]))
    pct = [float(cfg["band_percentiles"][0]), 50.0, float(cfg["band_percentiles"][1])]
    grids = {q: np.linspace(*(float(v) for v in cfg[f"{q}_R_range_kpc"]), int(cfg["n_radii"])) for q in ("vc", "kz", "vesc")}
    z = float(np.unique(vertical_force["z_kpc"])[0])
    frames = []
    for name, fit in chains["fits"].items():
        combined = _mass_model(_fit_spec(fit), model, analysis_b, cosmology)
        draws = _subsample(_flat(fit).astype(float), int(cfg["n_band_draws"]), rng)
        curves = {
            "vc_kms": (grids["vc"], component_vc(combined, draws, grids["vc"])),
            "kz_kms2_kpc": (grids["kz"], component_kz(combined, draws, grids["kz"], z)),
            "vesc_kms": (grids["vesc"], {"total": combined.build(draws).escape_speed(grids["vesc"], 0.0, float(model["escape_boundary_r200"]))}),
        }
        for quantity, (R, components) in curves.items():
            for component, values in components.items():
                lo, med, hi = np.percentile(np.broadcast_to(values, (len(draws), R.size)), pct, axis=0)
                frames.append(pd.DataFrame({
                    "fit": name, "quantity": quantity, "component": component, "R_kpc": R, "median": med, "lo": lo, "hi": hi,
                }))
    return pd.concat(frames, ignore_index=True)


def _plot_curve_grid(
    curves: pd.DataFrame, quantity: str, points: pd.DataFrame, summary: dict[str, Any], constraint: str,
    ylabel: str, title: str, figures: dict[str, Any],
) -> Figure:
    """One panel per fit (rows: baryons x constraint set, columns: halo family): data points
    (``points``: x, y, err_minus, err_plus), the total model's band and median, and the
    median of each component."""
    fits = summary["fits"]
    families = list(dict.fromkeys(f["family"] for f in fits.values()))
    rows = list(dict.fromkeys((f["baryons"], f["constraint_set"]) for f in fits.values()))
    size = [float(v) for v in figures["panel_size_in"]]
    fig = Figure(figsize=(size[0] * len(families), size[1] * len(rows)))
    axes = fig.subplots(len(rows), len(families), squeeze=False, sharex=True, sharey=True)
    used = set()
    for name, fit in fits.items():
        ax = axes[rows.index((fit["baryons"], fit["constraint_set"])), families.index(fit["family"])]
        used.add(id(ax))
        c = curves[(curves["fit"] == name) & (curves["quantity"] == quantity)]
        total = c[c["component"] == "total"]
        ax.fill_between(total["R_kpc"], total["lo"], total["hi"], color="C0", alpha=0.3, lw=0, label="total, 68 % band")
        ax.plot(total["R_kpc"], total["median"], color="C0", lw=1.8, label="total (median)")
        for component, part in c.groupby("component", sort=False):
            if component != "total":
                color = COMPONENT_COLOURS.get(component, "0.5")
                ax.plot(part["R_kpc"], part["median"], color=color, ls="--", lw=1, label=component)
        ax.errorbar(
            points["x"], points["y"], yerr=[points["err_minus"], points["err_plus"]],
            fmt="o", ms=2.5, color="k", elinewidth=0.8, label="data",
        )
        status = "fitted" if constraint in fit["constraints"] else "not fitted (prediction)"
        ax.set_title(f"{name}\n{status}", fontsize=8)
    for ax in axes.ravel():
        if id(ax) not in used:
            ax.set_axis_off()
    for ax in axes[-1]:
        ax.set_xlabel("R [kpc]")
    for ax in axes[:, 0]:
        ax.set_ylabel(ylabel)
    legend = {}
    for ax in axes.ravel():
        for handle, label in zip(*ax.get_legend_handles_labels()):
            legend.setdefault(label, handle)
    fig.legend(legend.values(), legend.keys(), loc="upper center", ncol=min(len(legend), 8), fontsize=8, bbox_to_anchor=(0.5, 1.0))
    fig.suptitle(f"{title}; {summary['data_label']}", y=1.03, fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    return fig


def plot_rotation_curve_analysis_b(
    curves: pd.DataFrame, rotation_curve: pd.DataFrame, summary: dict[str, Any], analysis_b: dict[str, Any]
) -> Figure:
    """Circular speed in the plane of every fit (band, components) against the rotation curve."""
    points = pd.DataFrame({
        "x": rotation_curve["R_kpc"], "y": rotation_curve["vc_kms"],
        "err_minus": rotation_curve["vc_err_down_kms"], "err_plus": rotation_curve["vc_err_up_kms"],
    })
    return _plot_curve_grid(curves, "vc_kms", points, summary, "rotation_curve", "v_c [km/s]", "Rotation curve (z = 0)", analysis_b["figures"])


def plot_vertical_force_analysis_b(
    curves: pd.DataFrame, vertical_force: pd.DataFrame, summary: dict[str, Any], analysis_b: dict[str, Any]
) -> Figure:
    """K_z at the measured height of every fit (band, components) against the K_z table."""
    err = vertical_force["kz_err_kms2_kpc"]
    points = pd.DataFrame({"x": vertical_force["R_kpc"], "y": vertical_force["kz_kms2_kpc"], "err_minus": err, "err_plus": err})
    z = float(np.unique(vertical_force["z_kpc"])[0])
    return _plot_curve_grid(
        curves, "kz_kms2_kpc", points, summary, "vertical_force", "K_z [(km/s)^2/kpc]", f"Vertical force at |z| = {z:g} kpc",
        analysis_b["figures"],
    )


def plot_vesc_analysis_b(
    curves: pd.DataFrame, vesc_curve: EscapeVelocityCurve, summary: dict[str, Any], analysis_b: dict[str, Any]
) -> Figure:
    """Escape speed in the plane of every fit (band) against the escape-velocity curve (68 % intervals)."""
    t = vesc_curve.table
    points = pd.DataFrame({
        "x": t["r0"], "y": t["vesc_median"], "err_minus": t["vesc_median"] - t["vesc_lo68"], "err_plus": t["vesc_hi68"] - t["vesc_median"],
    })
    return _plot_curve_grid(curves, "vesc_kms", points, summary, "vesc_curve", "v_esc [km/s]", "Escape speed (z = 0)", analysis_b["figures"])
