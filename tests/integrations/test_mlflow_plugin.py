"""MLflow's own client writes into and reads from a tracklog store through the ``tracklog:``
URI (MLflow's plugin entry points), with no server; the same store reads back through tracklog."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import uuid

import numpy as np
import pytest

import tracklog
from tests.integrations.conftest import tracklog_env

pytest.importorskip("mlflow")
sklearn = pytest.importorskip("sklearn")
from sklearn.linear_model import LogisticRegression  # noqa: E402


def test_installed_package_declares_the_stores(installed_tracklog) -> None:
    """pip's install of pyproject.toml registers both stores for the scheme ``tracklog``."""
    from importlib.metadata import PathDistribution

    (info,) = installed_tracklog.glob("tracklog-*.dist-info")
    points = {(e.group, e.name): e.value for e in PathDistribution(info).entry_points}
    assert points[("mlflow.tracking_store", "tracklog")] == "tracklog.integrations.mlflow_plugin:TracklogTrackingStore"
    assert points[("mlflow.model_registry_store", "tracklog")] == \
        "tracklog.integrations.mlflow_plugin:TracklogRegistryStore"


def test_a_fresh_process_logs_through_mlflow_into_a_relative_store(installed_tracklog, tmp_path) -> None:
    """A new interpreter with tracklog pip-installed: ``tracklog:./store`` works with nothing
    registered by hand, and tracklog reads the run MLflow wrote."""
    script = textwrap.dedent("""
        import mlflow, numpy as np
        from sklearn.linear_model import LogisticRegression
        mlflow.set_tracking_uri("tracklog:./store")
        mlflow.set_experiment("fresh")
        mlflow.autolog()
        x = np.arange(40.0).reshape(20, 2); y = (x[:, 0] > 18).astype(int)
        with mlflow.start_run(run_name="child") as run:
            LogisticRegression().fit(x, y)
            mlflow.log_metric("extra", 3.5, step=2)
        print(run.info.run_id)
    """)
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=tracklog_env(installed_tracklog),
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    run_id = done.stdout.split()[-1]
    run = tracklog.Client(str(tmp_path / "store")).get_run(run_id)
    assert run.info.run_name == "child" and run.info.status == "FINISHED"
    assert run.data.metrics["extra"] == 3.5
    assert run.data.params["C"] == "1.0"
    assert 0.5 <= run.data.metrics["training_accuracy_score"] <= 1.0


def test_sklearn_autolog_and_search_runs(mlflow, tmp_path, xy) -> None:
    store = tmp_path / "abs-store"
    mlflow.set_tracking_uri(f"tracklog:{store}")
    assert mlflow.get_registry_uri() == f"tracklog:{store}"
    mlflow.set_experiment("sk")
    mlflow.sklearn.autolog()
    x, y = xy
    with mlflow.start_run() as run:
        LogisticRegression(C=0.5).fit(x, y)
    got = mlflow.get_run(run.info.run_id)
    assert got.info.status == "FINISHED" and got.data.params["C"] == "0.5"
    frame = mlflow.search_runs(experiment_names=["sk"], filter_string="params.C = '0.5'")
    assert list(frame["run_id"]) == [run.info.run_id]
    assert frame["metrics.training_accuracy_score"][0] == got.data.metrics["training_accuracy_score"]
    (model,) = mlflow.search_logged_models(filter_string=f"source_run_id = '{run.info.run_id}'", output_format="list")
    assert model.status == "READY"
    # the same store through tracklog, unchanged
    client = tracklog.Client(str(store))
    mine = client.get_run(run.info.run_id)
    assert mine.data.metrics == got.data.metrics and mine.data.params == got.data.params
    assert client.get_logged_model(model.model_id).source_run_id == run.info.run_id
    assert [r.info.run_id for r in client.search_runs([got.info.experiment_id], "params.C = '0.5'")] == [run.info.run_id]


