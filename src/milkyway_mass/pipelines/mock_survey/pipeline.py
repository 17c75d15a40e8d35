"""Wiring of the `mock_survey` pipeline (the embedded default input)."""

from kedro.pipeline import Pipeline, node

from . import nodes

FRAME = ["params:mock_survey", "params:galaxy_frame", "params:cosmology"]


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            node(nodes.build_truth, FRAME, "mock_truth", name="build_mock_truth"),
            node(nodes.generate_population, FRAME, "mock_population", name="generate_mock_population"),
            node(
                nodes.observe_survey,
                ["mock_population", "params:mock_survey", "params:galaxy_frame"],
                ["lamost_kgiants", "gaia_dr3", "mock_defects"],
                name="observe_mock_survey",
            ),
            node(nodes.truth_stars, ["mock_population", "mock_defects"], "mock_truth_stars", name="mock_truth_stars"),
            node(
                nodes.mock_rotation_curve,
                ["eilers2019_rotation_curve", *FRAME],
                "rotation_curve_data",
                name="mock_rotation_curve",
            ),
            node(nodes.mock_kz, ["bovy_rix2013_kz", *FRAME], "kz_data", name="mock_kz"),
            node(
                nodes.mock_globular_clusters,
                ["gc_vasiliev_baumgardt2021", *FRAME],
                "gc_catalogue_data",
                name="mock_globular_clusters",
            ),
        ]
    )
