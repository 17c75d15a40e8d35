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
                nodes.select_tracer,
                ["lamost_in_range", "cut_flow_ranges", "params:ingest"],
                ["tracer_stars", "cut_flow_tracer"],
                name="select_tracer",
            ),
            node(
                nodes.cross_match,
                ["tracer_stars", "gaia_standardised", "cut_flow_tracer", "params:ingest"],
                ["tracer_stars_matched", "cut_flow_matched"],
                name="cross_match",
            ),
            node(
                nodes.check_gaia_ranges,
                ["tracer_stars_matched", "cut_flow_matched", "params:ingest"],
                ["tracer_stars_gaia_in_range", "cut_flow_gaia_ranges"],
                name="check_gaia_ranges",
            ),
            node(
                nodes.require_full_6d,
                ["tracer_stars_gaia_in_range", "cut_flow_gaia_ranges", "params:ingest"],
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