@pytest.mark.parametrize("framework", ["xgboost", "lightgbm"])
def test_gradient_boosting_autolog(mlflow, tmp_path, xy, framework) -> None:
    """Every boosting round is a metric point at its step; the booster is a logged model that
    pyfunc loads back from ``runs:/`` and from its ``models:/<id>``."""
    lib = pytest.importorskip(framework)
    mlflow.set_tracking_uri(f"tracklog:{tmp_path / 'store'}")
    getattr(mlflow, framework).autolog()
    x, y = xy
    with mlflow.start_run() as run:
        if framework == "xgboost":
            data = lib.DMatrix(x, y)
            lib.train({"objective": "binary:logistic", "max_depth": 2}, data, 6, evals=[(data, "train")])
            key = "train-logloss"
        else:
            lib.train({"objective": "binary", "verbose": -1, "num_leaves": 4}, lib.Dataset(x, y), 6,
                      valid_sets=[lib.Dataset(x, y)])
            key = "valid_0-binary_logloss"
    history = mlflow.MlflowClient().get_metric_history(run.info.run_id, key)
    assert [m.step for m in history] == list(range(6))
    assert history[-1].value < history[0].value
    assert tracklog.Client(str(tmp_path / "store")).get_metric_history(run.info.run_id, key)[-1].value == history[-1].value
    (model,) = mlflow.search_logged_models(filter_string=f"source_run_id = '{run.info.run_id}'", output_format="list")
    by_run = mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/model").predict(x[:5])
    by_id = mlflow.pyfunc.load_model(model.model_uri).predict(x[:5])
    np.testing.assert_allclose(by_run, by_id)


def test_log_model_register_and_load(mlflow, tmp_path, xy) -> None:
    """MLflow 3's log_model makes a logged model; register_model makes version 1 of a registered
    model in the same log; pyfunc loads it from runs:/, models:/name/1 and models:/name@alias."""
    store = tmp_path / "store"
    mlflow.set_tracking_uri(f"tracklog:{store}")
    x, y = xy
    fitted = LogisticRegression().fit(x, y)
    with mlflow.start_run() as run:
        info = mlflow.sklearn.log_model(fitted, name="clf", input_example=x[:2])
        mlflow.log_metric("val_acc", 0.91, model_id=info.model_id)
    assert info.model_id.startswith("m-")
    version = mlflow.register_model(info.model_uri, "churn")
    assert version.version == "1"
    client = mlflow.MlflowClient()
    client.set_registered_model_alias("churn", "prod", "1")
    expected = fitted.predict(x[:7])
    for uri in (f"runs:/{run.info.run_id}/clf", "models:/churn/1", "models:/churn@prod", info.model_uri):
        np.testing.assert_array_equal(mlflow.pyfunc.load_model(uri).predict(x[:7]), expected)
    assert client.get_logged_model(info.model_id).metrics[0].value == 0.91
    mine = tracklog.Client(str(store))
    assert mine.get_model_version("churn", "1").run_id == run.info.run_id
    assert mine.get_model_version_by_alias("churn", "prod").version == 1
    assert [m.key for m in mine.get_logged_model(info.model_id).metrics] == ["val_acc"]


def test_s3_store(mlflow, s3_endpoint, xy) -> None:
    """``tracklog:s3://bucket/prefix`` on a real S3 server: the log and the artifacts both in the bucket."""
    store = f"s3://tracklog-tests/{uuid.uuid4().hex}"
    mlflow.set_tracking_uri(f"tracklog:{store}")
    mlflow.sklearn.autolog()
    x, y = xy
    with mlflow.start_run() as run:
        fitted = LogisticRegression().fit(x, y)
    assert mlflow.get_run(run.info.run_id).info.artifact_uri.startswith(store)
    loaded = mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/model")
    np.testing.assert_array_equal(loaded.predict(x[:5]), fitted.predict(x[:5]))
    assert tracklog.Client(store).get_run(run.info.run_id).data.params["C"] == "1.0"


@pytest.mark.parametrize("uri", ["tracklog:", "tracklog://"])
def test_a_uri_without_a_store_is_refused(mlflow, uri) -> None:
    mlflow.set_tracking_uri(uri)
    with pytest.raises(mlflow.exceptions.MlflowException, match="names no store: write tracklog:/path"):
        mlflow.search_runs(experiment_ids=["0"])


def test_tracklog_errors_reach_mlflow_with_its_codes(mlflow, tmp_path) -> None:
    mlflow.set_tracking_uri(f"tracklog:{tmp_path / 'store'}")
    with pytest.raises(mlflow.exceptions.MlflowException) as caught:
        mlflow.MlflowClient().get_run("0123456789abcdef0123456789abcdef")
    assert caught.value.error_code == "RESOURCE_DOES_NOT_EXIST"
