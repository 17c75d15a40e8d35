"""Wiring of the `kinematics` pipeline."""

from milkyway_mass.pipelines.kinematics.pipeline import create_pipeline


def test_pipeline_maps_stars_6d_to_stars_galactocentric():
    pipe = create_pipeline()
    assert pipe.inputs() == {"stars_6d", "params:galaxy_frame", "params:kinematics"}
    assert pipe.outputs() == {"stars_galactocentric"}
