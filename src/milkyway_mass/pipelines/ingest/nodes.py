"""Nodes of the `ingest` pipeline: read, validate and cross-match the survey tables.

Input: a LAMOST-style K-giant table and a Gaia-DR3-style astrometry table with
the column names given in ``parameters_ingest.yml`` (the real products' names by
default). Output: ``stars_6d`` (columns :data:`milkyway_mass.schemas.STARS_6D_COLUMNS`,
distances in kpc; one row per Gaia source, repeat LAMOST observations merged)
and the cut flow. Schema problems stop the run with a message naming the file
and column; bad rows are removed and counted by reason.
"""

from __future__ import annotations

import logging

import astropy.units as u
import numpy as np
import pandas as pd
from astropy.coordinates import SkyCoord

from milkyway_mass.cut_flow import append_cut, describe_counts, empty_cut_flow, require_stars, warn_heavy_losses
from milkyway_mass.input_schemas import (
    InputSchemaError,
    check_columns,
    first_failure_counts,
    range_schema,
    row_failures,
    row_rules_schema,
    survey_table_schema,
)
from milkyway_mass.schemas import STARS_6D_COLUMNS, require_columns

logger = logging.getLogger(__name__)

PIPELINE = "ingest"

#: Rules for repeat observations of one Gaia source (``ingest.repeat_observations.keep``).
REPEAT_RULES = ("min_rv_err", "weighted_mean_rv")
#: Canonical columns holding Gaia source ids (must be integers).
GAIA_ID_COLUMNS = {"source_id", "gaia_source_id"}


def _standardise(raw: pd.DataFrame, source: dict, integer_ids: set[str] = frozenset()) -> pd.DataFrame:
    """Check one survey table against its column rules (:func:`input_schemas.survey_table_schema`);
    rename to canonical names; set the values meaning "missing" to NaN.

    ``source`` has ``file`` (named in errors), ``columns`` (canonical → file column) and
    ``missing_sentinels``: a list of values meaning "missing" in every float column, or a
    mapping {canonical column: list} per column.
    """
    mapping = source["columns"]
    check_columns(raw, survey_table_schema(mapping, integer_ids & set(mapping)), source["file"])
    out = pd.DataFrame({canon: raw[col] for canon, col in mapping.items()}, index=raw.index)
    sentinels = source.get("missing_sentinels") or []
    floats = out.select_dtypes("float").columns
    if not isinstance(sentinels, dict):
        out[floats] = out[floats].mask(out[floats].isin(sentinels))
        return out.reset_index(drop=True)
    for canon, values in sentinels.items():
        if canon not in mapping:
            raise InputSchemaError(
                f"{source['file']}: missing_sentinels names '{canon}', which is not a column of this table "
                f"({list(mapping)})"
            )
        if canon in floats:
            out[canon] = out[canon].mask(out[canon].isin(values))
    return out.reset_index(drop=True)


def _check_units(table: pd.DataFrame, file: str, checks: list[tuple[str, str, float, float, str, str]]) -> None:
    """Stop when the median of a column lies outside what a Galactic survey can contain, naming
    the likely unit mistake. ``checks``: (column, unit, low, high, hint if below, hint if above)
    on the median of the column's finite absolute values (columns without any are skipped)."""
    for col, unit, lo, hi, below, above in checks:
        values = np.abs(table[col].astype(float).to_numpy())
        values = values[np.isfinite(values)]
        if not values.size:
            continue
        median = float(np.median(values))
        if not lo <= median <= hi:
            raise InputSchemaError(
                f"{file}: column '{col}' has median |value| {median:.4g} {unit}, outside [{lo:g}, {hi:g}] {unit} "
                f"for a Galactic survey; {below if median < lo else above}"
            )


