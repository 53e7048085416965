"""What MLflow's own REST test file (benchmarks/mlflow_rest_suite.py) holds our server to, pinned
here against a real server process: MLflow's wording, artifact options, model-version sources,
MLflow 3 logged-model links, the web UI's endpoints (GraphQL, ajax) and the 501 of GenAI features."""

from __future__ import annotations

import math

import pytest
import requests
from packaging.version import Version

API = "/api/2.0/mlflow"


@pytest.fixture
def mlflow(mlflow_client_env, server):
    mlflow_client_env.set_tracking_uri(server.url)
    return mlflow_client_env


def _post(server, path: str, body: dict) -> requests.Response:
    return requests.post(server.url + path, json=body, timeout=30)


def _run(server) -> str:
    exp = _post(server, f"{API}/experiments/create", {"name": "parity"}).json()["experiment_id"]
    return str(_post(server, f"{API}/runs/create", {"experiment_id": exp}).json()["run"]["info"]["run_id"])


def test_validation_messages_use_mlflows_wording(server) -> None:
    """A value of the wrong type is named with the value, a missing or null one as missing."""
    run_id = _run(server)
    cases = [
        (f"{API}/runs/log-metric", {"run_id": 31, "key": "m", "value": 1, "timestamp": 1},
         "Invalid value 31 for parameter 'run_id' supplied"),
        (f"{API}/runs/log-metric", {"run_id": run_id, "key": "m", "value": 1, "timestamp": 1, "step": "foo"},
         "Invalid value \"foo\" for parameter 'step' supplied"),
        (f"{API}/runs/log-metric", {"run_id": None, "key": "m", "value": 1, "timestamp": 1},
         "Missing value for required parameter 'run_id'"),
        (f"{API}/runs/log-batch", {"run_id": run_id, "metrics": [{"key": "mae", "value": 2.5}]},
         "Missing value for required parameter 'metrics[0].timestamp'"),
        (f"{API}/runs/log-batch", {"run_id": run_id, "params": "foo"}, "Invalid value \"foo\" for parameter 'params'"),
        (f"{API}/experiments/create", {"name": "x", "artifact_location": 9.0},
         "Invalid value 9.0 for parameter 'artifact_location'"),
    ]
    for path, body, message in cases:
        reply = _post(server, path, body)
        assert (reply.status_code, reply.json()["error_code"]) == (400, "INVALID_PARAMETER_VALUE"), body
        assert message in reply.json()["message"], body


def test_no_serve_artifacts_and_default_artifact_root(start_server, tmp_path, monkeypatch) -> None:
    """Without the proxy, clients see the real artifact URIs under --default-artifact-root, a
    relative artifact_location is resolved against the server's folder, and the proxy says it is off."""
    monkeypatch.chdir(tmp_path)
    root = tmp_path / "roots"
    server = start_server(None, "", "--no-serve-artifacts", "--default-artifact-root", root.as_uri())
    exp = _post(server, f"{API}/experiments/create", {"name": "a"}).json()["experiment_id"]
    got = requests.get(server.url + f"{API}/experiments/get", params={"experiment_id": exp}, timeout=30).json()
    assert got["experiment"]["artifact_location"] == f"{root.as_uri()}/{exp}"
    run = _post(server, f"{API}/runs/create", {"experiment_id": exp}).json()["run"]["info"]
    assert run["artifact_uri"].startswith(f"{root.as_uri()}/{exp}/")
    rel = _post(server, f"{API}/experiments/create", {"name": "b", "artifact_location": "roots/mine"}).json()
    got = requests.get(server.url + f"{API}/experiments/get", params={"experiment_id": rel["experiment_id"]},
                       timeout=30).json()
    assert got["experiment"]["artifact_location"] == str(root / "mine")
    proxy = requests.get(server.url + "/api/2.0/mlflow-artifacts/artifacts", params={"path": exp}, timeout=30)
    assert proxy.status_code == 503 and "--no-serve-artifacts" in proxy.json()["message"]


