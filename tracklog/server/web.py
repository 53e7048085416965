"""The ajax endpoints MLflow's own web UI calls besides the REST API: uploading one file into a
run's artifacts (``upload-artifact``) and the datasets of experiments' runs (``search-datasets``).
"""

from __future__ import annotations

import hashlib
from typing import Any

import anyio
import msgspec

from eventlog.errors import InvalidArtifactPathError, InvalidInputError
from tracklog.server.artifacts import checked_path, filesystem, serve_file, served_root
from tracklog.server.routing import Call
from tracklog.tracking import messages as m

__all__ = ["SearchDatasets", "VersionFile", "model_version_file", "search_datasets", "upload_artifact"]

MAX_EXPERIMENTS = 20  # MLflow's limit for search-datasets


class SearchDatasets(m.Body, kw_only=True):
    experiment_ids: list[str] = []


class DatasetSummary(msgspec.Struct, kw_only=True, omit_defaults=True):
    experiment_id: str
    name: str
    digest: str
    context: str = ""


def search_datasets(call: Call, body: SearchDatasets) -> dict[str, Any]:
    """``POST /ajax-api/2.0/mlflow/experiments/search-datasets``: each (experiment, dataset, context)
    the experiments' runs logged as inputs, as MLflow's UI lists them."""
    ids = body.experiment_ids
    if not ids:
        raise InvalidInputError("SearchDatasets request must specify at least one experiment_id.")
    if len(ids) > MAX_EXPERIMENTS:
        raise InvalidInputError(f"SearchDatasets request cannot specify more than {MAX_EXPERIMENTS} experiment_ids. "
                                f"Received {len(ids)} experiment_ids.")
    for experiment_id in ids:
        call.require("experiment", experiment_id, "READ")
    cur = call.store.cursor(scope=call.read_scope())
    try:
        rows = cur.execute(
            "SELECT DISTINCT r.experiment_id, i.dataset_name, i.dataset_digest, i.context "
            "FROM inputs i JOIN runs r USING (run_id) WHERE r.experiment_id IN (SELECT unnest(?)) "
            "ORDER BY 1, 2, 3, 4", [ids]).fetchall()
    finally:
        cur.close()
    return {"dataset_summaries": [DatasetSummary(experiment_id=e, name=n, digest=d, context=c or "")
                                  for e, n, d, c in rows]}


async def upload_artifact(call: Call, body: Any) -> m.Empty:
    """``POST /ajax-api/2.0/mlflow/upload-artifact?run_uuid=…&path=…``: the request body (not JSON)
    becomes the file `path` of the run's artifacts (MLflow's UI uploads this way)."""
    assert call.request is not None
    query = call.request.query_params
    run_id = query.get("run_uuid") or query.get("run_id")
    if not run_id:
        raise InvalidInputError("Request must specify run_uuid.")
    path = query.get("path", "")
    if not path:
        raise InvalidInputError("Request must specify path.")
    try:
        rel = checked_path(path)
    except InvalidArtifactPathError as exc:
        raise InvalidInputError(f"Invalid path: {exc}") from exc
    run = await anyio.to_thread.run_sync(call.client.get_run, run_id)
    await anyio.to_thread.run_sync(call.require, "run", run.info.run_id, "EDIT")
    data = b""
    async for chunk in call.request.stream():
        data += chunk
        if call.server.max_upload is not None and len(data) > call.server.max_upload:
            raise InvalidInputError(f"the upload is larger than this server's limit of {call.server.max_upload} bytes")
    if not data:
        raise InvalidInputError("Request must specify data.")
    root = served_root(call, run.info.artifact_uri)
    await anyio.to_thread.run_sync(_write, f"{root.rstrip('/')}/{rel}", data)
    await anyio.to_thread.run_sync(call.client.store.record_artifacts, run.info.run_id,
                                   [(rel, len(data), hashlib.sha256(data).hexdigest())])
    return m.Empty()


class VersionFile(m.Body, kw_only=True):
    name: str
    version: str
    path: str


async def model_version_file(call: Call, body: VersionFile) -> Any:
    """``GET /model-versions/get-artifact?name=…&version=…&path=…``: one file of a registered
    version (MLflow's UI reads a version's MLmodel so)."""
    uri = await anyio.to_thread.run_sync(call.client.get_model_version_download_uri, body.name, body.version)
    return await serve_file(served_root(call, uri), checked_path(body.path))


def _write(uri: str, data: bytes) -> None:
    fs, path = filesystem(uri)
    fs.makedirs(fs._parent(path), exist_ok=True)
    with fs.open(path, "wb") as out:
        out.write(data)
