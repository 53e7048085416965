"""log_model: logged models in MLflow 3's layout, the ModelLogged event, and model URIs."""

from __future__ import annotations

import uuid

import pytest

import tracklog
from eventlog.errors import InvalidInputError, NotFoundError
from tracklog.models import pyfunc
from tracklog.models import sklearn as tl_sklearn


@pytest.fixture(params=["local", "memory", "s3"])
def store(request, tmp_path):
    if request.param == "local":
        uri = str(tmp_path / "store")
    elif request.param == "memory":
        uri = f"memory://models-{uuid.uuid4().hex}"
    else:
        request.getfixturevalue("s3_endpoint")
        uri = f"s3://tracklog-tests/models-{uuid.uuid4().hex}"
    tracklog.set_tracking_uri(uri)
    yield uri
    tracklog.set_tracking_uri(None)


def test_log_model_in_a_run(store, classifier, frame) -> None:
    with tracklog.start_run() as run:
        info = tl_sklearn.log_model(classifier, name="clf", input_example=frame.head(2))
    run_id = run.info.run_id
    assert info.model_id.startswith("m-") and info.model_uri == f"models:/{info.model_id}"
    assert info.run_id == run_id and info.name == "clf"
    exp = tracklog.get_experiment("0")
    assert info.artifact_path == f"{exp.artifact_location}/models/{info.model_id}/artifacts"
    assert info.signature.inputs.input_names() == ["a", "b"]
    expected = classifier.predict(frame).tolist()
    for uri in (info.model_uri, f"runs:/{run_id}/clf"):
        assert pyfunc.load_model(uri).predict(frame).tolist() == expected
        assert tl_sklearn.load_model(uri).predict(frame).tolist() == expected
    rows = tracklog.sql("SELECT model_id, name, run_id, flavors FROM logged_models").fetchall()
    assert rows == [(info.model_id, "clf", run_id, ["python_function", "sklearn"])]
    kinds = [k for (k,) in tracklog.sql("SELECT kind FROM events WHERE kind = 'ModelLogged'").fetchall()]
    assert kinds == ["ModelLogged"]


def test_log_model_without_a_run_and_a_second_model_under_the_same_name(tmp_path, scale_model, frame) -> None:
    tracklog.set_tracking_uri(str(tmp_path / "store"))
    model, artifacts = scale_model
    free = pyfunc.log_model(name="scale", python_model=model, artifacts=artifacts)
    assert free.run_id is None
    assert pyfunc.load_model(free.model_uri).predict(frame.head(2)).tolist() == (frame.a.head(2) * 3).tolist()
    with tracklog.start_run() as run:
        pyfunc.log_model(name="scale", python_model=model, artifacts=artifacts)
        newer = pyfunc.log_model(name="scale", python_model=model, artifacts=artifacts)
    # runs:/<run>/<name> means the run's latest model of that name
    assert pyfunc.load_model(f"runs:/{run.info.run_id}/scale").model_id == newer.model_id
    tracklog.set_tracking_uri(None)


def test_unknown_model_uris_are_not_found_errors(tmp_path) -> None:
    tracklog.set_tracking_uri(str(tmp_path / "store"))
    with tracklog.start_run() as run:
        pass
    with pytest.raises(NotFoundError, match="no logged model with id 'm-0+'"):
        pyfunc.load_model("models:/m-" + "0" * 32)
    with pytest.raises(NotFoundError, match="run 'nope' not found"):
        pyfunc.load_model("runs:/nope/model")
    with pytest.raises(NotFoundError):
        pyfunc.load_model(f"runs:/{run.info.run_id}/model")
    with pytest.raises(NotFoundError, match="Registered Model with name=my-model not found"):
        pyfunc.load_model("models:/my-model/3")
    with pytest.raises(InvalidInputError, match="runs:/<run_id>/<path>"):
        pyfunc.load_model("runs:/only-an-id")
    tracklog.set_tracking_uri(None)


@pytest.mark.parametrize("name", ["../escape", "/abs", "a\\b"])
def test_model_names_that_escape_are_refused(tmp_path, classifier, name) -> None:
    tracklog.set_tracking_uri(str(tmp_path / "store"))
    with tracklog.start_run(), pytest.raises(InvalidInputError):
        tl_sklearn.log_model(classifier, name=name)
    tracklog.set_tracking_uri(None)


def test_registered_model_name_registers_a_version(tmp_path, classifier, frame) -> None:
    tracklog.set_tracking_uri(str(tmp_path / "store"))
    with tracklog.start_run():
        first = tl_sklearn.log_model(classifier, name="m", registered_model_name="prod")
        second = tl_sklearn.log_model(classifier, name="m", registered_model_name="prod")
    assert (first.registered_model_version, second.registered_model_version) == (1, 2)
    version = tracklog.Client().get_model_version("prod", 2)
    assert version.model_id == second.model_id and version.source == second.model_uri
    assert tl_sklearn.load_model("models:/prod/1").predict(frame).tolist() == classifier.predict(frame).tolist()
    tracklog.set_tracking_uri(None)


def test_artifact_functions_see_a_runs_uri_naming_a_logged_model(tmp_path, classifier) -> None:
    """One runs:/ resolution: tracklog.artifacts finds the logged model as load_model does."""
    from tracklog import artifacts

    tracklog.set_tracking_uri(str(tmp_path / "store"))
    with tracklog.start_run() as run:
        tl_sklearn.log_model(classifier, name="clf")
    names = {f.path for f in artifacts.list_artifacts(f"runs:/{run.info.run_id}/clf")}
    assert {"MLmodel", "model.skops"} <= {n.rsplit("/", 1)[-1] for n in names}
    tracklog.set_tracking_uri(None)
