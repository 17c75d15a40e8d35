"""Nodes of the `ingest` pipeline: read, validate and cross-match the survey tables.

Input: a LAMOST-style spectroscopic table and a Gaia-DR3-style astrometry table with
the column names given in ``parameters_ingest.yml`` (the real products' names by
default), or one catalogue read as both (``crossmatch.method: row``). Output:
``stars_6d`` (columns :data:`milkyway_mass.schemas.STARS_6D_COLUMNS`, distances in
kpc; one row per star of the tracer, repeat observations merged) and the cut flow.
Schema problems stop the run with a message naming the file and column; bad rows
are removed and counted by reason.
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
#: Ways to pair the two tables (``ingest.crossmatch.method``).
MATCH_METHODS = ("id_then_position", "position", "row")
#: Canonical columns that each table must map (``ingest.<table>.columns``); the Gaia table's ra
#: and dec too unless the tables are paired by row; with distances from parallaxes
#: (``ingest.distances.source: parallax``) parallax and parallax_error instead of dist and
#: dist_err. Other columns of ``STARS_6D_COLUMNS`` are optional: ids default to the row number,
#: the rest to NaN (a missing pm correlation counts as 0).
REQUIRED_COLUMNS = {
    "lamost": ("ra", "dec", "rv", "rv_err"),
    "gaia": ("pmra", "pmdec", "pmra_error", "pmdec_error"),
}
#: Where distances come from (``ingest.distances.source``).
DISTANCE_SOURCES = ("catalogue", "parallax")
_OPTIONAL = {
    "lamost": ("obsid", "gaia_source_id", "feh", "teff", "logg", "dist", "dist_err"),
    "gaia": ("source_id", "ra", "dec", "parallax", "parallax_error", "pmra_pmdec_corr", "ruwe"),
}
#: Comparisons a tracer cut may make: {column: c, <key>: value}.
CUT_COMPARISONS = {
    "min": np.greater_equal,
    "above": np.greater,
    "max": np.less_equal,
    "below": np.less,
    "equals": np.equal,
}


def mapped_columns(source: dict) -> dict[str, str]:
    """The columns a table maps (``ingest.<table>.columns``: canonical name → column in the file);
    a canonical name set to null is not in this table (an environment unmaps a default that way)."""
    return {canon: col for canon, col in source["columns"].items() if col is not None}


def _standardise(raw: pd.DataFrame, ingest: dict, table: str, computed: tuple[str, ...] = ()) -> pd.DataFrame:
    """One survey table (``table``: "lamost" or "gaia") with canonical columns and ``source_row``
    (row in the file): the required columns mapped (:data:`REQUIRED_COLUMNS`), the column rules
    checked (:func:`input_schemas.survey_table_schema`; Gaia ids integers), the values meaning
    "missing" set to NaN, and the optional columns it does not map filled (:func:`_fill_unmapped`).

    ``ingest[table]`` has ``file`` (named in errors), ``columns`` (canonical → file column) and
    ``missing_sentinels``: a list of values meaning "missing" in every float column, or a
    mapping {canonical column: list} per column.
    """
    source = ingest[table]
    _require_mapped(ingest, table)
    mapping = mapped_columns(source)
    check_columns(raw, survey_table_schema(mapping, GAIA_ID_COLUMNS), source["file"])
    out = pd.DataFrame({canon: raw[col] for canon, col in mapping.items()}, index=raw.index).reset_index(drop=True)
    out["source_row"] = np.arange(len(raw))
    sentinels = source.get("missing_sentinels") or []
    floats = out.select_dtypes("float").columns
    if isinstance(sentinels, dict):
        for canon, values in sentinels.items():
            if canon not in mapping:
                raise InputSchemaError(
                    f"{source['file']}: missing_sentinels names '{canon}', which is not a column of this table "
                    f"({list(mapping)})"
                )
            if canon in floats:
                out[canon] = out[canon].mask(out[canon].isin(values))
    else:
        out[floats] = out[floats].mask(out[floats].isin(sentinels))
    return _fill_unmapped(out, table, source["file"], computed)


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


def _distance_source(ingest: dict) -> str:
    source = ingest["distances"]["source"]
    if source not in DISTANCE_SOURCES:
        raise ValueError(f"ingest.distances.source must be one of {list(DISTANCE_SOURCES)}, got {source!r}")
    return source


def _require_mapped(ingest: dict, table: str) -> None:
    required = list(REQUIRED_COLUMNS[table])
    if table == "gaia" and _match_method(ingest) != "row":
        required += ["ra", "dec"]
    from_parallax = _distance_source(ingest) == "parallax"
    if table == ("gaia" if from_parallax else "lamost"):
        required += ["parallax", "parallax_error"] if from_parallax else ["dist", "dist_err"]
    unmapped = [c for c in required if c not in mapped_columns(ingest[table])]
    if unmapped:
        raise InputSchemaError(
            f"{ingest[table]['file']}: ingest.{table}.columns must map {unmapped} (canonical name: column in the file)"
        )


def _fill_unmapped(out: pd.DataFrame, table: str, file: str, computed: tuple[str, ...] = ()) -> pd.DataFrame:
    """Optional canonical columns the table does not map: ids become the row number, the rest NaN
    (logged once per column, except the ``computed`` ones, which a later node fills)."""
    for canon in _OPTIONAL[table]:
        if canon in out:
            continue
        if canon in computed:
            out[canon] = np.nan
            continue
        if canon in ("obsid", "source_id"):
            out[canon] = out["source_row"]
            logger.info("%s: no '%s' column mapped; the row number (from 0) stands in", file, canon)
        elif canon == "gaia_source_id":
            out[canon] = pd.array([pd.NA] * len(out), dtype="Int64")
        else:
            out[canon] = np.nan
            logger.info("%s: no '%s' column mapped; it is missing (NaN) for every star", file, canon)
    return out


def _match_method(ingest: dict) -> str:
    method = ingest["crossmatch"]["method"]
    if method not in MATCH_METHODS:
        raise ValueError(f"ingest.crossmatch.method must be one of {list(MATCH_METHODS)}, got {method!r}")
    return method


def standardise_lamost(raw: pd.DataFrame, ingest: dict) -> pd.DataFrame:
    """LAMOST table with canonical columns (required and optional: see :data:`REQUIRED_COLUMNS`)
    and ``source_row`` (row in the file); distances converted to kpc; a unit check on the
    median distance and line-of-sight velocity (``ingest.unit_checks``)."""
    src = ingest["lamost"]
    computed = ("dist", "dist_err") if _distance_source(ingest) == "parallax" else ()
    out = _standardise(raw, ingest, "lamost", computed)
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
    """Gaia table with canonical columns (source_id as nullable int64; optional ones filled) and
    ``source_row``; a unit check on the median proper motion (``ingest.unit_checks``)."""
    src = ingest["gaia"]
    out = _standardise(raw, ingest, "gaia")
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


def _cut_columns(cuts: list) -> list[str]:
    """The columns a tracer's cuts use, in order of first use."""
    columns = []
    for cut in cuts:
        for col in _cut_columns([c for group in cut["any_of"] for c in group]) if "any_of" in cut else [cut["column"]]:
            if col not in columns:
                columns.append(col)
    return columns


