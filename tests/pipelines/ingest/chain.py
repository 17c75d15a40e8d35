"""The `ingest` nodes in pipeline order, called directly (no Kedro runner), for the node tests."""

from __future__ import annotations

import pandas as pd

from milkyway_mass.pipelines.ingest import nodes


def run_ingest_nodes(
    lamost_raw: pd.DataFrame, gaia_raw: pd.DataFrame, ingest: dict, cut_flow_settings: dict
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Raw LAMOST-style and Gaia-style tables → (stars_6d, cut flow), as ``ingest.pipeline`` wires them."""
    lamost = nodes.standardise_lamost(lamost_raw, ingest)
    gaia = nodes.standardise_gaia(gaia_raw, ingest)
    lamost, cut_flow = nodes.check_ranges(lamost, ingest)
    lamost, cut_flow = nodes.select_tracer(lamost, cut_flow, ingest)
    matched, cut_flow = nodes.cross_match(lamost, gaia, cut_flow, ingest)
    matched, cut_flow = nodes.check_gaia_ranges(matched, cut_flow, ingest)
    stars, cut_flow = nodes.require_full_6d(matched, cut_flow, ingest)
    return nodes.keep_one_observation_per_source(stars, cut_flow, ingest, cut_flow_settings)
