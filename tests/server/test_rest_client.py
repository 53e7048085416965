"""tracklog's own API with an http:// tracking URI: the same calls, answered by the server."""

from __future__ import annotations

import pytest

import tracklog
from tracklog.tracking import fluent
from tracklog.tracking.rest import RestStore


@pytest.fixture
def remote(server, monkeypatch):
    from tracklog._config import settings

    monkeypatch.setattr(settings, "tracking_uri", None)
    monkeypatch.setattr(settings, "experiment_id", None)
    tracklog.set_tracking_uri(server.url)
    yield server
    while fluent.active_run() is not None:
        fluent.end_run()


def test_client_for_an_http_uri_talks_to_the_server(remote) -> None:
    client = tracklog.Client()
    assert isinstance(client.store, RestStore)
    assert client.tracking_uri == remote.url


def test_fluent_tracking_over_rest(remote, tmp_path) -> None:
    tracklog.set_experiment("remote-exp")
    with tracklog.start_run(run_name="r1", tags={"team": "vision"}) as run:
        tracklog.log_param("lr", 0.01)
        tracklog.log_params({"layers": 4})
        for step in range(5):
            tracklog.log_metric("loss", 1 / (step + 1), step=step)
        tracklog.log_metrics({"acc": 0.9, "nan": float("nan")})
        tracklog.set_tag("stage", "dev")
        tracklog.log_text("hello", "notes/readme.txt")
        tracklog.log_dict({"a": 1}, "config.json")
        (tmp_path / "f.bin").write_bytes(b"\x00" * 1000)
        tracklog.log_artifact(str(tmp_path / "f.bin"), artifact_path="bin")
    client = tracklog.MlflowClient()
    got = client.get_run(run.info.run_id)
    assert got.info.status == "FINISHED" and got.info.run_name == "r1"
    assert got.data.params == {"lr": "0.01", "layers": "4"}
    assert got.data.metrics["loss"] == 0.2 and got.data.metrics["acc"] == 0.9
    assert got.data.metrics["nan"] != got.data.metrics["nan"]
    assert {"team": "vision", "stage": "dev"}.items() <= got.data.tags.items()
    assert [m.step for m in client.get_metric_history(run.info.run_id, "loss")] == [0, 1, 2, 3, 4]

    frame = tracklog.search_runs(filter_string="metrics.acc > 0.5 and params.lr = '0.01'")
    assert list(frame["run_id"]) == [run.info.run_id] and list(frame["params.layers"]) == ["4"]
    assert [r.info.run_id for r in client.search_runs([got.info.experiment_id], order_by=["metrics.loss"])] \
        == [run.info.run_id]

    assert [f.path for f in client.list_artifacts(run.info.run_id)] == ["bin", "config.json", "notes"]
    assert tracklog.artifacts.load_text(f"runs:/{run.info.run_id}/notes/readme.txt") == "hello"
    assert tracklog.artifacts.load_dict(f"runs:/{run.info.run_id}/config.json") == {"a": 1}
    local = client.download_artifacts(run.info.run_id, "bin", str(tmp_path / "dl"))
    assert (tmp_path / "dl" / "bin" / "f.bin").read_bytes() == b"\x00" * 1000 and local.endswith("bin")

    result = tracklog.sql("SELECT path, size FROM artifacts ORDER BY path")  # uploads are recorded by the server
    assert [(p, s) for p, s in result.fetchall() if p != "config.json"] == [("bin/f.bin", 1000), ("notes/readme.txt", 5)]


def test_registry_over_rest(remote) -> None:
    client = tracklog.MlflowClient()
    client.create_registered_model("m", tags={"k": "v"}, description="d")
    run = client.create_run("0")
    v1 = client.create_model_version("m", f"runs:/{run.info.run_id}/model", run_id=run.info.run_id)
    v2 = client.create_model_version("m", f"runs:/{run.info.run_id}/model")
    assert (v1.version, v2.version) == (1, 2)
    client.set_registered_model_alias("m", "champion", 1)
    assert client.get_model_version_by_alias("m", "champion").version == 1
    assert client.get_registered_model("m").aliases == {"champion": 1}
    assert [v.version for v in client.search_model_versions("name = 'm'", order_by=["version_number"])] == [1, 2]
    client.transition_model_version_stage("m", 2, "Production")
    assert [v.version for v in client.get_latest_versions("m", ["Production"])] == [2]
    client.rename_registered_model("m", "m2")
    assert [m.name for m in client.search_registered_models()] == ["m2"]
    client.delete_registered_model("m2")
    with pytest.raises(tracklog.NotFoundError):
        client.get_registered_model("m2")


def test_errors_are_typed(remote) -> None:
    client = tracklog.MlflowClient()
    with pytest.raises(tracklog.RunNotFoundError):
        client.get_run("f" * 32)
    exp = client.create_experiment("dup")
    with pytest.raises(tracklog.ExperimentAlreadyExistsError):
        client.create_experiment("dup")
    run = client.create_run(exp)
    client.log_param(run.info.run_id, "p", 1)
    with pytest.raises(tracklog.InvalidInputError, match="INVALID_PARAMETER_VALUE"):
        client.log_param(run.info.run_id, "p", 2)
    with pytest.raises(tracklog.TracklogError, match="needs the store itself"):
        tracklog.connect()


def test_tracklog_log_model_and_load_over_rest(remote, tmp_path) -> None:
    """tracklog's own log_model against a server: create, upload through the proxy, finalize; load back."""
    sklearn = pytest.importorskip("sklearn.linear_model")
    import numpy as np

    from tracklog.models import pyfunc
    from tracklog.models import sklearn as tl_sklearn

    x = np.arange(8, dtype=float).reshape(4, 2)
    estimator = sklearn.LinearRegression().fit(x, x.sum(axis=1))
    tracklog.set_experiment("remote-models")
    with tracklog.start_run() as run:
        info = tl_sklearn.log_model(estimator, name="reg", input_example=x[:2], registered_model_name="remote-reg")
    assert info.model_id.startswith("m-") and info.registered_model_version == 1
    client = tracklog.Client()
    client.set_registered_model_alias("remote-reg", "champion", 1)
    for uri in (info.model_uri, f"runs:/{run.info.run_id}/reg", "models:/remote-reg@champion", "models:/remote-reg/1"):
        assert np.allclose(pyfunc.load_model(uri).predict(x), x.sum(axis=1)), uri


def test_sql_over_rest_says_when_the_server_cut_the_answer(start_server, monkeypatch) -> None:
    from tracklog._config import settings

    server = start_server(None, "", "--sql-max-rows", "5")
    monkeypatch.setattr(settings, "tracking_uri", None)
    tracklog.set_tracking_uri(server.url)
    with pytest.warns(UserWarning, match="the first 5 rows only"):
        result = tracklog.sql("SELECT * FROM range(10)")
    assert result.fetchall() == [(i,) for i in range(5)] and result.truncated
    assert not tracklog.sql("SELECT * FROM range(5)").truncated
