"""Project pipelines.

Registered explicitly (not with ``find_pipelines``) because the composite
pipelines ``analysis`` and ``__default__`` need every part, whatever subset
``kedro run --pipelines`` asks for.
"""

from __future__ import annotations

from kedro.pipeline import Pipeline

from milkyway_mass.pipelines import (
    calibration,
    escape_velocity,
    halo_mass,
    ingest,
    kinematics,
    mock_survey,
    selection,
    validation,
)

ANALYSIS = {
    "ingest": ingest,
    "kinematics": kinematics,
    "selection": selection,
    "escape_velocity": escape_velocity,
    "halo_mass": halo_mass,
}


def register_pipelines() -> dict[str, Pipeline]:
    """``analysis`` is the survey analysis (``ingest`` → ``halo_mass``); ``analysis_a`` the same
    up to Analysis A (the halo fit to the escape-velocity curve), without the Analysis B grid;
    ``__default__`` runs the embedded ``mock_survey`` first, then the analysis,
    then ``validation`` (the analysis against the mock's truth);
    ``calibration`` measures the coverage of the tail estimators on mock
    realisations of the selected bins, corrects the measured curve and fits
    Analysis A to it (namespace ``calibrated``; run it after ``analysis``; not
    part of ``__default__``);
    ``halo_mass_published`` fits the halo to the published v_esc curve alone
    (the default pipeline of the ``published`` environment);
    ``halo_mass_published_b`` runs the Analysis B grid on the published v_esc
    curve, rotation curve and K_z (the default of ``published_b``).
    """
    pipelines = {name: module.create_pipeline() for name, module in ANALYSIS.items()}
    pipelines["analysis"] = sum(pipelines.values(), Pipeline([]))
    upstream = [pipelines[name] for name in ANALYSIS if name != "halo_mass"]
    pipelines["analysis_a"] = sum(upstream, Pipeline([])) + halo_mass.create_pipeline(analyses=("A",))
    pipelines["mock_survey"] = mock_survey.create_pipeline()
    pipelines["validation"] = validation.create_pipeline()
    pipelines["calibration"] = calibration.create_pipeline() + halo_mass.create_pipeline(
        curve_source="calibrated", analyses=("A",)
    )
    pipelines["__default__"] = pipelines["mock_survey"] + pipelines["analysis"] + pipelines["validation"]
    pipelines["halo_mass_published"] = halo_mass.create_pipeline(curve_source="published", analyses=("A",))
    pipelines["halo_mass_published_b"] = halo_mass.create_pipeline(curve_source="published", analyses=("B",))
    return pipelines
