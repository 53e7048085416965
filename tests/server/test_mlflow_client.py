"""MLflow's own client, unchanged, against a live `tracklog server`: tracking, artifacts, models, registry."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest


@pytest.fixture
def mlflow(mlflow_client_env, server):
    mlflow_client_env.set_tracking_uri(server.url)
    return mlflow_client_env


def test_experiments(mlflow, server) -> None:
    client = mlflow.MlflowClient()
    exp_id = client.create_experiment("exp-a", tags={"team": "vision"})
    exp = client.get_experiment(exp_id)
    assert (exp.name, exp.tags, exp.lifecycle_stage) == ("exp-a", {"team": "vision"}, "active")
    assert exp.artifact_location == f"mlflow-artifacts:/{exp_id}"
    assert client.get_experiment_by_name("exp-a").experiment_id == exp_id
    assert client.get_experiment_by_name("nope") is None
    client.set_experiment_tag(exp_id, "stage", "dev")
    client.rename_experiment(exp_id, "exp-b")
    client.create_experiment("other")
    found = client.search_experiments(filter_string="name LIKE 'exp-%'")
    assert [(e.name, e.tags) for e in found] == [("exp-b", {"team": "vision", "stage": "dev"})]
    client.delete_experiment(exp_id)
    assert client.get_experiment(exp_id).lifecycle_stage == "deleted"
    assert [e.name for e in client.search_experiments(view_type=mlflow.entities.ViewType.DELETED_ONLY)] == ["exp-b"]
    client.restore_experiment(exp_id)
    with pytest.raises(mlflow.exceptions.MlflowException) as caught:
        client.create_experiment("exp-b")
    assert caught.value.error_code == "RESOURCE_ALREADY_EXISTS"


def test_tracking_and_search(mlflow) -> None:
    from mlflow.entities import Metric, Param, RunTag

    client = mlflow.MlflowClient()
    mlflow.set_experiment("tracking")
    ids = []
    for i, acc in enumerate([0.5, 0.9, 0.7]):
        with mlflow.start_run(run_name=f"r{i}") as run:
            mlflow.log_param("lr", 0.1 / (i + 1))
            mlflow.log_params({"layers": 4, "opt": "adam"})
            for step in range(3):
                mlflow.log_metric("loss", 1.0 / (step + 1) + i, step=step)
            mlflow.log_metrics({"acc": acc, "f1": acc - 0.1})
            mlflow.set_tag("team", "vision" if i != 1 else "nlp")
            mlflow.set_tags({"a": "1", "b": "2"})
            client.log_batch(run.info.run_id, metrics=[Metric("m2", 1.5, 0, 3)], params=[Param("p2", "x")],
                             tags=[RunTag("t2", "y")])
            if i == 0:
                mlflow.log_input(mlflow.data.from_pandas(pd.DataFrame({"a": [1, 2]}), name="ds"), context="training")
                with mlflow.start_run(run_name="child", nested=True) as child:
                    mlflow.log_metric("inner", 1.0)
            ids.append(run.info.run_id)

    run = client.get_run(ids[0])
    assert run.info.status == "FINISHED" and run.info.run_name == "r0"
    assert run.data.params == {"lr": "0.1", "layers": "4", "opt": "adam", "p2": "x"}
    assert run.data.metrics == {"loss": 3 ** -1, "acc": 0.5, "f1": 0.4, "m2": 1.5}
    assert {"team": "vision", "a": "1", "t2": "y", "mlflow.runName": "r0"}.items() <= run.data.tags.items()
    assert run.info.artifact_uri.startswith("mlflow-artifacts:/")
    (dataset,) = run.inputs.dataset_inputs
    assert (dataset.dataset.name, dataset.tags[0].value) == ("ds", "training")
    assert client.get_run(child.info.run_id).data.tags["mlflow.parentRunId"] == ids[0]
    assert [(m.step, m.value) for m in client.get_metric_history(ids[0], "loss")] == [(0, 1.0), (1, 0.5), (2, 1 / 3)]

    frame = mlflow.search_runs(filter_string="metrics.acc > 0.6", order_by=["metrics.acc DESC"])
    assert list(frame["run_id"]) == [ids[1], ids[2]]
    assert list(frame["params.lr"]) == [str(0.1 / 2), str(0.1 / 3)]
    exp_id = run.info.experiment_id
    page = client.search_runs([exp_id], "tags.team = 'vision'", order_by=["metrics.acc ASC"], max_results=1)
    assert [r.info.run_id for r in page] == [ids[0]] and page.token
    rest = client.search_runs([exp_id], "tags.team = 'vision'", order_by=["metrics.acc ASC"], max_results=1,
                              page_token=page.token)
    assert [r.info.run_id for r in rest] == [ids[2]]
    assert [r.info.run_id for r in client.search_runs([exp_id], "params.opt = 'adam' and attributes.run_name = 'r1'")] \
        == [ids[1]]

    client.delete_run(ids[2])
    assert {r.info.run_id for r in client.search_runs([exp_id], "tags.team != 'x'")} == {ids[0], ids[1]}
    assert [r.info.run_id for r in client.search_runs([exp_id], run_view_type=mlflow.entities.ViewType.DELETED_ONLY)] \
        == [ids[2]]
    client.restore_run(ids[2])
    client.delete_tag(ids[0], "a")
    assert "a" not in client.get_run(ids[0]).data.tags
    client.set_terminated(ids[1], "KILLED")
    assert client.get_run(ids[1]).info.status == "KILLED"

    with pytest.raises(mlflow.exceptions.MlflowException) as caught:
        client.get_run("deadbeef" * 4)
    assert caught.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(mlflow.exceptions.MlflowException) as caught:
        client.log_param(ids[0], "lr", 5)
    assert caught.value.error_code == "INVALID_PARAMETER_VALUE"


def test_reads_see_writes_at_once(mlflow) -> None:
    """A metric logged a moment ago shows in the run, its history and searches, as with MLflow's stores."""
    client = mlflow.MlflowClient()
    run = client.create_run("0")
    run_id = run.info.run_id
    for step in range(50):
        client.log_metric(run_id, "x", float(step), step=step)
        assert client.get_run(run_id).data.metrics["x"] == float(step)
        assert len(client.get_metric_history(run_id, "x")) == step + 1
        assert [r.info.run_id for r in client.search_runs(["0"], f"metrics.x = {step}")] == [run_id]


