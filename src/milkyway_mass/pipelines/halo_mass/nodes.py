"""Nodes of the ``halo_mass`` pipeline: the dark-halo mass from the escape-velocity curve (METHOD.md §5).

Units: kpc, km/s, Msun. Model escape speeds of a bin are evaluated at its r0 in
the Galactic plane (R = r0, z = 0), to the boundary ``escape_boundary_r200`` * r200
(also in the plane).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from milkyway_mass.mass_likelihood import (
    BoxPrior,
    CircularSpeedTerm,
    EscapeVelocityCurve,
    EscapeVelocityTerm,
    HaloPosterior,
    derived_quantities,
    kde_curve,
    run_emcee,
    split_normal_curve,
)
from milkyway_mass.mass_model import MassModelSpec, escape_speed

logger = logging.getLogger(__name__)

SAMPLES_COLUMNS = ("bin", "r0", "v_esc")
TABLE_COLUMNS = ("bin", "r0", "status")
PUBLISHED_COLUMNS = ("r_gc_kpc", "vesc_kms", "err_plus_kms", "err_minus_kms")

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


def _require_columns(df: pd.DataFrame, columns, dataset: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{dataset} lacks column(s) {missing}; has {list(df.columns)}")


def build_measured_curve(
    vesc_samples: pd.DataFrame, vesc_table: pd.DataFrame, curve: dict[str, Any]
) -> EscapeVelocityCurve:
    """Curve from ``escape_velocity``'s per-bin v_esc posterior samples (KDE likelihood).

    Uses the bins whose ``status`` in ``vesc_table`` is 'ok'; samples of other bins
    are dropped and counted in the log. An 'ok' bin without samples, with NaN
    samples, or with an r0 differing from the table's is an error naming the bin.
    """
    _require_columns(vesc_samples, SAMPLES_COLUMNS, "vesc_samples")
    _require_columns(vesc_table, TABLE_COLUMNS, "vesc_table")
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
    _require_columns(published_curve, PUBLISHED_COLUMNS, "published_curve")
    table = published_curve.sort_values("r_gc_kpc").reset_index(drop=True)
    return split_normal_curve(
        list(range(1, len(table) + 1)),
        table["r_gc_kpc"],
        table["vesc_kms"],
        table["err_minus_kms"],
        table["err_plus_kms"],
        min_bins=int(curve["min_bins"]),
    )


def scale_curve(curve: EscapeVelocityCurve, factor: float) -> EscapeVelocityCurve:
    """Multiply every v_esc of the curve by ``factor`` (1.1 for the +10 % variant of §5)."""
    return curve.scaled(factor)


def halo_posterior(curve: EscapeVelocityCurve, model, priors, galaxy_frame, cosmology) -> HaloPosterior:
    """Posterior of §5: box prior + escape-velocity curve term + Gaussian vc(R0) term."""
    spec = MassModelSpec.from_config(model, cosmology)
    terms = (
        EscapeVelocityTerm(curve, float(model["escape_boundary_r200"])),
        CircularSpeedTerm(
            np.array([galaxy_frame["R0_kpc"]], dtype=float),
            np.array([galaxy_frame["vc_R0_kms"]], dtype=float),
            np.array([galaxy_frame["vc_R0_err_kms"]], dtype=float),
            name="vc_R0",
        ),
    )
    return HaloPosterior(spec, BoxPrior.from_config(spec.parameter_names, priors), terms)


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
    plus the maximum-posterior sample and the MCMC diagnostics.
    """
    lo, hi = (float(p) for p in summary["interval_percentiles"])
    d = derived_quantities(
        MassModelSpec.from_config(model, cosmology),
        _flat(chain),
        R0_kpc=float(galaxy_frame["R0_kpc"]),
        boundary_r200=float(model["escape_boundary_r200"]),
        n_nodes=int(summary["mass_quadrature_nodes"]),
        n_grid=int(summary["mass_grid_points"]),
    )
    renamed = {
        "log10_M200": d["log10_M200"], "M200_msun": d["M200"], "c200": d["c200"], "r200_kpc": d["r200"],
        "M_baryon_r200_msun": d["M_baryon_r200"], "M_total_r200_msun": d["M_total_r200"],
        "vesc_R0_kms": d["vesc_R0"], "vc_R0_kms": d["vc_R0"],
    }
    estimates = {}
    for key, values in renamed.items():
        q_lo, med, q_hi = np.percentile(values, [lo, 50.0, hi])
        estimates[key] = {
            "median": float(med), "lo": float(q_lo), "hi": float(q_hi),
            "err_minus": float(med - q_lo), "err_plus": float(q_hi - med),
        }
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
    spec = MassModelSpec.from_config(model, cosmology)
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
    baryons = escape_speed(spec.baryons, r, 0.0, boundary)[0]
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
