"""MLflow 3's logged models in tracklog's fluent API, with MLflow's own dataset objects: the
model's id comes back from `log_model`, metrics link to a model and a dataset, and a run's
inputs keep an MLflow `PandasDataset`'s source type, source, digest and schema exactly."""

from __future__ import annotations

import json

import pandas as pd
import pytest

import tracklog
import tracklog.exceptions
from tracklog import Metric

mlflow = pytest.importorskip("mlflow")
pytest.importorskip("sklearn")

from mlflow.entities import LoggedModelInput  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402

import tracklog.sklearn  # noqa: E402

FRAME = pd.DataFrame({"x0": [0.0, 1.0, 0.5, 0.9], "x1": [1.0, 0.0, 0.5, 0.1], "y": [0, 1, 0, 1]})


def _dataset(name: str = "train"):
    return mlflow.data.from_pandas(FRAME, source="/data/train.csv", name=name, targets="y")


def test_create_get_and_search_logged_models(tracking_uri: str) -> None:
    with tracklog.start_run() as run:
        model = tracklog.create_logged_model("clf", params={"depth": 3}, tags={"team": "a"}, model_type="classifier")
        other = tracklog.create_logged_model("reg", params={"depth": 5})
    assert model.model_id.startswith("m-") and model.source_run_id == run.info.run_id
    got = tracklog.get_logged_model(model.model_id)
    assert got.name == "clf" and got.params == {"depth": "3"} and got.tags["team"] == "a"
    assert got.model_type == "classifier" and str(got.status) == "PENDING"
    found = tracklog.search_logged_models(filter_string="params.depth = '5'", output_format="list")
    assert [m.model_id for m in found] == [other.model_id]
    frame = tracklog.search_logged_models(filter_string="name = 'clf'")
    assert list(frame["model_id"]) == [model.model_id]
    with pytest.raises(tracklog.exceptions.LoggedModelNotFoundError):
        tracklog.get_logged_model("m-does-not-exist")


def test_log_model_returns_model_info_with_the_logged_models_id(tracking_uri: str) -> None:
    clf = LogisticRegression().fit(FRAME[["x0", "x1"]], FRAME["y"])
    with tracklog.start_run() as run:
        info = tracklog.sklearn.log_model(clf, name="model", params={"C": 1.0})
    assert info.model_id and info.model_uri == f"models:/{info.model_id}" and info.run_id == run.info.run_id
    logged = tracklog.get_logged_model(info.model_id)
    assert logged.name == "model" and str(logged.status) == "READY" and logged.source_run_id == run.info.run_id
    assert tracklog.last_logged_model().model_id == info.model_id
    assert tracklog.pyfunc.load_model(info.model_uri).predict(FRAME[["x0", "x1"]]).tolist() == [0, 1, 0, 1]


def test_metrics_link_to_a_model_and_an_mlflow_dataset(tracking_uri: str) -> None:
    """`log_metric(model_id=, dataset=)` stores the point on the run and on the model, with the
    dataset's name and digest; a search over the model's metrics can ask for that dataset."""
    train, test = _dataset("train"), mlflow.data.from_pandas(FRAME.head(2), source="/data/test.csv", name="test")
    with tracklog.start_run() as run:
        model = tracklog.create_logged_model("clf")
        tracklog.log_metric("acc", 0.9, step=1, model_id=model.model_id, dataset=train)
        tracklog.log_metrics({"acc": 0.7, "f1": 0.6}, step=1, model_id=model.model_id, dataset=test)
    metrics = {(m.key, m.dataset_name): m for m in tracklog.get_logged_model(model.model_id).metrics}
    assert metrics[("acc", "train")].value == 0.9 and metrics[("acc", "train")].dataset_digest == train.digest
    assert metrics[("acc", "test")].dataset_digest == test.digest and metrics[("f1", "test")].value == 0.6
    assert all(m.model_id == model.model_id and m.run_id == run.info.run_id for m in metrics.values())
    on_train = tracklog.search_logged_models(filter_string="metrics.acc > 0.8", output_format="list",
                                             datasets=[{"dataset_name": "train", "dataset_digest": train.digest}])
    assert [m.model_id for m in on_train] == [model.model_id]
    on_test = tracklog.search_logged_models(filter_string="metrics.acc > 0.8", output_format="list",
                                            datasets=[{"dataset_name": "test"}])
    assert on_test == []
    with pytest.raises(tracklog.exceptions.InvalidInputError, match="dataset must be an MLflow dataset"):
        tracklog.log_metric("acc", 1.0, dataset="train", run_id=run.info.run_id)


