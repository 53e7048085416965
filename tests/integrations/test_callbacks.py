"""tracklog's own integrations with real frameworks: the XGBoost and LightGBM callbacks,
tracklog.autolog() for scikit-learn, XGBoost and LightGBM, and the XGBoost/LightGBM flavors
(MLflow's format: mlflow.xgboost / mlflow.lightgbm and tracklog's pyfunc load them)."""

from __future__ import annotations

import numpy as np
import pytest

import tracklog
import tracklog.models.pyfunc as pyfunc
from tracklog.artifacts import download_artifacts

xgb = pytest.importorskip("xgboost")
lgb = pytest.importorskip("lightgbm")
from sklearn.linear_model import LogisticRegression  # noqa: E402

from tracklog.integrations.lightgbm import TracklogCallback as LightGBMCallback  # noqa: E402
from tracklog.integrations.xgboost import TracklogCallback as XGBoostCallback  # noqa: E402


@pytest.fixture
def xy() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    x = rng.random((150, 4))
    return x, (x[:, 0] + 0.5 * x[:, 2] > 0.7).astype(int)


@pytest.fixture(autouse=True)
def _no_autolog():
    yield
    tracklog.autolog(disable=True)


def _history(run_id: str, key: str) -> list[tuple[int, float]]:
    return [(m.step, m.value) for m in tracklog.Client().get_metric_history(run_id, key)]


def test_xgboost_callback(tracking_uri, xy) -> None:
    """Every evaluation of every round is a point at its step; params; the booster as a logged model."""
    x, y = xy
    train, valid = xgb.DMatrix(x[:100], y[:100]), xgb.DMatrix(x[100:], y[100:])
    results: dict = {}
    callback = XGBoostCallback(log_model=True)
    with tracklog.start_run() as run:
        booster = xgb.train({"objective": "binary:logistic", "max_depth": 3, "eta": 0.3}, train, 8,
                            evals=[(train, "train"), (valid, "valid")], evals_result=results,
                            callbacks=[callback], verbose_eval=False)
    got = tracklog.get_run(run.info.run_id)
    assert got.data.params["max_depth"] == "3" and got.data.params["objective"] == "binary:logistic"
    for data in ("train", "valid"):
        assert _history(run.info.run_id, f"{data}-logloss") == [
            (i, pytest.approx(v)) for i, v in enumerate(results[data]["logloss"])]
    info = callback.model_info
    assert info.model_id and tracklog.get_logged_model(info.model_id).source_run_id == run.info.run_id
    expected = booster.predict(xgb.DMatrix(x[:9]))
    np.testing.assert_allclose(pyfunc.load_model(info.model_uri).predict(x[:9]), expected, rtol=1e-6)


def test_lightgbm_callback_starts_and_ends_its_own_run(tracking_uri, xy) -> None:
    x, y = xy
    results: dict = {}
    callback = LightGBMCallback(log_model=True)
    booster = lgb.train({"objective": "binary", "num_leaves": 5, "verbose": -1}, lgb.Dataset(x, y), 7,
                        valid_sets=[lgb.Dataset(x, y)], valid_names=["train"],
                        callbacks=[lgb.record_evaluation(results), callback])
    run_id = callback.run.run_id
    run = tracklog.get_run(run_id)
    assert run.info.status == "FINISHED" and tracklog.active_run() is None
    assert run.data.params["num_leaves"] == "5"
    assert _history(run_id, "train-binary_logloss") == [
        (i, pytest.approx(v)) for i, v in enumerate(results["train"]["binary_logloss"])]
    loaded = pyfunc.load_model(callback.model_info.model_uri)
    np.testing.assert_allclose(loaded.predict(x[:6]), booster.predict(x[:6]), rtol=1e-6)


def test_autolog_sklearn(tracking_uri, xy) -> None:
    """Params, training metrics, the fitted model and the training data as the run's dataset."""
    tracklog.autolog()
    x, y = xy
    with tracklog.start_run() as run:
        fitted = LogisticRegression(C=0.25).fit(x, y)
    got = tracklog.get_run(run.info.run_id)
    assert got.data.params["C"] == "0.25"
    assert got.data.metrics["training_accuracy_score"] == pytest.approx(fitted.score(x, y))
    (model,) = tracklog.search_logged_models(filter_string=f"source_run_id = '{run.info.run_id}'", output_format="list")
    np.testing.assert_array_equal(pyfunc.load_model(model.model_uri).predict(x[:8]), fitted.predict(x[:8]))
    assert got.inputs.dataset_inputs and got.inputs.dataset_inputs[0].dataset.digest


