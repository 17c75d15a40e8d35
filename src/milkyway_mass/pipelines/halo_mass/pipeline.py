"""The ``halo_mass`` pipeline: NFW halo mass from the escape-velocity curve (METHOD.md §5).

``create_pipeline()`` fits the curve measured by ``escape_velocity``
(``vesc_samples_bin1``, ``vesc_table_bin1``); ``create_pipeline(curve_source="published")``
fits the published curve ``published_vesc_bin1`` instead and needs no upstream data;
its datasets carry the namespace ``published``.

The fit runs twice, as namespaces ``nominal`` and ``corrected``: the curve scaled
by ``halo_mass.vesc_scale.nominal`` (1.0) and ``halo_mass.vesc_scale.corrected``
(1.1, the +10 % variant).
"""

from kedro.pipeline import Pipeline, node

from .nodes import (
    build_measured_curve,
    build_published_curve,
    fit_halo_mass,
    plot_corner,
    plot_escape_velocity_curve,
    report_halo_mass,
    scale_curve,
    summarise_fit,
)

VARIANTS = ("nominal", "corrected")
CURVE_SOURCES = ("measured", "published")


def _fit_template() -> Pipeline:
    return Pipeline(
        [
            node(scale_curve, ["halo_mass_vesc_curve", "params:vesc_scale"], "halo_mass_scaled_curve", name="scale_vesc_curve"),
            node(
                fit_halo_mass,
                [
                    "halo_mass_scaled_curve", "params:halo_mass.model", "params:halo_mass.priors",
                    "params:halo_mass.sampler", "params:galaxy_frame", "params:cosmology",
                ],
                "halo_mass_chain",
                name="fit_halo_mass",
            ),
            node(
                summarise_fit,
                ["halo_mass_chain", "params:halo_mass.model", "params:halo_mass.summary", "params:galaxy_frame", "params:cosmology"],
                "halo_mass_fit_summary",
                name="summarise_halo_fit",
            ),
            node(plot_corner, ["halo_mass_chain", "params:halo_mass.figures"], "halo_mass_corner_plot", name="plot_halo_corner"),
            node(
                plot_escape_velocity_curve,
                ["halo_mass_chain", "params:halo_mass.model", "params:halo_mass.figures", "params:galaxy_frame", "params:cosmology"],
                "halo_mass_vesc_plot",
                name="plot_halo_vesc_curve",
            ),
        ]
    )


def _shared_parameters(pipe: Pipeline) -> dict[str, str]:
    return {p: p for p in pipe.inputs() if p.startswith("params:") and p != "params:vesc_scale"}


def create_pipeline(curve_source: str = "measured", **kwargs) -> Pipeline:
    if curve_source == "measured":
        source = node(
            build_measured_curve,
            ["vesc_samples_bin1", "vesc_table_bin1", "params:halo_mass.curve"],
            "halo_mass_vesc_curve",
            name="build_halo_mass_measured_curve",
        )
    elif curve_source == "published":
        source = node(
            build_published_curve,
            ["published_vesc_bin1", "params:halo_mass.curve"],
            "halo_mass_vesc_curve",
            name="build_halo_mass_published_curve",
        )
    else:
        raise ValueError(f"curve_source must be one of {CURVE_SOURCES}, got {curve_source!r}")

    template = _fit_template()
    variants = [
        Pipeline(
            template,
            namespace=variant,
            inputs={"halo_mass_vesc_curve"},
            outputs={"halo_mass_fit_summary": f"halo_mass_fit_summary_{variant}"},
            parameters=_shared_parameters(template) | {"params:vesc_scale": f"params:halo_mass.vesc_scale.{variant}"},
        )
        for variant in VARIANTS
    ]
    report = node(
        report_halo_mass,
        [f"halo_mass_fit_summary_{v}" for v in VARIANTS] + ["params:halo_mass.published_masses"],
        ["halo_mass_summary", "halo_mass_summary_md", "halo_mass_comparison"],
        name="report_halo_mass",
    )
    pipe = Pipeline([source, *variants, report])
    if curve_source == "published":
        return Pipeline(pipe, namespace="published", inputs={"published_vesc_bin1"}, parameters=_shared_parameters(pipe))
    return pipe