def test_model_version_sources_are_checked(start_server, tmp_path) -> None:
    """A local source must lie in the run's artifacts (and name the run); a URI must not climb with ``..``."""
    server = start_server(None, "", "--no-serve-artifacts", "--default-artifact-root", (tmp_path / "a").as_uri())
    _post(server, f"{API}/registered-models/create", {"name": "m"})
    exp = _post(server, f"{API}/experiments/create", {"name": "e"}).json()["experiment_id"]
    run = _post(server, f"{API}/runs/create", {"experiment_id": exp}).json()["run"]["info"]
    path = run["artifact_uri"][len("file://"):]

    def create(source: str, run_id: str | None = run["run_id"]) -> requests.Response:
        return _post(server, f"{API}/model-versions/create",
                     {"name": "m", "source": source, **({"run_id": run_id} if run_id else {})})

    assert create(path + "/model").status_code == 200
    assert create(run["artifact_uri"] + "/model/..").status_code == 200
    assert create("mlflow-artifacts://host:9000/models/artifact/..../").status_code == 200
    for source, run_id, message in [
        (path, None, "To use a local path as a model version source, the run_id"),
        ("/etc", run["run_id"], "To use a local path as a model version source"),
        ("mlflow-artifacts://host:9000/models/../../../", run["run_id"], "If supplying a source as an http, https,"),
        ("mlflow-artifacts://host:9000/models/..%2f..%2fartifacts", run["run_id"], "an absolute path must be"),
        ("http://host/models/artifact%00", run["run_id"], "Invalid model version source"),
    ]:
        reply = create(source, run_id)
        assert reply.status_code == 400 and message in reply.json()["message"], source


def test_version_is_accepted_by_mlflows_client_and_says_tracklog(server) -> None:
    text = requests.get(server.url + "/version", timeout=30).text
    assert Version(text) >= Version("3.4") and Version(text).local is not None and "tracklog" in text


@pytest.mark.parametrize("path", ["/api/3.0/mlflow/datasets/create", "/ajax-api/3.0/mlflow/gateway/secrets/create",
                                  "/api/3.0/mlflow/scorers/register", "/api/3.0/mlflow/issues/search"])
def test_genai_features_answer_not_implemented(server, path) -> None:
    reply = _post(server, path, {})
    assert reply.status_code == 501 and reply.json()["error_code"] == "NOT_IMPLEMENTED"
    assert "not supported by this server (tracklog)" in reply.json()["message"]


def test_logged_model_links_through_mlflows_client(mlflow) -> None:
    """A metric logged with a model_id is the model's; a version made from a model is noted on it;
    the datasets filter keeps models with metrics on those datasets; input tags are all kept."""
    from mlflow.entities import Dataset, DatasetInput, InputTag, Metric

    client = mlflow.MlflowClient()
    exp = client.create_experiment("links")
    run = client.create_run(exp)
    model, other = client.create_logged_model(exp), client.create_logged_model(exp)
    client.log_metric(run.info.run_id, "acc", 0.5, timestamp=7, step=1, dataset_name="d", dataset_digest="1",
                      model_id=model.model_id)
    assert client.get_logged_model(model.model_id).metrics == [
        Metric("acc", 0.5, 7, 1, model_id=model.model_id, dataset_name="d", dataset_digest="1", run_id=run.info.run_id)]
    found = client.search_logged_models([exp], datasets=[{"dataset_name": "d", "dataset_digest": "1"}])
    assert [m.model_id for m in found] == [model.model_id] and other.model_id != model.model_id
    client.create_registered_model("reg")
    for _ in range(2):
        client.create_model_version("reg", f"models:/{model.model_id}", model_id=model.model_id)
    assert client.get_logged_model(model.model_id).tags["mlflow.modelVersions"] == \
        '[{"name": "reg", "version": 1}, {"name": "reg", "version": 2}]'
    tags = [InputTag("foo", "baz"), InputTag("mlflow.data.context", "train")]
    client.log_inputs(run.info.run_id, [DatasetInput(Dataset("ds", "9", "local", "src"), tags)])
    [got] = client.get_run(run.info.run_id).inputs.dataset_inputs
    assert [(t.key, t.value) for t in got.tags] == [("foo", "baz"), ("mlflow.data.context", "train")]


