"""Nodes of the `calibration` pipeline: coverage of the tail estimators over mock realisations (METHOD.md §8).

The science lives in :mod:`milkyway_mass.galaxy.tail.calibration`; these nodes read the
configuration, shape tables and pick the calibration that matches the estimator
``escape_velocity`` ran. Units: km/s, kpc; biases and σ_sys are fractions of v_esc.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from milkyway_mass.galaxy.mock import TruthGalaxy
from milkyway_mass.galaxy.tail.calibration import (
    Estimator,
    build_jobs,
    results_table,
    run_calibration,
)
from milkyway_mass.galaxy.tail.coverage import calibrated_curve, coverage_summary, leave_one_out_coverage
from milkyway_mass.galaxy.tail.fit import SamplerSettings
from milkyway_mass.schemas import require_columns

logger = logging.getLogger(__name__)

LEAVE_ONE_OUT_COLUMNS = [
    "estimator",
    "errors",
    "left_out_df",
    "held_out",
    "n_fits",
    "mean_bias",
    "scatter",
    "coverage_68",
]


def _k_ranges(ranges) -> tuple[tuple[float, ...], ...]:
    """k ranges from conf as tuples of floats (so [0, 6] and [0.0, 6.0] compare equal)."""
    return tuple(tuple(map(float, k)) for k in ranges)


def _selected(calibration: dict, names: list[str], listing: str, definitions: str) -> dict:
    unknown = [name for name in names if name not in calibration[definitions]]
    if unknown:
        raise ValueError(
            f"calibration.{listing} names {unknown}, not defined in calibration.{definitions} "
            f"({sorted(calibration[definitions])})"
        )
    return {name: calibration[definitions][name] for name in names}


def _held_out(calibration: dict) -> list[str]:
    """Held-out DFs (conf ``held_out``): fitted and reported like the family, never used in a correction."""
    held_out = list(calibration["held_out"])
    overlap = sorted(set(held_out) & set(calibration["family"]))
    if overlap:
        raise ValueError(f"calibration.held_out names DFs that are also in calibration.family: {overlap}")
    return held_out


def _estimators(calibration: dict) -> list[Estimator]:
    return [
        Estimator(name, e["likelihood"], _k_ranges(e["k_ranges"]), tuple(map(float, e["k_init"])))
        for name, e in _selected(calibration, calibration["compare"], "compare", "estimators").items()
    ]


def _reference_galaxy(calibration: dict, galaxy_frame: dict, cosmology: dict) -> TruthGalaxy:
    return TruthGalaxy.from_config(calibration["potential"], cosmology, galaxy_frame)


def _calibration_bins(stars: dict[str, pd.DataFrame], radial_bins: pd.DataFrame, calibration: dict) -> pd.DataFrame:
    rows = []
    for binning in calibration["binnings"]:
        sel = stars[binning]
        require_columns(sel, ("bin", "r_gc", "sigma_v_gc"), f"selected_stars_{binning}")
        counts = sel["bin"].value_counts()
        for _, b in radial_bins[radial_bins["binning"] == binning].sort_values("bin").iterrows():
            n = int(counts.get(b["bin"], 0))
            wanted = calibration["bins"] is None or int(b["bin"]) in calibration["bins"]
            if wanted and n >= calibration["min_stars"]:
                rows.append({"binning": binning, "bin": int(b["bin"]), "v_min": float(b["v_min"]), "n_stars": n})
            elif wanted:
                logger.warning(
                    "calibration: %s bin %d has %d stars < min_stars=%d; not calibrated",
                    binning,
                    b["bin"],
                    n,
                    calibration["min_stars"],
                )
    if not rows:
        raise ValueError(
            f"calibration: no bin of {calibration['binnings']} has >= {calibration['min_stars']} selected stars"
        )
    return pd.DataFrame(rows)


def run_calibration_fits(
    stars_bin1: pd.DataFrame,
    stars_bin2: pd.DataFrame,
    radial_bins: pd.DataFrame,
    calibration: dict,
    escape_velocity: dict,
    selection: dict,
    galaxy_frame: dict,
    cosmology: dict,
) -> pd.DataFrame:
    """Fit every realisation of every (estimator, error setting, DF, bin); one row per fit.

    Star counts, v_min and the radii and speed errors of each bin come from the
    selected survey stars; priors, start and sampler path from ``escape_velocity``;
    the DFs, reference potential, estimators and sampler settings from ``calibration``.
    """
    stars = {"bin1": stars_bin1, "bin2": stars_bin2}
    bins = _calibration_bins(stars, radial_bins, calibration)
    survey = pd.concat([stars[b].assign(binning=b) for b in calibration["binnings"]], ignore_index=True)
    pri, smp = escape_velocity["priors"], calibration["sampler"]
    fit = {
        **pri,
        "sigma_out_kms": escape_velocity["sigma_out_kms"],
        "v_max_kms": selection["v_max_kms"],
        "tie_lnL": escape_velocity["model_choice_tie_lnL"],
        "init": escape_velocity["init"],
        "init_scatter": escape_velocity["init_scatter"],
    }
    settings = SamplerSettings.from_config(smp)
    dfs = _selected(calibration, calibration["family"], "family", "dfs") | _selected(
        calibration, _held_out(calibration), "held_out", "dfs"
    )
    jobs = build_jobs(
        _reference_galaxy(calibration, galaxy_frame, cosmology),
        dfs,
        bins,
        survey,
        _estimators(calibration),
        calibration["n_realisations"],
        tuple(calibration["errors"]),
        fit,
        settings,
        calibration["seed"],
    )
    logger.info(
        "calibration: %d realisations (%d bins x %d DFs x %d error settings x %d estimators x %d)",
        len(jobs),
        len(bins),
        len(dfs),
        len(calibration["errors"]),
        len(calibration["compare"]),
        calibration["n_realisations"],
    )
    dask = calibration["dask"]
    return results_table(
        run_calibration(
            jobs,
            scheduler_address=dask["scheduler_address"],
            n_workers=dask["n_workers"],
            progress=calibration["progress"],
            batch_size=calibration["batch_size"],
        )
    )


def summarise_calibration(fits: pd.DataFrame, calibration: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per estimator × error setting × DF (and per bin): bias, scatter, coverage; and the coverage of the correction
    on DFs it was not calibrated on (leave-one-out within the family, then each held-out DF)."""
    held_out = _held_out(calibration)
    overall = coverage_summary(fits, by=("estimator", "errors", "df")).assign(binning="all", bin=-1)
    per_bin = coverage_summary(fits, by=("estimator", "errors", "df", "binning", "bin"))
    coverage = pd.concat([overall, per_bin], ignore_index=True)
    coverage["held_out"] = coverage["df"].isin(held_out)
    loo = [
        leave_one_out_coverage(g, held_out).assign(estimator=est, errors=err)
        for (est, err), g in fits.groupby(["estimator", "errors"], sort=False)
        if g["df"].nunique() > 1
    ]
    loo_table = pd.concat(loo, ignore_index=True) if loo else pd.DataFrame(columns=LEAVE_ONE_OUT_COLUMNS)
    return coverage, loo_table[LEAVE_ONE_OUT_COLUMNS]