def test_log_input_keeps_an_mlflow_pandas_dataset_as_mlflow_records_it(tracking_uri: str) -> None:
    dataset = _dataset()
    expected = dataset._to_mlflow_entity()
    with tracklog.start_run() as run:
        model = tracklog.create_logged_model("clf")
        tracklog.log_input(dataset, context="training", tags={"split": "a"}, model=LoggedModelInput(model.model_id))
    inputs = tracklog.get_run(run.info.run_id).inputs
    (got,) = inputs.dataset_inputs
    assert got.dataset.source_type == expected.source_type == "local"
    assert got.dataset.digest == expected.digest != ""
    assert got.dataset.name == "train" and json.loads(got.dataset.source) == json.loads(expected.source)
    assert json.loads(got.dataset.schema) == json.loads(expected.schema)
    assert json.loads(got.dataset.profile) == json.loads(expected.profile)
    assert {t.key: t.value for t in got.tags} == {"split": "a", "mlflow.data.context": "training"}
    assert [m.model_id for m in inputs.model_inputs] == [model.model_id]
    # and MLflow's own reading of the dataset source works on what was stored
    stored = mlflow.entities.Dataset(name=got.dataset.name, digest=got.dataset.digest,
                                     source_type=got.dataset.source_type, source=got.dataset.source)
    source = mlflow.data.get_source(stored)
    assert source.uri == "/data/train.csv"


def test_download_artifacts_of_a_logged_model_uri(tracking_uri: str, tmp_path) -> None:
    """``models:/m-<id>`` downloads the model's files into the folder (as MLflow does); a path
    after the id downloads that file; a registry URI works the same; MLflow reads the same."""
    import tracklog.artifacts

    clf = LogisticRegression().fit(FRAME[["x0", "x1"]], FRAME["y"])
    with tracklog.start_run():
        info = tracklog.sklearn.log_model(clf, name="model", registered_model_name="clf")
    whole = tracklog.artifacts.download_artifacts(f"models:/{info.model_id}", dst_path=str(tmp_path / "whole"))
    assert whole == str(tmp_path / "whole") and "MLmodel" in {p.name for p in (tmp_path / "whole").iterdir()}
    one = tracklog.artifacts.download_artifacts(f"models:/{info.model_id}/MLmodel", dst_path=str(tmp_path / "one"))
    assert one == str(tmp_path / "one" / "MLmodel") and "sklearn" in (tmp_path / "one" / "MLmodel").read_text()
    listed = {f.path for f in tracklog.artifacts.list_artifacts(f"models:/{info.model_id}")}
    assert "MLmodel" in listed
    tracklog.artifacts.download_artifacts("models:/clf/1", dst_path=str(tmp_path / "registry"))
    assert (tmp_path / "registry" / "MLmodel").read_text() == (tmp_path / "whole" / "MLmodel").read_text()
    with pytest.raises(tracklog.exceptions.LoggedModelNotFoundError, match="not found"):
        tracklog.artifacts.download_artifacts("models:/m-" + "0" * 32, dst_path=str(tmp_path / "none"))
    with pytest.raises(tracklog.exceptions.InvalidInputError, match="expected models:/<model_id>"):
        tracklog.artifacts.download_artifacts("models:/", dst_path=str(tmp_path / "bad"))


def test_log_batch_links_only_the_points_that_name_a_model(tracking_uri: str) -> None:
    """In a batch, only the points with a model_id (or dataset) become the model's metrics; entities
    without MLflow 3's fields (an older MLflow's Metric, any duck type) are plain run metrics."""
    from types import SimpleNamespace

    client = tracklog.Client()
    with tracklog.start_run() as run:
        model = tracklog.create_logged_model("clf")
        points = [Metric(key="loss", value=float(s), timestamp=1000 + s, step=s) for s in range(5)]
        points[3] = Metric(key="loss", value=3.0, timestamp=1003, step=3, model_id=model.model_id, dataset_name="val")
        client.log_batch(run.info.run_id, metrics=points)
        client.log_batch(run.info.run_id, metrics=[SimpleNamespace(key="old", value=1.5, timestamp=7, step=2)])
    linked = tracklog.get_logged_model(model.model_id).metrics
    assert [(m.key, m.step, m.value, m.dataset_name) for m in linked] == [("loss", 3, 3.0, "val")]
    assert [m.step for m in client.get_metric_history(run.info.run_id, "loss")] == [0, 1, 2, 3, 4]
    assert [(m.value, m.step) for m in client.get_metric_history(run.info.run_id, "old")] == [(1.5, 2)]