def _passes(table: pd.DataFrame, cuts: list, tracer: str) -> np.ndarray:
    """Rows passing every cut of ``cuts`` (see ``ingest.tracers``); a missing value fails."""
    keep = np.ones(len(table), dtype=bool)
    for cut in cuts:
        if "any_of" in cut:
            keep &= np.logical_or.reduce([_passes(table, group, tracer) for group in cut["any_of"]] or [keep & False])
            continue
        unknown = set(cut) - {"column", *CUT_COMPARISONS}
        if unknown or not set(cut) & set(CUT_COMPARISONS):
            raise ValueError(
                f"ingest.tracers.{tracer}: a cut is {{column: c, <comparison>: value}} with comparisons "
                f"{list(CUT_COMPARISONS)}, or {{any_of: [[cut, ...], ...]}}; got {cut}"
            )
        values = table[cut["column"]].astype(float).to_numpy()
        for key, compare in CUT_COMPARISONS.items():
            if key in cut:
                keep &= compare(values, float(cut[key]))
    return keep


def select_tracer(lamost: pd.DataFrame, cut_flow: pd.DataFrame, ingest: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Keep the stars of the survey's tracer, ``ingest.tracers[ingest.tracer]`` (the published K
    giants by default, METHOD.md §2): every cut passed, a missing value in a cut's column fails.

    Counted as "missing <columns>" (a value missing in a column the cuts use) and "fails the
    <label> cuts". Stops naming the tracer when a cut uses a column the survey does not map.
    """
    name = ingest["tracer"]
    if name not in ingest["tracers"]:
        raise ValueError(f"ingest.tracer is {name!r}; the defined tracers are {list(ingest['tracers'])}")
    tracer = ingest["tracers"][name]
    cuts = tracer.get("cuts") or []
    columns = _cut_columns(cuts)
    unmapped = [c for c in columns if c not in mapped_columns(ingest["lamost"])]
    if unmapped:
        raise InputSchemaError(
            f"{ingest['lamost']['file']}: the cuts of tracer '{name}' use {unmapped}, which ingest.lamost.columns "
            "does not map: map them (canonical name: column in the file) or choose another ingest.tracer"
        )
    keep = _passes(lamost, cuts, name)
    missing = lamost[columns].isna().any(axis=1).to_numpy() if columns else np.zeros(len(lamost), dtype=bool)
    kept = lamost[keep].reset_index(drop=True)
    note = describe_counts(
        {
            f"missing {' or '.join(columns)}": int(missing.sum()),
            f"fails the {tracer['label']} cuts": int((~keep & ~missing).sum()),
        }
    )
    label = f"{tracer['label']} ({', '.join(columns)})" if columns else f"{tracer['label']} (no tracer cut)"
    return kept, append_cut(cut_flow, PIPELINE, label, len(kept), note)


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

    ``crossmatch.method: position`` skips the ids; ``row`` pairs the rows of one file (both
    tables are the same catalogue, read twice: the same row is the same star).
    """
    method = _match_method(ingest)
    if method == "row":
        return _pair_rows(lamost, gaia, cut_flow, ingest)
    radius = ingest["crossmatch"]["radius_arcsec"] * u.arcsec
    duplicated_ids = set(gaia.source_id[gaia.source_id.duplicated(keep=False)].dropna())
    gaia_unique = gaia[~gaia.source_id.isin(duplicated_ids)]
    gid = lamost.gaia_source_id
    has_id = gid.notna() & (gid.fillna(0) > 0) & (method == "id_then_position")
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


