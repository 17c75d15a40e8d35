"""The cut-flow table: one row per cut, accounting for every star removed.

Columns are :data:`milkyway_mass.schemas.CUT_FLOW_COLUMNS`. ``n_removed`` is
computed from the previous row of the same binning (a binning's first row
follows the last ``'all'`` row), so removals always add up.
"""

from __future__ import annotations

import logging

import pandas as pd

from milkyway_mass.schemas import CUT_FLOW_COLUMNS

logger = logging.getLogger(__name__)


class EmptySelectionError(ValueError):
    """A table that a later pipeline needs came out empty; the message names the cut that emptied it."""


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


def warn_heavy_losses(cut_flow: pd.DataFrame, share: float) -> list[str]:
    """Log a WARNING for every cut that removed more than ``share`` of the stars reaching it
    (naming the cut, its binning, the counts and its reasons); returns the messages."""
    messages = []
    for row in cut_flow.itertuples():
        before = row.n_stars + row.n_removed
        if before > 0 and row.n_removed > share * before:
            messages.append(
                f"{row.pipeline}: cut '{row.cut}' ({row.binning}) removed {row.n_removed} of {before} stars"
                + (f" ({row.note})" if row.note else "")
            )
            logger.warning("%s", messages[-1])
    return messages


def require_stars(cut_flow: pd.DataFrame, what: str) -> None:
    """Stop with ``EmptySelectionError`` when the last row of ``cut_flow`` has no stars, naming
    ``what`` came out empty and the first cut after which no star was left (with its reasons)."""
    if len(cut_flow) and int(cut_flow.n_stars.iloc[-1]) == 0:
        row = cut_flow[cut_flow.n_stars == 0].iloc[0]
        reasons = f" ({row.note})" if row.note else ""
        raise EmptySelectionError(
            f"{what} is empty: no star was left after the cut '{row.cut}' of {row.pipeline} "
            f"({row.binning}), which removed {row.n_removed}{reasons}; check that cut's settings and the input"
        )
