"""Wiring of the `ingest` pipeline."""

from kedro.pipeline import Pipeline, node

from . import nodes


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            node(
                nodes.standardise_lamost,
                ["lamost_kgiants", "params:ingest"],
                "lamost_standardised",
                name="standardise_lamost",
            ),
            node(nodes.standardise_gaia, ["gaia_dr3", "params:ingest"], "gaia_standardised", name="standardise_gaia"),
            node(
                nodes.check_ranges,
                ["lamost_standardised", "params:ingest"],
                ["lamost_in_range", "cut_flow_ranges"],
                name="check_ranges",
            ),
            node(
                nodes.select_k_giants,
                ["lamost_in_range", "cut_flow_ranges", "params:ingest"],
                ["k_giants", "cut_flow_k_giants"],
                name="select_k_giants",
            ),
            node(
                nodes.cross_match,
                ["k_giants", "gaia_standardised", "cut_flow_k_giants", "params:ingest"],
                ["k_giants_matched", "cut_flow_matched"],
                name="cross_match",
            ),
            node(
                nodes.check_gaia_ranges,
                ["k_giants_matched", "cut_flow_matched", "params:ingest"],
                ["k_giants_gaia_in_range", "cut_flow_gaia_ranges"],
                name="check_gaia_ranges",
            ),
            node(
                nodes.require_full_6d,
                ["k_giants_gaia_in_range", "cut_flow_gaia_ranges"],
                ["observations_6d", "cut_flow_full_6d"],
                name="require_full_6d",
            ),
            node(
                nodes.keep_one_observation_per_source,
                ["observations_6d", "cut_flow_full_6d", "params:ingest", "params:cut_flow"],
                ["stars_6d", "cut_flow_ingest"],
                name="keep_one_observation_per_source",
            ),
        ]
    )
