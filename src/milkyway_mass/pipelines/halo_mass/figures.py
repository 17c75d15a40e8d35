"""Figures of the ``halo_mass`` pipeline: corner plots, the escape-velocity curve with the
fitted model (Wu et al. 2025 Fig. 4), and the model curves of every combined fit against
the rotation curve, K_z and v_esc data (in the Galactic plane, z = 0), and their enclosed
mass M(<r) in spheres.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from milkyway_mass.galaxy.constraints.vesc_curve import EscapeVelocityCurve
from milkyway_mass.galaxy.potentials.composite import escape_speed
from milkyway_mass.plotting import corner_plot

from .nodes import analysis_a_model, flat_samples


def plot_corner(chain: dict[str, Any], figures: dict[str, Any]) -> Figure:
    """Corner plot of the sampled halo parameters (68 % and 95 % contours, 16/50/84 % quantiles)."""
    return corner_plot(
        {"posterior": flat_samples(chain)},
        chain["parameter_names"],
        f"{chain['curve_source']} curve, v_esc x {chain['vesc_scale']:.2f}",
        int(figures["corner_bins"]),
    )


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
    the baryon-only and halo-only escape speeds of the maximum-posterior model (same
    boundary). All in the plane, z = 0.
    """
    spec = analysis_a_model(chain, model, cosmology)
    boundary_r200 = float(model["escape_boundary_r200"])
    r = np.linspace(float(figures["r_min_kpc"]), float(figures["r_max_kpc"]), int(figures["n_radii"]))
    flat = flat_samples(chain)
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
    ax.plot(r, halo, color="C3", ls=":", label=f"{model['halo_family']} halo only")
    t = pd.DataFrame(chain["curve_table"])
    width = float(figures["box_width_kpc"])
    for row in t.itertuples():
        if np.isfinite(row.vesc_err95_minus) and np.isfinite(row.vesc_err95_plus):
            ax.plot(
                [row.r0, row.r0],
                [row.vesc_median - row.vesc_err95_minus, row.vesc_median + row.vesc_err95_plus],
                color="k",
                lw=1,
            )
        ax.add_patch(
            Rectangle(
                (row.r0 - width / 2, row.vesc_median - row.vesc_err_minus),
                width,
                row.vesc_err_minus + row.vesc_err_plus,
                facecolor="none",
                edgecolor="k",
                lw=1,
            )
        )
        ax.plot([row.r0 - width / 2, row.r0 + width / 2], [row.vesc_median] * 2, color="k", lw=1.5)
    whiskers = "95 % whiskers" if np.isfinite(t["vesc_err95_minus"]).any() else "no 95 % given"
    ax.plot([], [], color="k", lw=1, label=f"{chain['curve_source']} v_esc: 68 % boxes, {whiskers}")
    ax.axvline(float(galaxy_frame["R0_kpc"]), color="0.6", lw=0.8, ls="-.")
    ax.set_xlabel("r [kpc] (model in the plane, z = 0)")
    ax.set_ylabel("v_esc [km/s]")
    ax.set_title(f"{chain['curve_source']} curve, v_esc x {chain['vesc_scale']:.2f}; boundary {boundary_r200:g} r200")
    ax.set_xlim(r[0], r[-1])
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


#: Line colours of the model components in the Analysis B figures.
COMPONENT_COLOURS = {"bulge": "C1", "thin_disk": "C2", "thick_disk": "C3", "gas": "C5", "halo": "C4"}


