"""The ``halo_mass`` pipeline: the dark-halo mass (METHOD.md §5 and §6).

``create_pipeline()`` fits the curve measured by ``escape_velocity``
(``vesc_samples_bin1``, ``vesc_table_bin1``); ``create_pipeline(curve_source="published")``
fits the published curve ``published_vesc_bin1`` instead and needs no upstream data;
its datasets carry the namespace ``published``. ``create_pipeline(curve_source="calibrated")``
fits ``vesc_table_calibrated_bin1`` (the measured curve corrected by ``calibration``),
in the namespace ``calibrated`` (Analysis A only).

Analysis A (``"A"`` in ``analyses``) fits an NFW halo to the curve twice, as
namespaces ``nominal`` and ``corrected``: the curve scaled by
``halo_mass.vesc_scale.nominal`` (1.0) and ``halo_mass.vesc_scale.corrected`` (1.1,
the +10 % variant).

Analysis B (``"B"``) runs the grid of ``halo_mass.analysis_b`` (halo family x
baryons x constraint set) on the curve plus a rotation curve and a K_z table:
the survey's ``rotation_curve_data``, ``kz_data`` and globular clusters ``gc_catalogue_data`` (the mock's by
default; measured curve) or the published ``eilers2019_rotation_curve``, ``bovy_rix2013_kz`` and
``gc_vasiliev_baumgardt2021`` (published curve). Its outputs are the ``halo_mass_b_*`` datasets.
"""

from kedro.pipeline import Pipeline, node

from .combined_nodes import (
    build_globular_cluster_constraint,
    build_rotation_curve_constraint,
    build_vertical_force_constraint,
    fit_analysis_b,
    predict_analysis_b_curves,
    reweight_globular_cluster_fits,
    summarise_analysis_b,
)
from .figures import (
    plot_corner,
    plot_enclosed_mass_analysis_b,
    plot_escape_velocity_curve,
    plot_rotation_curve_analysis_b,
    plot_vertical_force_analysis_b,
    plot_vesc_analysis_b,
)
from .nodes import (
    build_calibrated_curve,
    build_measured_curve,
    build_published_curve,
    fit_halo_mass,
    scale_curve,
    summarise_fit,
)
from .reports import report_halo_mass

VARIANTS = ("nominal", "corrected")
#: Per curve source: the node building the curve and its data inputs.
CURVE_BUILDERS = {
    "measured": (build_measured_curve, ["vesc_samples_bin1", "vesc_table_bin1"]),
    "published": (build_published_curve, ["published_vesc_bin1"]),
    "calibrated": (build_calibrated_curve, ["vesc_table_calibrated_bin1"]),
}
CURVE_SOURCES = tuple(CURVE_BUILDERS)
ANALYSES = ("A", "B")

#: Rotation-curve, K_z and globular-cluster datasets of Analysis B per curve source.
B_INPUTS = {
    "measured": {"rotation_curve_table": "rotation_curve_data", "kz_table": "kz_data", "gc_table": "gc_catalogue_data"},
    "published": {
        "rotation_curve_table": "eilers2019_rotation_curve",
        "kz_table": "bovy_rix2013_kz",
        "gc_table": "gc_vasiliev_baumgardt2021",
    },
}


def _fit_template() -> Pipeline:
    return Pipeline(
        [
            node(
                scale_curve,
                ["halo_mass_vesc_curve", "params:vesc_scale"],
                "halo_mass_scaled_curve",
                name="scale_vesc_curve",
            ),
            node(
                fit_halo_mass,
                [
                    "halo_mass_scaled_curve",
                    "params:halo_mass.model",
                    "params:halo_mass.priors",
                    "params:halo_mass.sampler",
                    "params:galaxy_frame",
                    "params:cosmology",
                ],
                "halo_mass_chain",
                name="fit_halo_mass",
            ),
            node(
                summarise_fit,
                [
                    "halo_mass_chain",
                    "params:halo_mass.model",
                    "params:halo_mass.summary",
                    "params:galaxy_frame",
                    "params:cosmology",
                ],
                "halo_mass_fit_summary",
                name="summarise_halo_fit",
            ),
            node(
                plot_corner,
                ["halo_mass_chain", "params:halo_mass.figures"],
                "halo_mass_corner_plot",
                name="plot_halo_corner",
            ),
            node(
                plot_escape_velocity_curve,
                [
                    "halo_mass_chain",
                    "params:halo_mass.model",
                    "params:halo_mass.figures",
                    "params:galaxy_frame",
                    "params:cosmology",
                ],
                "halo_mass_vesc_plot",
                name="plot_halo_vesc_curve",
            ),
        ]
    )


