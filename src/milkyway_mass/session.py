"""A Kedro session whose default pipeline can be chosen by the environment."""

from __future__ import annotations

from typing import Any

from kedro.framework.session import KedroSession


class MilkyWaySession(KedroSession):
    """``kedro run`` without ``--pipelines`` runs the pipeline named by the
    ``default_pipeline`` parameter of the active environment.

    The base environment runs ``__default__`` (mock survey, then the analysis);
    the real-data environment ``lamost`` sets ``default_pipeline: analysis`` so
    that the mock generator never runs against user-supplied survey files.
    """

    def run(
        self, pipeline_name: str | None = None, pipeline_names: list[str] | None = None, **kwargs: Any
    ) -> dict[str, Any]:
        if pipeline_name is None and not pipeline_names:
            default = self.load_context().params.get("default_pipeline", "__default__")
            pipeline_names = [default]
        return super().run(pipeline_name=pipeline_name, pipeline_names=pipeline_names, **kwargs)