def test_artifacts_through_the_proxy(mlflow, server, tmp_path) -> None:
    client = mlflow.MlflowClient()
    local = tmp_path / "hello.txt"
    local.write_text("hello")
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(local))
        mlflow.log_artifact(str(local), artifact_path="sub")
        mlflow.log_text("abc", "notes/n.txt")
        mlflow.log_dict({"a": 1}, "c.json")
        (tmp_path / "folder" / "deep").mkdir(parents=True)
        (tmp_path / "folder" / "deep" / "x.bin").write_bytes(os.urandom(3 << 20))
        mlflow.log_artifacts(str(tmp_path / "folder"), artifact_path="many")
    run_id = run.info.run_id
    assert [f.path for f in client.list_artifacts(run_id)] == ["c.json", "hello.txt", "many", "notes", "sub"]
    assert [(f.path, f.is_dir, f.file_size) for f in client.list_artifacts(run_id, "sub")] == [("sub/hello.txt", False, 5)]
    got = client.download_artifacts(run_id, "many", str(tmp_path / "dl"))
    assert (tmp_path / "dl" / "many" / "deep" / "x.bin").read_bytes() == (tmp_path / "folder" / "deep" / "x.bin").read_bytes()
    assert got.endswith("many")
    assert mlflow.artifacts.load_text(f"runs:/{run_id}/notes/n.txt") == "abc"
    assert mlflow.artifacts.load_dict(f"runs:/{run_id}/c.json") == {"a": 1}
    # the files live in the destination, under the experiment and run, as with mlflow server
    exp_id = run.info.experiment_id
    dest = tmp_path / "artifacts0"
    assert (dest / exp_id / run_id / "artifacts" / "sub" / "hello.txt").read_text() == "hello"


def test_sklearn_model_registry_and_alias(mlflow) -> None:
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    x = pd.DataFrame({"a": rng.random(40), "b": rng.random(40)})
    model = LogisticRegression().fit(x, (x.a + x.b > 1).astype(int))
    client = mlflow.MlflowClient()
    mlflow.set_experiment("models")
    with mlflow.start_run() as run:
        mlflow.log_metric("acc", 0.9)
        info = mlflow.sklearn.log_model(model, name="clf", input_example=x[:3])
    assert info.model_id and info.model_uri == f"models:/{info.model_id}"
    logged = mlflow.get_logged_model(info.model_id)
    assert (logged.status.to_proto(), logged.source_run_id, logged.name) == (2, run.info.run_id, "clf")  # READY
    assert logged.artifact_location.startswith("mlflow-artifacts:/")
    assert client.get_run(run.info.run_id).outputs.model_outputs[0].model_id == info.model_id
    assert [m.value for m in client.get_metric_history(run.info.run_id, "acc")] == [0.9]  # not doubled by log_model

    version = mlflow.register_model(info.model_uri, "clf-model")
    assert version.version == "1" and version.run_id == run.info.run_id
    client.set_registered_model_alias("clf-model", "champion", version.version)
    assert client.get_model_version_by_alias("clf-model", "champion").version == "1"
    assert client.get_registered_model("clf-model").aliases == {"champion": "1"}
    assert [v.version for v in client.search_model_versions("name = 'clf-model'")] == ["1"]
    assert [m.name for m in client.search_registered_models()] == ["clf-model"]

    loaded = mlflow.pyfunc.load_model("models:/clf-model@champion")
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    sk = mlflow.sklearn.load_model(f"runs:/{run.info.run_id}/clf")
    np.testing.assert_array_equal(sk.predict(x), model.predict(x))

    second = mlflow.register_model(info.model_uri, "clf-model")
    assert second.version == "2"
    client.set_registered_model_alias("clf-model", "champion", "2")
    client.delete_registered_model_alias("clf-model", "champion")
    with pytest.raises(mlflow.exceptions.MlflowException) as caught:
        client.get_model_version_by_alias("clf-model", "champion")
    assert caught.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    client.update_model_version("clf-model", "1", description="first")
    assert client.get_model_version("clf-model", "1").description == "first"
    client.delete_model_version("clf-model", "2")
    assert [v.version for v in client.search_model_versions("name = 'clf-model'")] == ["1"]