def test_search_datasets_and_upload_artifact(mlflow, server, tmp_path) -> None:
    """MLflow's UI's ajax endpoints: the datasets of experiments, an upload into a run, a file of a version."""
    from mlflow.entities import Dataset, DatasetInput, InputTag

    client = mlflow.MlflowClient()
    exp = client.create_experiment("ajax")
    run_id = client.create_run(exp).info.run_id
    client.log_inputs(run_id, [DatasetInput(Dataset("ds", "9", "local", "src"), [InputTag("mlflow.data.context", "eval")])])
    reply = _post(server, "/ajax-api/2.0/mlflow/experiments/search-datasets", {"experiment_ids": [exp]})
    assert reply.json() == {"dataset_summaries": [{"experiment_id": exp, "name": "ds", "digest": "9", "context": "eval"}]}
    assert "at least one experiment_id" in _post(server, "/ajax-api/2.0/mlflow/experiments/search-datasets", {}).text
    upload = server.url + "/ajax-api/2.0/mlflow/upload-artifact"
    assert requests.post(upload, params={"run_uuid": run_id, "path": "notes/a.txt"}, data="hello", timeout=30).ok
    got = requests.get(server.url + "/get-artifact", params={"run_uuid": run_id, "path": "notes/a.txt"}, timeout=30)
    assert got.text == "hello" and [f.path for f in client.list_artifacts(run_id, "notes")] == ["notes/a.txt"]
    bad = requests.post(upload, params={"run_uuid": run_id, "path": "../x"}, data="x", timeout=30)
    assert bad.status_code == 400 and "Invalid path" in bad.json()["message"]
    client.create_registered_model("notes")
    client.create_model_version("notes", client.get_run(run_id).info.artifact_uri + "/notes", run_id)
    got = requests.get(server.url + "/model-versions/get-artifact", params={"name": "notes", "version": 1, "path": "a.txt"},
                       timeout=30)
    assert got.text == "hello"


def test_metric_history_bulk_interval_samples_as_mlflow(mlflow, server) -> None:
    """Every (steps // max_results)-th step of all the runs together, plus each run's last step,
    for every run (step 9, the first run's last, is in the second's answer too)."""
    client = mlflow.MlflowClient()
    exp = client.create_experiment("bulk")
    runs = [client.create_run(exp).info.run_id for _ in range(2)]
    for run_id, steps in zip(runs, (10, 20), strict=True):
        for step in range(steps):
            client.log_metric(run_id, "m", 1.0, timestamp=1, step=step)
    reply = requests.get(server.url + "/ajax-api/2.0/mlflow/metrics/get-history-bulk-interval",
                         params={"run_ids": runs, "metric_key": "m", "max_results": 5}, timeout=30).json()
    assert [(p["run_id"] == runs[1], p["step"]) for p in reply["metrics"]] == \
        [(False, 0), (False, 4), (False, 8), (False, 9), (True, 0), (True, 4), (True, 8), (True, 9), (True, 12), (True, 16),
         (True, 19)]


def test_graphql_reads_runs_as_mlflows_ui_does(mlflow, server) -> None:
    client = mlflow.MlflowClient()
    exp = client.create_experiment("gql")
    run_id = client.create_run(exp).info.run_id
    client.log_metric(run_id, "nan", math.nan, timestamp=2, step=2)
    client.create_registered_model("g")
    client.create_model_version("g", "runs:/x/model", run_id)
    query = f"""query q @component(name: "Run") {{ mlflowGetRun(input: {{runId: "{run_id}"}}) {{ run {{
        info {{ status endTime }} experiment {{ name }} modelVersions {{ name }}
        data {{ metrics {{ key value step timestamp }} }} }} }} }}"""
    reply = requests.post(server.url + "/graphql", json={"query": query, "operationName": "q"}, timeout=30).json()
    assert reply["errors"] is None
    assert reply["data"]["mlflowGetRun"]["run"] == {
        "info": {"status": "RUNNING", "endTime": "0"}, "experiment": {"name": "gql"}, "modelVersions": [{"name": "g"}],
        "data": {"metrics": [{"key": "nan", "value": None, "step": "2", "timestamp": "2"}]}}
    wide = "query q { " + " ".join(f"a{i}: test(inputString: \"x\") {{ output }}" for i in range(12)) + " }"
    reply = requests.post(server.url + "/graphql", json={"query": wide}, timeout=30).json()
    assert "GraphQL queries should have at most 10" in reply["errors"][0]
    deep = "name " + "{ name " * 12 + "}" * 12
    query = f'query q {{ mlflowGetExperiment(input: {{experimentId: "{exp}"}}) {{ experiment {{ {deep} }} }} }}'
    assert "Query exceeds maximum depth of 10" in requests.post(server.url + "/graphql", json={"query": query},
                                                                 timeout=30).json()["errors"][0]