def _analysis_b(curve_source: str) -> Pipeline:
    B = "params:halo_mass.analysis_b"
    MODEL = "params:halo_mass.model"
    template = Pipeline(
        [
            node(
                build_globular_cluster_constraint,
                ["gc_table", f"{B}.globular_clusters", "params:galaxy_frame"],
                ["halo_mass_b_gc_draws", "halo_mass_b_gc_selection"],
                name="build_globular_cluster_constraint_analysis_b",
            ),
            node(
                scale_curve,
                ["halo_mass_vesc_curve", f"{B}.vesc_scale"],
                "halo_mass_b_vesc_curve",
                name="scale_vesc_curve_analysis_b",
            ),
            node(
                build_rotation_curve_constraint,
                ["rotation_curve_table", f"{B}.rotation_curve"],
                "halo_mass_b_rotation_curve",
                name="build_rotation_curve_analysis_b",
            ),
            node(
                build_vertical_force_constraint,
                ["kz_table", f"{B}.vertical_force"],
                "halo_mass_b_vertical_force",
                name="build_vertical_force_analysis_b",
            ),
            node(
                fit_analysis_b,
                [
                    "halo_mass_b_vesc_curve",
                    "halo_mass_b_rotation_curve",
                    "halo_mass_b_vertical_force",
                    MODEL,
                    B,
                    "params:galaxy_frame",
                    "params:cosmology",
                    f"{B}.data_labels.{curve_source}",
                    "halo_mass_b_gc_draws",
                ],
                "halo_mass_b_chains",
                name="fit_analysis_b",
            ),
            node(
                summarise_analysis_b,
                ["halo_mass_b_chains", MODEL, B, "params:galaxy_frame", "params:cosmology"],
                ["halo_mass_b_summary", "halo_mass_b_results", "halo_mass_b_summary_md"],
                name="summarise_analysis_b",
            ),
            node(
                reweight_globular_cluster_fits,
                [
                    "halo_mass_b_chains",
                    "halo_mass_b_vesc_curve",
                    "halo_mass_b_rotation_curve",
                    "halo_mass_b_vertical_force",
                    "halo_mass_b_gc_draws",
                    MODEL,
                    B,
                    "params:galaxy_frame",
                    "params:cosmology",
                ],
                ["halo_mass_b_gc_staeckel", "halo_mass_b_gc_staeckel_md"],
                name="reweight_globular_cluster_fits_analysis_b",
            ),
            node(
                predict_analysis_b_curves,
                ["halo_mass_b_chains", "halo_mass_b_vertical_force", MODEL, B, "params:cosmology"],
                "halo_mass_b_curves",
                name="predict_analysis_b_curves",
            ),
            node(
                plot_rotation_curve_analysis_b,
                ["halo_mass_b_curves", "halo_mass_b_rotation_curve", "halo_mass_b_summary", B],
                "halo_mass_b_rotation_curve_plot",
                name="plot_rotation_curve_analysis_b",
            ),
            node(
                plot_vertical_force_analysis_b,
                ["halo_mass_b_curves", "halo_mass_b_vertical_force", "halo_mass_b_summary", B],
                "halo_mass_b_kz_plot",
                name="plot_vertical_force_analysis_b",
            ),
            node(
                plot_enclosed_mass_analysis_b,
                ["halo_mass_b_curves", "halo_mass_b_gc_staeckel", "halo_mass_b_summary", B],
                "halo_mass_b_enclosed_mass_plot",
                name="plot_enclosed_mass_analysis_b",
            ),
            node(
                plot_vesc_analysis_b,
                ["halo_mass_b_curves", "halo_mass_b_vesc_curve", "halo_mass_b_summary", B],
                "halo_mass_b_vesc_plot",
                name="plot_vesc_analysis_b",
            ),
        ]
    )
    return Pipeline(template, inputs=B_INPUTS[curve_source])


def _shared_parameters(pipe: Pipeline) -> dict[str, str]:
    return {p: p for p in pipe.inputs() if p.startswith("params:") and p != "params:vesc_scale"}


def create_pipeline(curve_source: str = "measured", analyses: tuple[str, ...] = ANALYSES, **kwargs) -> Pipeline:
    if curve_source not in CURVE_SOURCES:
        raise ValueError(f"curve_source must be one of {CURVE_SOURCES}, got {curve_source!r}")
    if curve_source == "calibrated" and "B" in analyses:
        raise ValueError("the calibrated curve feeds Analysis A only; use analyses=('A',)")
    build, curve_inputs = CURVE_BUILDERS[curve_source]
    source = node(
        build,
        [*curve_inputs, "params:halo_mass.curve"],
        "halo_mass_vesc_curve",
        name=f"build_halo_mass_{curve_source}_curve",
    )
    unknown = set(analyses) - set(ANALYSES)
    if unknown or not analyses:
        raise ValueError(f"analyses must be a non-empty subset of {ANALYSES}, got {analyses!r}")

    parts = [Pipeline([source])]
    if "A" in analyses:
        template = _fit_template()
        variants = [
            Pipeline(
                template,
                namespace=variant,
                inputs={"halo_mass_vesc_curve"},
                outputs={"halo_mass_fit_summary": f"halo_mass_fit_summary_{variant}"},
                parameters=_shared_parameters(template)
                | {"params:vesc_scale": f"params:halo_mass.vesc_scale.{variant}"},
            )
            for variant in VARIANTS
        ]
        report = node(
            report_halo_mass,
            [f"halo_mass_fit_summary_{v}" for v in VARIANTS] + ["params:halo_mass.published_masses"],
            ["halo_mass_summary", "halo_mass_summary_md", "halo_mass_comparison"],
            name="report_halo_mass",
        )
        parts += [*variants, Pipeline([report])]
    if "B" in analyses:
        parts.append(_analysis_b(curve_source))
    pipe = sum(parts, Pipeline([]))
    if curve_source == "published":
        raw = {"published_vesc_bin1"} | (set(B_INPUTS["published"].values()) if "B" in analyses else set())
        return Pipeline(pipe, namespace="published", inputs=raw, parameters=_shared_parameters(pipe))
    if curve_source == "calibrated":
        return Pipeline(
            pipe, namespace="calibrated", inputs={"vesc_table_calibrated_bin1"}, parameters=_shared_parameters(pipe)
        )
    return pipe
