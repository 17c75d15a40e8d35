"""Reports of the ``halo_mass`` pipeline: JSON summaries, Markdown tables, the mass comparison.

Units: kpc, km/s, Msun (masses shown in 1e12 Msun), GeV / cm³.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

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
    "M_total(<r200) = M200 (the halo mass inside r200) + the baryon mass inside the sphere "
    "of radius r200; Plummer bulge analytic, Miyamoto-Nagai disks by Gauss's theorem "
    "(flux of the exact potential gradient through the sphere, Gauss-Legendre in cos theta). "
    "Disk mass beyond r200 is not counted."
)


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
        f"Median and {lo:g}-{hi:g} percentile interval; {nominal['halo_family']} halo + fixed baryons, escape boundary "
        f"{nominal['escape_boundary_r200']:g} r200, v_esc of each bin at (R = r0, z = 0).",
        "",
        "| quantity | " + " | ".join(f"{n} (v_esc x {v['vesc_scale']:.2f})" for n, v in variants.items()) + " |",
        "|---|" + "---|" * len(variants),
    ]
    for key, (label, fmt) in QUANTITIES.items():
        scale = 1e12 if key.endswith("_msun") else 1.0
        lines.append(
            f"| {label} | " + " | ".join(_fmt(v["estimates"][key], fmt, scale) for v in variants.values()) + " |"
        )
    unconverged = sorted({b for v in variants.values() for b in v.get("unconverged_bins", [])})
    if unconverged:
        lines += [
            "",
            f"**Warning:** the v_esc chains of bin(s) {unconverged} did not converge and enter this fit "
            "(`halo_mass.curve.unconverged_bins: exclude` leaves them out).",
        ]
    for name, v in variants.items():
        if v.get("at_prior_edge"):
            lines += [
                "",
                f"**Warning ({name}):** the posterior of {', '.join(v['at_prior_edge'])} piles up against the edge of "
                "its prior range (`halo_mass.priors`): the interval is truncated there; widen the prior unless the "
                "bound is physical.",
            ]
    lines += ["", "MCMC diagnostics:", "", "| | " + " | ".join(variants) + " |", "|---|" + "---|" * len(variants)]
    for key in (
        "n_walkers",
        "n_steps_kept",
        "acceptance_mean",
        "steps_over_autocorr_time",
        "effective_samples",
        "converged",
    ):
        lines.append(f"| {key} | " + " | ".join(_cell(v["diagnostics"][key]) for v in variants.values()) + " |")
    lines.append(
        "| at prior edge | "
        + " | ".join(", ".join(v.get("at_prior_edge", [])) or "no" for v in variants.values())
        + " |"
    )
    lines.append(
        "| autocorr_time | "
        + " | ".join(
            ", ".join(f"{k} {t:.1f}" for k, t in v["diagnostics"]["autocorr_time"].items()) for v in variants.values()
        )
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
    "M_enclosed_<r>kpc_msun": "all mass (halo + baryons) inside the sphere of radius r = 20, 50, 100 kpc "
    "(Gauss's theorem on the potential's monopole)",
    "gc_*": "parameters of the globular clusters' double-power-law DF in actions (fits with globular_clusters)",
    "goodness": "log-likelihood (and chi2 for Gaussian terms) of each constraint at the maximum-posterior sample",
}


def analysis_b_markdown(summary: dict[str, Any]) -> str:
    """Markdown report of the combined fits: headline quantities, fit quality, diagnostics, definitions."""
    lo, hi = summary["interval_percentiles"]
    lines = [
        "# Analysis B: halo fits to the escape-velocity curve, rotation curve, K_z and globular clusters",
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
        "| halo | baryons | constraints | rotation curve | K_z | vc(R0) | ln L v_esc curve | ln L clusters "
        "| acceptance | steps / tau | converged | at prior edge | wall time [s] |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for fit in summary["fits"].values():
        g = fit["goodness"]
        cells = [
            f"{g[t]['chi2']:.1f} / {g[t]['n_points']}" if t in g else "-"
            for t in ("rotation_curve", "vertical_force", "vc_R0")
        ]
        cells += [f"{g[t]['log_likelihood']:.1f}" if t in g else "-" for t in ("vesc_curve", "globular_clusters")]
        d = fit["diagnostics"]
        cells += [f"{d['acceptance_mean']:.2f}", f"{d['steps_over_autocorr_time']:.1f}", _cell(d["converged"])]
        cells += [", ".join(fit["at_prior_edge"]) or "-", f"{fit['wall_seconds']:.0f}"]
        lines.append(
            f"| {fit['family']} | {fit['baryons']} | {' + '.join(fit['constraints'])} | " + " | ".join(cells) + " |"
        )
    lines += ["", "Definitions:", ""] + [f"- {k}: {v}" for k, v in summary["definitions"].items()]
    return "\n".join(lines) + "\n"


def staeckel_reweighting_markdown(summary: dict[str, Any]) -> str:
    """Markdown report of the globular-cluster fits re-weighted from spherical to Stäckel actions."""
    lo, hi = summary["interval_percentiles"]
    lines = [
        "# Globular-cluster fits: spherical actions vs Stäckel actions (importance re-weighting)",
        "",
        f"Data: {summary['data_label']}. Median and {lo:g}-{hi:g} percentile interval over the same posterior "
        "samples, equally weighted (spherical actions, as sampled) and re-weighted by "
        "exp(ln L_Staeckel - ln L_spherical) of the clusters (galpy's Stäckel fudge in the axisymmetric "
        f"potential, focal distances x {summary['focal_distance_scale']:g}; McMillan-type baryons through "
        "analytic stand-ins: three-Miyamoto-Nagai disks, monopoles of bulge and gas).",
        "",
    ]
    if not summary["fits"]:
        return "\n".join(lines + ["No fit uses the globular clusters."]) + "\n"
    rows = QUANTITIES_B | {
        f"M_enclosed_{r}kpc_msun": (f"M(<{r} kpc) [1e12 Msun]", "{:.3f}", 1e12) for r in ("20", "50", "100")
    }
    for name, fit in summary["fits"].items():
        d = fit["log_l_difference"]
        lines += [
            f"## {name} ({' + '.join(fit['constraints'])})",
            "",
            f"Effective sample size {fit['effective_sample_size']:.1f} of {fit['n_samples']} samples; "
            f"ln L_Staeckel - ln L_spherical: mean {d['mean']:.2f}, standard deviation {d['std']:.2f}, "
            f"range {d['min']:.2f} to {d['max']:.2f} ({d['n_non_finite']} not finite). Bound draws galpy's Stäckel "
            f"solver failed on (given their monopole actions): {100 * fit['failed_fraction']['mean']:.2f} % on average, "
            f"{100 * fit['failed_fraction']['max']:.2f} % at most.",
            "",
        ]
        columns = {
            "spherical actions": fit["estimates_spherical"],
            "Stäckel actions (re-weighted)": fit["estimates_staeckel"],
        }
        if "staeckel_mcmc" in fit:
            mcmc = fit["staeckel_mcmc"]
            diag = mcmc["diagnostics"]
            lines += [
                f"The effective sample size is low: a {mcmc['n_steps']}-step emcee run with Stäckel actions "
                f"({diag['n_walkers']} walkers started from the re-weighted samples; {diag['n_steps_kept']} steps "
                f"kept, steps / tau {diag['steps_over_autocorr_time']:.1f}, acceptance {diag['acceptance_mean']:.2f}"
                f"{'' if diag['converged'] else ', not converged'}) gives the last column.",
                "",
            ]
            columns["Stäckel actions (MCMC)"] = mcmc["estimates"]
        lines += ["| quantity | " + " | ".join(columns) + " |", "|---" * (1 + len(columns)) + "|"]
        for key, (label, fmt, scale) in rows.items():
            if key in fit["estimates_spherical"]:
                cells = [_fmt(e[key], fmt, scale) for e in columns.values()]
                lines.append(f"| {label} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)
