"""The cut-flow table: one row per cut, accounting for every star removed.

Columns are :data:`milkyway_mass.schemas.CUT_FLOW_COLUMNS`. ``n_removed`` is
computed from the previous row of the same binning (a binning's first row
follows the last ``'all'`` row), so removals always add up.
"""

from __future__ import annotations

import pandas as pd

from milkyway_mass.schemas import CUT_FLOW_COLUMNS


def empty_cut_flow() -> pd.DataFrame:
    """A cut-flow table with no rows."""
    return pd.DataFrame(
        {c: pd.Series(dtype="int64" if c in ("n_stars", "n_removed") else "object") for c in CUT_FLOW_COLUMNS}
    )


def cut_row(pipeline: str, cut: str, binning: str, n_stars: int, n_removed: int, note: str = "") -> dict:
    """One cut-flow row as a dict with the :data:`CUT_FLOW_COLUMNS` keys."""
    return {
        "pipeline": pipeline,
        "cut": cut,
        "binning": binning,
        "n_stars": int(n_stars),
        "n_removed": int(n_removed),
        "note": note,
    }


def append_cut(
    cut_flow: pd.DataFrame, pipeline: str, cut: str, n_stars: int, note: str = "", binning: str = "all"
) -> pd.DataFrame:
    """Return ``cut_flow`` with one more row; ``n_removed`` = previous count − ``n_stars``."""
    previous = cut_flow[cut_flow.binning == binning]
    if previous.empty:
        previous = cut_flow[cut_flow.binning == "all"]
    n_before = int(previous.n_stars.iloc[-1]) if len(previous) else int(n_stars)
    row = cut_row(pipeline, cut, binning, n_stars, n_before - int(n_stars), note)
    return pd.concat([cut_flow, pd.DataFrame([row])], ignore_index=True)


def describe_counts(counts: dict[str, int]) -> str:
    """'reason: n; reason: n' for the non-zero counts (the cut flow's ``note``)."""
    return "; ".join(f"{k}: {v}" for k, v in counts.items() if v)