def standardise_lamost(raw: pd.DataFrame, ingest: dict) -> pd.DataFrame:
    """LAMOST table with canonical columns; distances converted to kpc; a unit check on the
    median distance and line-of-sight velocity (``ingest.unit_checks``)."""
    src = ingest["lamost"]
    out = _standardise(raw, src, GAIA_ID_COLUMNS)
    scale = {"kpc": 1.0, "pc": 1e-3}.get(src["distance_unit"])
    if scale is None:
        raise InputSchemaError(f"{src['file']}: distance_unit must be 'kpc' or 'pc', got {src['distance_unit']!r}")
    out[["dist", "dist_err"]] = out[["dist", "dist_err"]].astype(float) * scale
    out["gaia_source_id"] = out["gaia_source_id"].astype("Int64")
    checks = ingest["unit_checks"]
    other = {"kpc": "pc", "pc": "kpc"}[src["distance_unit"]]
    swapped = f"the distances look like {other}: set ingest.lamost.distance_unit to {other}"
    check = f"check the distance column and ingest.lamost.distance_unit ({src['distance_unit']})"
    dist_hints = (swapped, check) if other == "kpc" else (check, swapped)
    rv_hints = ("", "the velocities look like m/s: the rv column must be in km/s")
    _check_units(
        out,
        src["file"],
        [
            ("dist", "kpc", *checks["median_distance_kpc"], *dist_hints),
            ("rv", "km/s", 0.0, checks["median_abs_rv_kms_max"], *rv_hints),
        ],
    )
    logger.info("Read %d rows from %s", len(out), src["file"])
    return out


def standardise_gaia(raw: pd.DataFrame, ingest: dict) -> pd.DataFrame:
    """Gaia table with canonical columns (source_id as nullable int64); a unit check on the
    median proper motion (``ingest.unit_checks``)."""
    src = ingest["gaia"]
    out = _standardise(raw, src, GAIA_ID_COLUMNS)
    out["source_id"] = out["source_id"].astype("Int64")
    lo, hi = ingest["unit_checks"]["median_abs_pm_masyr"]
    hints = ("the proper motions look like arcsec/yr: they must be in mas/yr", "they must be in mas/yr")
    _check_units(out, src["file"], [(c, "mas/yr", lo, hi, *hints) for c in ("pmra", "pmdec")])
    logger.info("Read %d rows from %s", len(out), src["file"])
    return out