def calibrate_vesc_curve(
    table_bin1: pd.DataFrame, table_bin2: pd.DataFrame, fits: pd.DataFrame, calibration: dict, escape_velocity: dict
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The measured curves corrected with the calibration of the estimator that ``escape_velocity`` ran.

    The estimator is found by its likelihood and k ranges; corrections come from
    the fits with the survey's errors (``errors == 'survey'``), all family DFs pooled
    (held-out DFs never enter a correction).
    """
    k_ranges = _k_ranges(escape_velocity["priors"]["k_ranges"])
    match = [
        e.name
        for e in _estimators(calibration)
        if e.likelihood == escape_velocity["likelihood"] and e.k_ranges == k_ranges
    ]
    if not match:
        raise ValueError(
            f"calibration has no estimator with likelihood={escape_velocity['likelihood']!r} and "
            f"k_ranges={[list(k) for k in k_ranges]} (the escape_velocity settings); add one to calibration.compare"
        )
    family = fits[
        (fits["estimator"] == match[0]) & (fits["errors"] == "survey") & ~fits["df"].isin(_held_out(calibration))
    ]
    out = []
    for binning, table in (("bin1", table_bin1), ("bin2", table_bin2)):
        sel = family[family["binning"] == binning]
        label = f"{match[0]}: {sel['df'].nunique()} DFs x {sel['realisation'].nunique()} realisations, survey errors"
        if sel.empty:
            logger.warning(
                "calibration: no '%s' fits with survey errors for %s; its curve is not corrected", match[0], binning
            )
        out.append(calibrated_curve(table, sel, label))
        logger.info(
            "calibrated %s curve: bias %s, sigma_sys %s",
            binning,
            np.round(out[-1]["vesc_bias"].to_numpy(), 3),
            np.round(out[-1]["vesc_sigma_sys"].to_numpy(), 3),
        )
    return out[0], out[1]