def _pair_rows(
    lamost: pd.DataFrame, gaia: pd.DataFrame, cut_flow: pd.DataFrame, ingest: dict
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``crossmatch.method: row``: the two tables are one catalogue; each kept star takes the
    astrometry of its own row (positions from the ``lamost`` columns)."""
    n_read = int(cut_flow.n_stars.iloc[0])
    if len(gaia) != n_read:
        raise InputSchemaError(
            f"ingest.crossmatch.method is row, which needs both tables to be the same file, but "
            f"{ingest['lamost']['file']} has {n_read} rows and {ingest['gaia']['file']} {len(gaia)}"
        )
    matched = lamost.merge(gaia, on="source_row", how="inner", suffixes=("", "_gaia"))
    note = "one catalogue: the same row is the same star (ingest.crossmatch.method: row)"
    return matched, append_cut(cut_flow, PIPELINE, "paired by row (one catalogue)", len(matched), note)


def _valid_sky(table: pd.DataFrame) -> np.ndarray:
    """Rows whose ra [deg] is finite in [0, 360] and dec in [-90, 90] (usable for a positional match)."""
    ra, dec = table.ra.astype(float).to_numpy(), table.dec.astype(float).to_numpy()
    with np.errstate(invalid="ignore"):
        return (ra >= 0) & (ra <= 360) & (dec >= -90) & (dec <= 90)


def _distances_from_parallaxes(matched: pd.DataFrame, min_over_error: float) -> tuple[pd.DataFrame, dict]:
    """dist = 1 / parallax [kpc for mas], dist_err = parallax_error / parallax² [kpc], and the rule
    that keeps only parallaxes measured to better than 1 / ``min_over_error`` (an inverted noisy
    parallax is a biased distance)."""
    parallax = matched.parallax.astype(float)
    error = matched.parallax_error.astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        matched = matched.assign(dist=1.0 / parallax, dist_err=error / parallax**2)
    rule = f"parallax not significant (parallax / parallax_error < {min_over_error:g}, or missing)"
    return matched, {rule: lambda t: (t.parallax.astype(float) / t.parallax_error.astype(float)).ge(min_over_error)}


def require_full_6d(matched: pd.DataFrame, cut_flow: pd.DataFrame, ingest: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Keep stars with a usable distance, line-of-sight velocity, proper motion, and [Fe/H] if
    the survey maps a [Fe/H] column (``ingest.lamost.columns.feh``). With
    ``ingest.distances.source: parallax`` the distances are inverted parallaxes, kept where
    parallax / parallax_error >= ``distances.min_parallax_over_error``.

    A star removed for several reasons is counted once, under the first reason. A missing
    pm correlation counts as 0 (no correlation given); the note says for how many stars.
    """
    no_corr = int(matched.pmra_pmdec_corr.isna().sum())
    if no_corr:
        logger.info("ingest: %d star(s) without a proper-motion correlation: taken as 0", no_corr)
        matched = matched.assign(pmra_pmdec_corr=matched.pmra_pmdec_corr.astype(float).fillna(0.0))
    rules = {}
    if _distance_source(ingest) == "parallax":
        matched, rules = _distances_from_parallaxes(matched, float(ingest["distances"]["min_parallax_over_error"]))

    def positive(col):
        return lambda t: t[col].astype(float).gt(0)

    def finite(col):
        return lambda t: pd.Series(np.isfinite(t[col].astype(float).to_numpy()), index=t.index)

    def all_of(*rules):
        return lambda t: pd.Series(np.logical_and.reduce([rule(t) for rule in rules]), index=t.index)

    rules |= {
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
    }
    if "feh" in mapped_columns(ingest["lamost"]):
        rules["no [Fe/H]"] = finite("feh")
    bad, counts = first_failure_counts(row_failures(matched, row_rules_schema(rules)))
    stars = matched[~bad]
    stars = stars.assign(obsid=stars.obsid.astype("int64"), source_id=stars.source_id.astype("int64"))[
        list(STARS_6D_COLUMNS)
    ].reset_index(drop=True)
    note = " | ".join(
        filter(None, [describe_counts(counts), f"pm correlation missing, taken as 0: {no_corr}" if no_corr else ""])
    )
    return stars, append_cut(cut_flow, PIPELINE, "full 6D phase space", len(stars), note)


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
