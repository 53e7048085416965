"""Both sides of an import, export or round trip, entity by entity, through each side's client
(MLflow's `MlflowClient`, or tracklog's, which has the same methods)."""

from __future__ import annotations

import math
from typing import Any

# tracklog.*: export's id mapping; mlflow.modelVersions: written by the registry when a version is
# registered (MLflow's sqlite store writes it, its file store does not; the registry is compared
# version by version in `registry`)
IGNORED_TAGS = {"tracklog.run_id", "tracklog.model_id", "mlflow.modelVersions"}


def _nan_safe(value: float) -> Any:
    return "nan" if isinstance(value, float) and math.isnan(value) else value


def _files(client: Any, run_id: str, path: str | None = None) -> list[tuple[str, int | None]]:
    out = []
    for info in client.list_artifacts(run_id, path):
        if info.is_dir:
            out.extend(_files(client, run_id, info.path))
        else:
            out.append((info.path, info.file_size))
    return sorted(out)


def experiments(client: Any, view_all: Any, *, times: bool) -> dict[str, Any]:
    return {e.name: (e.lifecycle_stage, dict(e.tags), e.creation_time if times else None)
            for e in client.search_experiments(view_type=view_all)}


def run_state(client: Any, run: Any, *, times: bool = True) -> dict[str, Any]:
    info, data = run.info, run.data
    # as sets: MLflow's file store can hold one exact point twice, which tracklog folds once
    history = {key: sorted({(m.step, m.timestamp, _nan_safe(m.value)) for m in client.get_metric_history(info.run_id, key)})
               for key in data.metrics}
    inputs = sorted((d.dataset.name, d.dataset.digest, d.dataset.source_type, d.dataset.source, d.dataset.schema or "",
                     d.dataset.profile or "", tuple(sorted((t.key, t.value) for t in d.tags)))
                    for d in run.inputs.dataset_inputs)
    return {
        "name": info.run_name, "user": info.user_id, "status": str(info.status), "start": info.start_time,
        "end": info.end_time, "lifecycle": info.lifecycle_stage, "params": dict(data.params),
        "tags": {k: v for k, v in data.tags.items() if k not in IGNORED_TAGS},
        "metrics": {k: _nan_safe(v) for k, v in data.metrics.items()}, "history": history, "inputs": inputs,
        "outputs": sorted((client.get_logged_model(o.model_id).name, o.step) for o in run.outputs.model_outputs)
        if run.outputs else [],
        "artifacts": _files(client, info.run_id),
    } | ({} if times else {"start": None, "end": None})


def runs(client: Any, view_all: Any, *, key: Any = None) -> dict[str, Any]:
    """Every run of every experiment, by `key(run)` (default: its id); a child's parent link
    (the ``mlflow.parentRunId`` tag) is given as its parent's key too."""
    out, keys = {}, {}
    for exp in client.search_experiments(view_type=view_all):
        for run in client.search_runs([exp.experiment_id], run_view_type=view_all, max_results=1000):
            keys[run.info.run_id] = key(run) if key else run.info.run_id
            out[keys[run.info.run_id]] = (exp.name, run_state(client, run))
    for _, state in out.values():
        if "mlflow.parentRunId" in state["tags"]:
            parent = state["tags"]["mlflow.parentRunId"]
            state["tags"]["mlflow.parentRunId"] = keys.get(parent, f"not a run: {parent}")
    return out


def _run_name(client: Any, run_id: str | None) -> str | None:
    return client.get_run(run_id).info.run_name if run_id else None


def registry(client: Any) -> dict[str, Any]:
    out = {}
    for m in client.search_registered_models():
        versions = client.search_model_versions(f"name = '{m.name}'")
        out[m.name] = (m.description, dict(m.tags), {k: str(v) for k, v in dict(m.aliases).items()},  # MLflow: int (sqlite) or str (files)
                       sorted((int(v.version), v.current_stage, v.description, dict(v.tags), _run_name(client, v.run_id),
                               client.get_logged_model(v.model_id).name if v.model_id else None,
                               v.source.startswith("models:/m-")) for v in versions))
    return out


def logged_models(client: Any, view_all: Any, *, artifacts: bool = False) -> dict[str, Any]:
    """Every logged model by (experiment name, model name); with `artifacts`, its files too
    (through MLflow's ``list_logged_model_artifacts``)."""
    out = {}
    for exp in client.search_experiments(view_type=view_all):
        for m in client.search_logged_models([exp.experiment_id]):
            out[(exp.name, m.name)] = (dict(m.params), {k: v for k, v in m.tags.items() if k not in IGNORED_TAGS},
                                       str(getattr(m.status, "name", m.status)),
                                       sorted((x.key, _nan_safe(x.value), x.step, _run_name(client, x.run_id))
                                              for x in m.metrics or []),
                                       _run_name(client, m.source_run_id), m.model_type,
                                       sorted((f.path, f.file_size) for f in client.list_logged_model_artifacts(m.model_id))
                                       if artifacts else None)
    return out