def _plot_curve_grid(
    curves: pd.DataFrame,
    quantity: str,
    points: pd.DataFrame,
    summary: dict[str, Any],
    constraint: str,
    ylabel: str,
    title: str,
    figures: dict[str, Any],
    points_label: str = "data",
    xlabel: str = "R [kpc]",
    log: bool = False,
) -> Figure:
    """One panel per fit (rows: baryons x constraint set, columns: halo family): points
    (``points``: x, y, err_minus, err_plus; or a mapping fit name -> such a table, fits
    without one get none), the total model's band and median, and the median of each
    component; ``log``: logarithmic axes."""
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
        shown = points.get(name) if isinstance(points, dict) else points
        if shown is not None:
            ax.errorbar(
                shown["x"],
                shown["y"],
                yerr=[shown["err_minus"], shown["err_plus"]],
                fmt="o",
                ms=2.5,
                color="k",
                elinewidth=0.8,
                label=points_label,
            )
        if log:
            ax.set_xscale("log")
            ax.set_yscale("log")
        status = "fitted" if constraint in fit["constraints"] else "not fitted (prediction)"
        ax.set_title(f"{name}\n{status}", fontsize=8)
    for ax in axes.ravel():
        if id(ax) not in used:
            ax.set_axis_off()
    for ax in axes[-1]:
        ax.set_xlabel(xlabel)
    for ax in axes[:, 0]:
        ax.set_ylabel(ylabel)
    legend = {}
    for ax in axes.ravel():
        for handle, label in zip(*ax.get_legend_handles_labels()):
            legend.setdefault(label, handle)
    fig.legend(
        legend.values(),
        legend.keys(),
        loc="upper center",
        ncol=min(len(legend), 8),
        fontsize=8,
        bbox_to_anchor=(0.5, 1.0),
    )
    fig.suptitle(f"{title}; {summary['data_label']}", y=1.03, fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    return fig


def plot_rotation_curve_analysis_b(
    curves: pd.DataFrame, rotation_curve: pd.DataFrame, summary: dict[str, Any], analysis_b: dict[str, Any]
) -> Figure:
    """Circular speed in the plane of every fit (band, components) against the rotation curve."""
    points = pd.DataFrame(
        {
            "x": rotation_curve["R_kpc"],
            "y": rotation_curve["vc_kms"],
            "err_minus": rotation_curve["vc_err_down_kms"],
            "err_plus": rotation_curve["vc_err_up_kms"],
        }
    )
    return _plot_curve_grid(
        curves,
        "vc_kms",
        points,
        summary,
        "rotation_curve",
        "v_c [km/s]",
        "Rotation curve (z = 0)",
        analysis_b["figures"],
    )


def plot_vertical_force_analysis_b(
    curves: pd.DataFrame, vertical_force: pd.DataFrame, summary: dict[str, Any], analysis_b: dict[str, Any]
) -> Figure:
    """K_z at the measured height of every fit (band, components) against the K_z table."""
    err = vertical_force["kz_err_kms2_kpc"]
    points = pd.DataFrame(
        {"x": vertical_force["R_kpc"], "y": vertical_force["kz_kms2_kpc"], "err_minus": err, "err_plus": err}
    )
    z = float(np.unique(vertical_force["z_kpc"])[0])
    return _plot_curve_grid(
        curves,
        "kz_kms2_kpc",
        points,
        summary,
        "vertical_force",
        "K_z [(km/s)^2/kpc]",
        f"Vertical force at |z| = {z:g} kpc",
        analysis_b["figures"],
    )


def plot_vesc_analysis_b(
    curves: pd.DataFrame, vesc_curve: EscapeVelocityCurve, summary: dict[str, Any], analysis_b: dict[str, Any]
) -> Figure:
    """Escape speed in the plane of every fit (band) against the escape-velocity curve (68 % intervals)."""
    t = vesc_curve.table
    points = pd.DataFrame(
        {
            "x": t["r0"],
            "y": t["vesc_median"],
            "err_minus": t["vesc_err_minus"],
            "err_plus": t["vesc_err_plus"],
        }
    )
    return _plot_curve_grid(
        curves, "vesc_kms", points, summary, "vesc_curve", "v_esc [km/s]", "Escape speed (z = 0)", analysis_b["figures"]
    )


def plot_enclosed_mass_analysis_b(
    curves: pd.DataFrame, gc_staeckel: dict[str, Any], summary: dict[str, Any], analysis_b: dict[str, Any]
) -> Figure:
    """Mass inside the sphere of radius r of every fit (band of the posterior as sampled, halo
    and baryon components) and, for the globular-cluster fits, the enclosed masses at 20, 50
    and 100 kpc with Stäckel actions (``reweight_globular_cluster_fits``: re-weighted, or from
    its Stäckel MCMC where the re-weighting left too few effective samples)."""
    points = {}
    for name, fit in gc_staeckel["fits"].items():
        staeckel = fit["staeckel_mcmc"]["estimates"] if "staeckel_mcmc" in fit else fit["estimates_staeckel"]
        e = {k: v for k, v in staeckel.items() if k.startswith("M_enclosed_")}
        points[name] = pd.DataFrame(
            {
                "x": [float(k.removeprefix("M_enclosed_").removesuffix("kpc_msun")) for k in e],
                "y": [v["median"] for v in e.values()],
                "err_minus": [v["err_minus"] for v in e.values()],
                "err_plus": [v["err_plus"] for v in e.values()],
            }
        )
    fig = _plot_curve_grid(
        curves,
        "M_enclosed_msun",
        points,
        summary,
        "globular_clusters",
        "M(<r) [Msun]",
        "Enclosed mass (clusters fitted or not; points: Stäckel actions)",
        analysis_b["figures"],
        points_label="Stäckel actions",
        xlabel="r [kpc]",
        log=True,
    )
    for ax in fig.axes:
        ax.set_ylim(bottom=1e8)  # the gas's tiny inner mass would squeeze the total's band
    return fig