def test_autolog_without_an_active_run_makes_one(tracking_uri, xy) -> None:
    tracklog.autolog(log_models=False)
    x, y = xy
    LogisticRegression().fit(x, y)
    (run,) = tracklog.search_runs(output_format="list")
    assert run.info.status == "FINISHED" and "training_score" in run.data.metrics
    assert tracklog.search_logged_models(output_format="list") == []


@pytest.mark.parametrize("framework", ["xgboost", "lightgbm"])
def test_autolog_boosting(tracking_uri, xy, framework) -> None:
    tracklog.autolog()
    x, y = xy
    with tracklog.start_run() as run:
        if framework == "xgboost":
            data = xgb.DMatrix(x, y)
            xgb.train({"objective": "binary:logistic", "max_depth": 2}, data, 5, evals=[(data, "train")],
                      verbose_eval=False)
            key = "train-logloss"
        else:
            lgb.train({"objective": "binary", "verbose": -1}, lgb.Dataset(x, y), 5, valid_sets=[lgb.Dataset(x, y)],
                      valid_names=["train"])
            key = "train-binary_logloss"
    assert [s for s, _ in _history(run.info.run_id, key)] == list(range(5))
    (model,) = tracklog.search_logged_models(filter_string=f"source_run_id = '{run.info.run_id}'", output_format="list")
    assert pyfunc.load_model(model.model_uri).predict(x[:4]).shape[0] == 4


def test_autolog_disable_removes_the_patches(tracking_uri, xy) -> None:
    tracklog.autolog()
    tracklog.autolog(disable=True)
    LogisticRegression().fit(*xy)
    assert tracklog.search_runs(output_format="list") == []


def test_autolog_refuses_an_unknown_framework() -> None:
    with pytest.raises(tracklog.InvalidInputError, match="autolog knows frameworks .*; got torchy"):
        tracklog.autolog(frameworks=["torchy"])


@pytest.mark.parametrize("framework", ["xgboost", "lightgbm"])
def test_flavors_load_in_mlflow(tracking_uri, xy, framework) -> None:
    """A model logged by tracklog's flavor loads with MLflow's own flavor and pyfunc."""
    mlflow = pytest.importorskip("mlflow")
    x, y = xy
    if framework == "xgboost":
        model = xgb.XGBClassifier(n_estimators=4, max_depth=2).fit(x, y)
        import tracklog.xgboost as flavor
    else:
        model = lgb.LGBMClassifier(n_estimators=4, num_leaves=4, verbose=-1).fit(x, y)
        import tracklog.lightgbm as flavor
    with tracklog.start_run():
        info = flavor.log_model(model, name="m")
    path = download_artifacts(artifact_uri=tracklog.get_logged_model(info.model_id).artifact_location)
    native = getattr(mlflow, framework).load_model(path)
    np.testing.assert_allclose(native.predict(x[:5]), model.predict(x[:5]))
    np.testing.assert_allclose(mlflow.pyfunc.load_model(path).predict(x[:5]), model.predict(x[:5]))
    np.testing.assert_allclose(pyfunc.load_model(info.model_uri).predict(x[:5]), model.predict(x[:5]))


def test_a_callback_keeps_the_params_the_run_already_holds(tracking_uri) -> None:
    """A callback logging into a run that holds a param with another value keeps the run's value
    and logs the rest (params are immutable; training must not fail over it)."""
    from tracklog.integrations._run import RunHandle

    with tracklog.start_run() as run:
        tracklog.log_param("lr", 0.1)
        handle = RunHandle()
        handle.log_params({"lr": 0.2, "depth": 3, "opt": {"name": "sgd"}})
    assert tracklog.get_run(run.info.run_id).data.params == {"lr": "0.1", "depth": "3", "opt.name": "sgd"}
