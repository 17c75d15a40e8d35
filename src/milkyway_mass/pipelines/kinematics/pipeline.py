"""`kinematics`: ``stars_6d`` → ``stars_galactocentric`` (METHOD.md §1)."""

from kedro.pipeline import Pipeline, node

from .nodes import compute_galactocentric


def create_pipeline(**kwargs) -> Pipeline:
    return Pipeline(
        [
            node(
                compute_galactocentric,
                inputs=["stars_6d", "params:galaxy_frame", "params:kinematics"],
                outputs="stars_galactocentric",
                name="compute_galactocentric",
            ),
        ]
    )
