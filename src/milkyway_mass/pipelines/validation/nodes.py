"""Nodes of the `validation` pipeline: compare the analysis of the mock with its truth.

Only meaningful on the embedded mock (it reads ``mock_truth`` and
``mock_truth_stars``); it is part of ``__default__`` but not of ``analysis``.
Pulls are (measured − true)/σ with σ the 68 % half-width on the side of the truth.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd


def halo_cut_vs_truth(truth_stars: pd.DataFrame, **high_velocity: pd.DataFrame) -> pd.DataFrame:
    """Share of each true population kept by the halo/disk cut, per binning.

    ``high_velocity`` maps binning name → its high-velocity stars (before the
    halo cut, with the ``is_halo`` flag). Columns: binning, population,
    n_high_velocity, n_kept, fraction_kept.
    """
    rows = []
    labels = truth_stars.set_index("obsid")["population"]
    for binning, stars in high_velocity.items():
        pop = stars["obsid"].map(labels).fillna("unknown")
        for name, group in stars.groupby(pop):
            rows.append(
                {
                    "binning": binning,
                    "population": name,
                    "n_high_velocity": len(group),
                    "n_kept": int(group["is_halo"].sum()),
                    "fraction_kept": float(group["is_halo"].mean()),
                }
            )
    return pd.DataFrame(rows)


def true_vesc(mock_truth: dict, r_kpc) -> np.ndarray:
    """The mock's true escape speed [km/s] at r [kpc] (log-log interpolation of the truth grid)."""
    curve = mock_truth["vesc_curve"]
    return np.exp(np.interp(np.log(r_kpc), np.log(curve["r_kpc"]), np.log(curve["vesc_kms"])))


def vesc_recovery(mock_truth: dict, *vesc_tables: pd.DataFrame) -> pd.DataFrame:
    """Per-bin measured v_esc(r0) against the truth: pull, ratio and 68 % coverage, with the
    bin's ``converged`` flag.

    Skipped bins (status other than 'ok') are listed with NaN pulls.
    """
    table = pd.concat(vesc_tables, ignore_index=True)
    columns = [
        "binning",
        "bin",
        "r0",
        "n_stars",
        "status",
        "converged",
        "vesc_median",
        "vesc_err_minus",
        "vesc_err_plus",
    ]
    out = table[columns].copy()
    out["vesc_true"] = true_vesc(mock_truth, out["r0"].to_numpy(float))
    diff = out["vesc_median"] - out["vesc_true"]
    sigma = np.where(diff > 0, out["vesc_err_minus"], out["vesc_err_plus"])
    out["pull"] = diff / sigma
    out["ratio"] = out["vesc_median"] / out["vesc_true"]
    out["within_68"] = (out["vesc_true"] >= out["vesc_median"] - out["vesc_err_minus"]) & (
        out["vesc_true"] <= out["vesc_median"] + out["vesc_err_plus"]
    )
    ok = out["status"] == "ok"
    out.loc[~ok, ["pull", "ratio"]] = np.nan
    out.loc[~ok, "within_68"] = False
    return out


def summarise_vesc_recovery(recovery: pd.DataFrame) -> dict:
    """Coverage and bias of the v_esc recovery, per binning."""
    summary = {}
    for binning, g in recovery[recovery["status"] == "ok"].groupby("binning"):
        summary[binning] = {
            "n_bins_fitted": len(g),
            "fraction_within_68": float(g["within_68"].mean()),
            "max_abs_pull": float(g["pull"].abs().max()),
            "mean_pull": float(g["pull"].mean()),
            "median_ratio": float(g["ratio"].median()),
            "unconverged_bins": [int(b) for b in g.loc[~g["converged"].astype(bool), "bin"]],
        }
    return summary


#: Fitted quantities compared with the mock truth (same keys in both), where a fit reports them.
MASS_QUANTITIES = (
    "M200_msun",
    "M_total_r200_msun",
    "c200",
    "r200_kpc",
    "vesc_R0_kms",
    "vc_R0_kms",
    "rho_dm_R0_gev_cm3",
)