def check_ranges(lamost: pd.DataFrame, ingest: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Remove rows whose finite values fall outside the configured physical ranges.

    Missing values (NaN) are not judged here; the full-6D cut counts them.
    """
    cut_flow = append_cut(empty_cut_flow(), PIPELINE, f"rows read from {ingest['lamost']['file']}", len(lamost))
    bad, counts = _out_of_range(lamost, ingest["ranges"])
    kept = lamost[~bad].reset_index(drop=True)
    return kept, append_cut(cut_flow, PIPELINE, "values within physical ranges", len(kept), describe_counts(counts))


def _out_of_range(table: pd.DataFrame, ranges: dict) -> tuple[pd.Series, dict[str, int]]:
    """Rows with a finite value outside ``ranges`` ({column: [lo, hi]}) and the count per
    column (a row is counted under its first such column)."""
    return first_failure_counts(row_failures(table, range_schema(ranges)))


def check_gaia_ranges(matched: pd.DataFrame, cut_flow: pd.DataFrame, ingest: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Remove matched stars whose finite Gaia values fall outside ``ingest.gaia_ranges``
    (e.g. a proper motion of -9999 mas/yr, a sentinel the file did not declare), counted
    by column. Missing values are judged by the full-6D cut."""
    bad, counts = _out_of_range(matched, ingest["gaia_ranges"])
    kept = matched[~bad].reset_index(drop=True)
    note = describe_counts(counts)
    return kept, append_cut(cut_flow, PIPELINE, "Gaia values within physical ranges", len(kept), note)


def select_k_giants(lamost: pd.DataFrame, cut_flow: pd.DataFrame, ingest: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Keep K giants (METHOD.md §2): log g < logg_max inside each Teff box.

    A box is teff_min < Teff < teff_max (teff_min ≤ Teff if ``min_inclusive``).
    """
    is_giant = pd.Series(False, index=lamost.index)
    for box in ingest["k_giant_boxes"]:
        above_min = lamost.teff >= box["teff_min"] if box["min_inclusive"] else lamost.teff > box["teff_min"]
        is_giant |= above_min & (lamost.teff < box["teff_max"]) & (lamost.logg < box["logg_max"])
    kept = lamost[is_giant].reset_index(drop=True)
    n_missing = int((lamost.teff.isna() | lamost.logg.isna()).sum())
    note = describe_counts({"not a K giant": len(lamost) - len(kept) - n_missing, "missing Teff or log g": n_missing})
    return kept, append_cut(cut_flow, PIPELINE, "K giants (Teff, log g)", len(kept), note)


def cross_match(
    lamost: pd.DataFrame, gaia: pd.DataFrame, cut_flow: pd.DataFrame, ingest: dict
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Attach each star's Gaia DR3 counterpart.

    First by the Gaia source_id that LAMOST carries; stars without a usable id
    (missing, ≤ 0, or absent from the Gaia table) fall back to sky position:
    exactly one Gaia source within ``crossmatch.radius_arcsec`` is a match, none
    is "no counterpart", several (or a duplicated source_id) is "ambiguous".
    Each outcome is counted. Several LAMOST rows may match one Gaia source
    (repeat observations, by id or by position); they are all kept and counted
    here, and :func:`keep_one_observation_per_source` merges them.
    """
    radius = ingest["crossmatch"]["radius_arcsec"] * u.arcsec
    duplicated_ids = set(gaia.source_id[gaia.source_id.duplicated(keep=False)].dropna())
    gaia_unique = gaia[~gaia.source_id.isin(duplicated_ids)]
    gid = lamost.gaia_source_id
    has_id = gid.notna() & (gid.fillna(0) > 0)
    id_dup = has_id & gid.isin(duplicated_ids)
    id_found = has_id & gid.isin(gaia_unique.source_id) & ~id_dup
    by_id = lamost[id_found].merge(gaia_unique, left_on="gaia_source_id", right_on="source_id", suffixes=("", "_gaia"))

    need_pos = lamost[~id_found & ~id_dup].reset_index(drop=True)
    lam_sky, gaia_sky = _valid_sky(need_pos), _valid_sky(gaia)
    gaia_idx_match = np.full(len(need_pos), -1)
    n_near = np.zeros(len(need_pos), dtype=int)
    if lam_sky.any() and gaia_sky.any():
        lam_rows, gaia_rows = np.flatnonzero(lam_sky), np.flatnonzero(gaia_sky)
        lam_c = SkyCoord(need_pos.ra.to_numpy()[lam_rows] * u.deg, need_pos.dec.to_numpy()[lam_rows] * u.deg)
        gaia_c = SkyCoord(gaia.ra.to_numpy()[gaia_rows] * u.deg, gaia.dec.to_numpy()[gaia_rows] * u.deg)
        i_lam, i_gaia, _, _ = gaia_c.search_around_sky(lam_c, radius)
        n_near[lam_rows] = np.bincount(i_lam, minlength=lam_rows.size)
        gaia_idx_match[lam_rows[i_lam]] = gaia_rows[i_gaia]
    single = n_near == 1
    dup_source = np.zeros(len(need_pos), dtype=bool)
    dup_source[single] = gaia.source_id.iloc[gaia_idx_match[single]].isin(duplicated_ids).to_numpy()
    ok = single & ~dup_source
    by_pos = (
        need_pos[ok]
        .reset_index(drop=True)
        .join(gaia.iloc[gaia_idx_match[ok]].reset_index(drop=True), suffixes=("", "_gaia"))
    )

    matched = pd.concat([by_id, by_pos], ignore_index=True)
    counts = {
        "no sky position to match by (ra or dec missing or outside its range)": int((~lam_sky).sum()),
        "no Gaia counterpart": int(((n_near == 0) & lam_sky).sum()),
        "ambiguous (several Gaia sources in radius, or duplicated Gaia source_id)": int(
            (n_near > 1).sum() + dup_source.sum() + id_dup.sum()
        ),
    }
    note = " | ".join(
        filter(
            None,
            [
                describe_counts(counts),
                f"matched by source_id: {len(by_id)}, by position: {len(by_pos)} (radius {radius.value:g} arcsec)",
                f"repeat observations of an already matched source (kept): {int(matched.source_id.duplicated().sum())}",
                f"Gaia rows without a valid sky position (not matched by position): {int((~gaia_sky).sum())}"
                if (~gaia_sky).any()
                else "",
            ],
        )
    )
    return matched, append_cut(cut_flow, PIPELINE, "cross-matched with Gaia DR3", len(matched), note)


def _valid_sky(table: pd.DataFrame) -> np.ndarray:
    """Rows whose ra [deg] is finite in [0, 360] and dec in [-90, 90] (usable for a positional match)."""
    ra, dec = table.ra.astype(float).to_numpy(), table.dec.astype(float).to_numpy()
    with np.errstate(invalid="ignore"):
        return (ra >= 0) & (ra <= 360) & (dec >= -90) & (dec <= 90)


def require_full_6d(matched: pd.DataFrame, cut_flow: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Keep stars with a usable distance, line-of-sight velocity, proper motion and [Fe/H].

    A star removed for several reasons is counted once, under the first reason.
    """

    def positive(col):
        return lambda t: t[col].astype(float).gt(0)

    def finite(col):
        return lambda t: pd.Series(np.isfinite(t[col].astype(float).to_numpy()), index=t.index)

    def all_of(*rules):
        return lambda t: pd.Series(np.logical_and.reduce([rule(t) for rule in rules]), index=t.index)

    rules = {
        "no obsid": lambda t: t.obsid.notna(),
        "no sky position (ra or dec missing)": all_of(finite("ra"), finite("dec")),
        "no valid distance (missing, <= 0, or no error)": all_of(
            positive("dist"), positive("dist_err"), finite("dist_err")
        ),
        "no line-of-sight velocity": all_of(finite("rv"), positive("rv_err"), finite("rv_err")),
        "no proper motion (missing, or an error that is missing, <= 0 or infinite)": all_of(
            finite("pmra"),
            finite("pmdec"),
            positive("pmra_error"),
            positive("pmdec_error"),
            finite("pmra_error"),
            finite("pmdec_error"),
            lambda t: t.pmra_pmdec_corr.astype(float).between(-1, 1),
        ),
        "no [Fe/H]": finite("feh"),
    }
    bad, counts = first_failure_counts(row_failures(matched, row_rules_schema(rules)))
    stars = matched[~bad]
    stars = stars.assign(obsid=stars.obsid.astype("int64"), source_id=stars.source_id.astype("int64"))[
        list(STARS_6D_COLUMNS)
    ].reset_index(drop=True)
    return stars, append_cut(cut_flow, PIPELINE, "full 6D phase space", len(stars), describe_counts(counts))


def keep_one_observation_per_source(
    stars: pd.DataFrame, cut_flow: pd.DataFrame, ingest: dict, cut_flow_settings: dict
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Keep one row per Gaia ``source_id`` (repeat LAMOST observations of one star).

    First removes every row whose ``obsid`` also appears with another Gaia source (one
    observation cannot be two stars; counted in its own cut-flow row). Runs after the
    full-6D cut, so only usable observations compete. The row kept is the observation with
    the smallest ``rv_err`` (ties: smallest obsid). With ``repeat_observations.keep:
    weighted_mean_rv`` its rv and rv_err [km/s] are replaced by the inverse-variance mean of
    all the star's observations.

    The last node of ``ingest``: it logs a WARNING for every ingest cut that removed more than
    ``cut_flow_settings["loss_warning_share"]`` of its stars, and stops if no star is left.
    """
    rule = ingest["repeat_observations"]["keep"]
    if rule not in REPEAT_RULES:
        raise ValueError(f"ingest.repeat_observations.keep must be one of {list(REPEAT_RULES)}, got {rule!r}")
    require_columns(stars, ["obsid", "source_id", "rv", "rv_err"], "stars with full 6D information")
    shared = stars.groupby("obsid").source_id.transform("nunique") > 1
    stars = stars[~shared].reset_index(drop=True)
    cut_flow = append_cut(
        cut_flow,
        PIPELINE,
        "each obsid observes one star",
        len(stars),
        describe_counts({"obsid shared by rows of different Gaia sources (ambiguous, all removed)": int(shared.sum())}),
    )
    best_first = stars.sort_values(["source_id", "rv_err", "obsid"], kind="mergesort")
    kept = best_first[~best_first.source_id.duplicated()]
    if rule == "weighted_mean_rv":
        w = 1.0 / best_first.rv_err.astype(float) ** 2
        sums = pd.DataFrame({"w": w, "w_rv": w * best_first.rv}).groupby(best_first.source_id).sum().loc[kept.source_id]
        kept = kept.assign(rv=(sums.w_rv / sums.w).to_numpy(), rv_err=(1.0 / np.sqrt(sums.w)).to_numpy())
    kept = kept.sort_index().reset_index(drop=True)
    n_observations = stars.source_id.value_counts()
    note = " | ".join(
        filter(
            None,
            [
                describe_counts({"repeat observations of a Gaia source": len(stars) - len(kept)}),
                f"stars observed more than once: {int((n_observations > 1).sum())}; kept: {rule}",
            ],
        )
    )
    cut_flow = append_cut(cut_flow, PIPELINE, "one observation per Gaia source", len(kept), note)
    warn_heavy_losses(cut_flow, cut_flow_settings["loss_warning_share"])
    require_stars(cut_flow, "stars_6d (the ingest output)")
    return kept, cut_flow
