"""Statistics of the simulation-based calibration (METHOD.md §8): bias, scatter, coverage,
rank histograms, the bias/σ_sys correction, its leave-one-out test, and the calibrated curve.

Input: the fits table of :func:`calibration.results_table` (one row per realisation,
posterior percentiles ``vesc_p16`` … of v_esc and the truth ``vesc_true`` [km/s]).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["calibrated_curve", "coverage_summary", "leave_one_out_coverage", "score_posterior"]

RANK_BINS = 10  # bins of the rank histogram of the truth within each posterior


def score_posterior(vesc_samples: np.ndarray, truth: float) -> dict:
    """One posterior of v_esc [km/s] against the true value: the fits-table columns
    ``vesc_true``, ``vesc_median``, ``vesc_p16``, ``vesc_p84``, ``vesc_p2.5``, ``vesc_p97.5``,
    the pull (median − truth)/σ with σ the 68 % half-width on the truth's side (inf if σ = 0)
    and the rank of the truth (fraction of samples below it)."""
    samples = np.asarray(vesc_samples, dtype=float)
    p025, p16, p50, p84, p975 = np.percentile(samples, [2.5, 16, 50, 84, 97.5])
    sigma = (p50 - p16) if p50 > truth else (p84 - p50)
    return {
        "vesc_true": truth,
        "vesc_median": p50,
        "vesc_p16": p16,
        "vesc_p84": p84,
        "vesc_p2.5": p025,
        "vesc_p97.5": p975,
        "pull": (p50 - truth) / sigma if sigma > 0 else np.inf,
        "rank": float(np.mean(samples < truth)),
    }


def _summary_row(g: pd.DataFrame) -> dict:
    rel = g["vesc_median"] / g["vesc_true"] - 1.0
    inside68 = (g["vesc_true"] >= g["vesc_p16"]) & (g["vesc_true"] <= g["vesc_p84"])
    inside95 = (g["vesc_true"] >= g["vesc_p2.5"]) & (g["vesc_true"] <= g["vesc_p97.5"])
    half68 = 0.5 * (g["vesc_p84"] - g["vesc_p16"]) / g["vesc_true"]
    ranks = np.histogram(g["rank"], bins=RANK_BINS, range=(0.0, 1.0))[0]
    return {
        "n_fits": len(g),
        "mean_bias": float(rel.mean()),
        "rms_error": float(np.sqrt(np.mean(rel**2))),
        "scatter": float(rel.std(ddof=1)) if len(g) > 1 else np.nan,
        "mean_sigma_post": float(half68.mean()),
        "coverage_68": float(inside68.mean()),
        "coverage_95": float(inside95.mean()),
        "max_abs_pull": float(g["pull"].abs().max()),
        "fraction_converged": float(g["converged"].mean()),
        "rank_histogram": " ".join(str(int(c)) for c in ranks),
    }


def coverage_summary(fits: pd.DataFrame, by=("estimator", "errors", "df")) -> pd.DataFrame:
    """Bias, scatter and coverage per group of ``fits`` (one row per realisation, see :func:`fit_realisation`).

    Relative quantities are fractions of v_esc: mean_bias = ⟨median/truth − 1⟩,
    scatter its standard deviation, mean_sigma_post the mean 68 % half-width;
    coverage_68/95 the share of realisations whose 68/95 % interval holds the
    truth; rank_histogram the counts of the truth's rank in ``RANK_BINS`` bins
    (flat if the posteriors are calibrated).
    """
    rows = [
        {**dict(zip(by, key if isinstance(key, tuple) else (key,))), **_summary_row(g)}
        for key, g in fits.groupby(list(by), sort=False)
    ]
    return pd.DataFrame(rows)


def _corrections(fits: pd.DataFrame) -> pd.DataFrame:
    """Per bin: mean relative bias b and systematic σ_sys² = max(0, scatter² − ⟨σ_post²⟩) (fractions of v_esc)."""
    rel = fits["vesc_median"] / fits["vesc_true"] - 1.0
    half = 0.5 * (fits["vesc_p84"] - fits["vesc_p16"]) / fits["vesc_true"]
    g = pd.DataFrame({"bin": fits["bin"], "rel": rel, "half2": half**2}).groupby("bin")
    out = pd.DataFrame({"bias": g["rel"].mean(), "scatter": g["rel"].std(ddof=1), "sigma_post2": g["half2"].mean()})
    out["sigma_sys"] = np.sqrt(np.clip(out["scatter"] ** 2 - out["sigma_post2"], 0.0, None))
    return out[["bias", "sigma_sys"]]


def _correct(median, err_minus, err_plus, bias, sigma_sys):
    """Corrected (median, err_minus, err_plus): median/(1 + b), errors rescaled and widened by σ_sys·median in quadrature.

    NaN corrections (bins without calibration) leave the values unchanged.
    """
    median = np.asarray(median, dtype=float)
    new = median / (1.0 + np.nan_to_num(bias))
    scale = new / median
    sys = np.nan_to_num(sigma_sys) * new
    return new, np.hypot(np.asarray(err_minus) * scale, sys), np.hypot(np.asarray(err_plus) * scale, sys)


def _apply(fits: pd.DataFrame, corr: pd.DataFrame) -> pd.DataFrame:
    c = corr.reindex(fits["bin"])
    med, lo, hi = _correct(
        fits["vesc_median"],
        fits["vesc_median"] - fits["vesc_p16"],
        fits["vesc_p84"] - fits["vesc_median"],
        c["bias"].to_numpy(),
        c["sigma_sys"].to_numpy(),
    )
    return fits.assign(vesc_median=med, vesc_p16=med - lo, vesc_p84=med + hi)


def leave_one_out_coverage(fits: pd.DataFrame, held_out=()) -> pd.DataFrame:
    """Coverage of the corrected intervals on DFs the correction was not calibrated on.

    ``fits`` holds one estimator and error setting. Each calibration-family DF
    (every DF not in ``held_out``) is tested with the correction calibrated on the
    other family DFs; each ``held_out`` DF with the correction calibrated on the
    whole family (held-out DFs never enter a correction). Returns per tested DF
    the corrected mean bias, scatter and 68 % coverage (95 % is not corrected) and
    whether it was ``held_out``.
    """
    held_out = set(held_out)
    family = fits[~fits["df"].isin(held_out)]
    rows = []
    for df_name in fits["df"].unique():
        is_held_out = df_name in held_out
        train, test = (family if is_held_out else family[family["df"] != df_name]), fits[fits["df"] == df_name]
        if train.empty:
            continue
        corrected = _apply(test, _corrections(train))
        rel = corrected["vesc_median"] / corrected["vesc_true"] - 1.0
        inside = (corrected["vesc_true"] >= corrected["vesc_p16"]) & (corrected["vesc_true"] <= corrected["vesc_p84"])
        rows.append(
            {
                "left_out_df": df_name,
                "held_out": is_held_out,
                "n_fits": len(test),
                "mean_bias": float(rel.mean()),
                "scatter": float(rel.std(ddof=1)) if len(test) > 1 else np.nan,
                "coverage_68": float(inside.mean()),
            }
        )
    return pd.DataFrame(rows)


def calibrated_curve(table: pd.DataFrame, fits: pd.DataFrame, label: str) -> pd.DataFrame:
    """The measured per-bin curve (``escape_velocity``'s table) corrected with the calibration of ``fits``.

    Per bin: median v_esc divided by (1 + mean relative bias), both 68 % errors
    widened by σ_sys·v_esc in quadrature. Adds columns ``vesc_bias``,
    ``vesc_sigma_sys`` (fractions) and ``calibration`` (``label``); bins without
    calibration fits keep their values and get NaN corrections.
    """
    c = _corrections(fits).reindex(table["bin"])
    out = table.copy()
    out["vesc_median"], out["vesc_err_minus"], out["vesc_err_plus"] = _correct(
        table["vesc_median"],
        table["vesc_err_minus"],
        table["vesc_err_plus"],
        c["bias"].to_numpy(),
        c["sigma_sys"].to_numpy(),
    )
    out["vesc_bias"] = c["bias"].to_numpy()
    out["vesc_sigma_sys"] = c["sigma_sys"].to_numpy()
    out["calibration"] = label
    return out