def _recovery_rows(fits: dict, mock_truth: dict, label: str) -> pd.DataFrame:
    """One row per fit and quantity: median, 68 % errors, truth, pull and ratio."""
    rows = []
    for name, result in fits.items():
        for key in MASS_QUANTITIES:
            if key not in result["estimates"] or key not in mock_truth:
                continue
            est = result["estimates"][key]
            true = float(mock_truth[key])
            diff = est["median"] - true
            sigma = est["err_minus"] if diff > 0 else est["err_plus"]
            rows.append(
                {
                    label: name,
                    "quantity": key,
                    "fit_median": est["median"],
                    "err_minus": est["err_minus"],
                    "err_plus": est["err_plus"],
                    "truth": true,
                    "pull": diff / sigma,
                    "ratio": est["median"] / true,
                    "converged": result.get("diagnostics", {}).get("converged"),
                }
            )
    return pd.DataFrame(rows)


def mass_recovery(halo_mass_summary: dict, mock_truth: dict) -> pd.DataFrame:
    """Analysis A: fitted halo quantities of every variant (nominal, +10 %) against the truth."""
    return _recovery_rows(halo_mass_summary["variants"], mock_truth, "variant")


def analysis_b_recovery(halo_mass_b_summary: dict, mock_truth: dict) -> pd.DataFrame:
    """Analysis B: every fit of the grid (family.baryons.constraints) against the truth."""
    return _recovery_rows(halo_mass_b_summary["fits"], mock_truth, "fit")


def plot_vesc_recovery(recovery: pd.DataFrame, mock_truth: dict) -> plt.Figure:
    """Measured v_esc(r0) of both binnings (68 % error bars) over the mock's true curve."""
    fig, (ax, axp) = plt.subplots(2, 1, figsize=(7, 6.5), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    r = np.asarray(mock_truth["vesc_curve"]["r_kpc"])
    ax.plot(r, mock_truth["vesc_curve"]["vesc_kms"], "k-", lw=1.5, label=f"truth (to {mock_truth['boundary']})")
    for (binning, g), color in zip(recovery[recovery["status"] == "ok"].groupby("binning"), ("C0", "C3"), strict=False):
        ax.errorbar(
            g["r0"],
            g["vesc_median"],
            yerr=[g["vesc_err_minus"], g["vesc_err_plus"]],
            fmt="o",
            color=color,
            ms=4,
            capsize=2,
            label=binning,
        )
        axp.plot(g["r0"], g["pull"], "o", color=color, ms=4)
    ax.set_ylabel(r"$v_{\rm esc}$ [km/s]")
    ax.legend()
    ax.set_title("Escape-velocity recovery on the mock")
    for level in (-1, 1):
        axp.axhline(level, color="0.6", ls=":")
    axp.axhline(0, color="k", lw=0.8)
    axp.set_ylabel("(meas − true)/σ")
    axp.set_xlabel(r"$r_{\rm GC}$ [kpc]")
    fig.tight_layout()
    return fig


def validation_report(
    halo_cut: pd.DataFrame, recovery: pd.DataFrame, vesc_summary: dict, mass: pd.DataFrame, mass_b: pd.DataFrame
) -> str:
    """Markdown report of what the pipeline recovers on the mock, biases included."""
    lines = [
        "# Mock validation",
        "",
        "## Halo/disk cut against the truth labels (high-velocity stars)",
        "",
        halo_cut.to_markdown(index=False, floatfmt=".4f"),
        "",
        "## Escape velocity per bin: measured vs true",
        "",
        recovery.to_markdown(index=False, floatfmt=".3f"),
        "",
    ]
    for binning, s in vesc_summary.items():
        lines.append(
            f"- {binning}: {s['fraction_within_68']:.0%} of {s['n_bins_fitted']} bins contain the truth in their 68 % interval; "
            f"max |pull| = {s['max_abs_pull']:.2f}; mean pull = {s['mean_pull']:+.2f}; median ratio = {s['median_ratio']:.3f}"
            + (f"; **chains not converged in bin(s) {s['unconverged_bins']}**" if s["unconverged_bins"] else "")
        )
    lines += ["", "## Halo mass (Analysis A): fit vs truth", "", mass.to_markdown(index=False, floatfmt=".4g"), ""]
    key = mass_b[mass_b.quantity.isin(["M200_msun", "rho_dm_R0_gev_cm3"])]
    lines += [
        "## Analysis B fits: M200 and local dark-matter density vs truth",
        "",
        key.to_markdown(index=False, floatfmt=".4g"),
        "",
    ]
    return "\n".join(lines) + "\n"
