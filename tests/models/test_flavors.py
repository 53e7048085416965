"""Saving and loading with the sklearn and python_function flavors, on local folders."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml

from eventlog.errors import InvalidInputError, NotFoundError
from tracklog.models import Model, SchemaEnforcementError, infer_signature, pyfunc
from tracklog.models import sklearn as tl_sklearn


@pytest.mark.parametrize("fmt", ["skops", "cloudpickle", "pickle"])
def test_sklearn_round_trip_in_every_format(tmp_path, classifier, frame, fmt) -> None:
    path = tmp_path / "m"
    tl_sklearn.save_model(classifier, path, serialization_format=fmt, input_example=frame.head(3))
    conf = Model.load(path).flavors
    assert conf["sklearn"]["serialization_format"] == fmt
    assert conf["python_function"]["loader_module"] == "mlflow.sklearn"
    assert (path / conf["sklearn"]["pickled_model"]).is_file()
    expected = classifier.predict(frame)
    assert (tl_sklearn.load_model(str(path)).predict(frame) == expected).all()
    assert (pyfunc.load_model(str(path)).predict(frame) == expected).all()


def test_saved_folder_has_mlflows_files_and_keys(tmp_path, classifier, frame) -> None:
    path = tmp_path / "m"
    tl_sklearn.save_model(classifier, path, input_example=frame.head(2))
    names = {p.name for p in path.iterdir()}
    assert {"MLmodel", "model.skops", "requirements.txt", "python_env.yaml", "conda.yaml",
            "input_example.json", "serving_input_example.json"} <= names
    data = yaml.safe_load((path / "MLmodel").read_text())
    assert {"flavors", "model_uuid", "utc_time_created", "signature", "saved_input_example_info"} <= set(data)
    assert json.loads(data["signature"]["inputs"]) == [
        {"type": "double", "name": "a", "required": True}, {"type": "double", "name": "b", "required": True}]
    assert data["saved_input_example_info"]["type"] == "dataframe"
    requirements = (path / "requirements.txt").read_text().split()
    assert any(r.startswith("scikit-learn==") for r in requirements)
    env = yaml.safe_load((path / "python_env.yaml").read_text())
    assert env["dependencies"] == ["-r requirements.txt"]
    serving = json.loads((path / "serving_input_example.json").read_text())
    assert serving["dataframe_split"]["columns"] == ["a", "b"]
    loaded = Model.load(path).load_input_example(path)
    pd.testing.assert_frame_equal(loaded, frame.head(2).reset_index(drop=True))


def test_signature_is_enforced_at_predict_time(tmp_path, classifier, frame) -> None:
    path = tmp_path / "m"
    tl_sklearn.save_model(classifier, path, signature=infer_signature(frame))
    model = pyfunc.load_model(str(path))
    with pytest.raises(SchemaEnforcementError, match="input column 'b': expected double, got string"):
        model.predict(pd.DataFrame({"a": [0.1], "b": ["high"]}))
    with pytest.raises(SchemaEnforcementError, match="missing required column.*'b'"):
        model.predict(pd.DataFrame({"a": [0.1]}))
    # ints are converted losslessly, and a dict of columns is accepted
    assert len(model.predict({"a": [1, 0], "b": [0, 1]})) == 2


def test_python_model_with_artifacts_context_and_params(tmp_path, scale_model, frame) -> None:
    model, artifacts = scale_model
    path = tmp_path / "m"
    pyfunc.save_model(path, python_model=model, artifacts=artifacts, input_example=frame.head(2))
    conf = Model.load(path).flavors["python_function"]
    assert conf["loader_module"] == "mlflow.pyfunc.model" and conf["python_model"] == "python_model.pkl"
    assert conf["artifacts"]["factor"]["path"] == "artifacts/factor.txt"
    loaded = pyfunc.load_model(str(path))
    assert loaded.predict(frame.head(2)).tolist() == (frame.a.head(2) * 3).tolist()
    assert loaded.predict(frame.head(1), params={"shift": 1.0}).tolist() == [frame.a.iloc[0] * 3 + 1]
    assert isinstance(loaded.unwrap_python_model(), type(model))


def test_model_from_code(tmp_path) -> None:
    code = tmp_path / "model_code.py"
    code.write_text(
        "from tracklog.models import set_model\n"
        "from tracklog.models.pyfunc import PythonModel\n"
        "class Double(PythonModel):\n"
        "    def predict(self, context, model_input, params=None):\n"
        "        return model_input['x'] * 2\n"
        "set_model(Double())\n")
    pyfunc.save_model(tmp_path / "m", python_model=str(code))
    assert pyfunc.load_model(str(tmp_path / "m")).predict(pd.DataFrame({"x": [1, 2]})).tolist() == [2, 4]


def test_pickle_loading_can_be_refused(tmp_path, classifier, frame, monkeypatch) -> None:
    tl_sklearn.save_model(classifier, tmp_path / "p", serialization_format="cloudpickle")
    tl_sklearn.save_model(classifier, tmp_path / "s", serialization_format="skops")
    monkeypatch.setenv("TRACKLOG_ALLOW_PICKLE_DESERIALIZATION", "false")
    with pytest.raises(Exception, match="TRACKLOG_ALLOW_PICKLE_DESERIALIZATION"):
        tl_sklearn.load_model(str(tmp_path / "p"))
    assert len(tl_sklearn.load_model(str(tmp_path / "s")).predict(frame)) == len(frame)  # skops runs no pickle


@pytest.mark.parametrize(("call", "message"), [
    (lambda p, m: tl_sklearn.save_model(m, p, serialization_format="joblib"), "serialization_format must be one of"),
    (lambda p, m: tl_sklearn.save_model(object(), p), "has no method 'predict'"),
    (lambda p, m: pyfunc.save_model(p), "needs python_model"),
    (lambda p, m: pyfunc.save_model(p, python_model=object()), "must have a predict method"),
    (lambda p, m: pyfunc.save_model(p, python_model="missing.py"), "must be an existing .py file"),
    (lambda p, m: tl_sklearn.save_model(m, p, input_example=object()), "input_example must be"),
])
def test_bad_save_arguments_are_clear_errors_and_leave_nothing(tmp_path, classifier, call, message) -> None:
    path = tmp_path / "m"
    with pytest.raises(InvalidInputError, match=message):
        call(path, classifier)
    assert not path.exists() or not any(path.iterdir())


def test_saving_over_an_existing_model_is_refused(tmp_path, classifier) -> None:
    tl_sklearn.save_model(classifier, tmp_path / "m")
    with pytest.raises(InvalidInputError, match="already exists"):
        tl_sklearn.save_model(classifier, tmp_path / "m")


def test_loading_what_is_not_a_model(tmp_path, classifier) -> None:
    with pytest.raises(NotFoundError, match="no MLmodel file"):
        pyfunc.load_model(str(tmp_path))
    (tmp_path / "MLmodel").write_text("flavors: [unclosed")
    with pytest.raises(InvalidInputError, match="not valid YAML"):
        pyfunc.load_model(str(tmp_path))
    (tmp_path / "MLmodel").write_text("just: text\n")
    with pytest.raises(InvalidInputError, match="no 'flavors' mapping"):
        pyfunc.load_model(str(tmp_path))
    tl_sklearn.save_model(classifier, tmp_path / "m")
    (tmp_path / "m" / "model.skops").unlink()
    with pytest.raises(Exception, match="model.skops is missing"):
        pyfunc.load_model(str(tmp_path / "m"))


def test_numpy_input_with_tensor_signature(tmp_path) -> None:
    from sklearn.linear_model import LinearRegression

    x = np.arange(8, dtype="float64").reshape(4, 2)
    est = LinearRegression().fit(x, x.sum(axis=1))
    tl_sklearn.save_model(est, tmp_path / "m", input_example=x[:2])
    model = pyfunc.load_model(str(tmp_path / "m"))
    assert model.metadata.signature.inputs.is_tensor
    assert np.allclose(model.predict(x.astype("float32")), x.sum(axis=1))
    with pytest.raises(SchemaEnforcementError, match="dimension 1 must be 2, got 3"):
        model.predict(np.ones((1, 3)))


@pytest.mark.parametrize(("flavor", "key"), [("sklearn", "pickled_model"), ("python_function", "code")])
@pytest.mark.parametrize("name", ["../outside.pkl", "/etc/passwd", "sub/../../outside.pkl", "..\\outside.pkl"])
def test_an_mlmodel_cannot_name_a_file_outside_its_folder(tmp_path, classifier, flavor, key, name) -> None:
    """An MLmodel comes from a store: a data file, code folder or artifact it names outside the
    model folder is refused by name, never opened, unpickled or put on sys.path."""
    import pickle
    import sys

    from eventlog.errors import ModelLoadError

    path = tmp_path / "models" / "m"
    tl_sklearn.save_model(classifier, path, serialization_format="cloudpickle")
    (tmp_path / "models" / "outside.pkl").write_bytes(pickle.dumps(classifier))
    mlmodel = yaml.safe_load((path / "MLmodel").read_text())
    mlmodel["flavors"][flavor][key] = name
    (path / "MLmodel").write_text(yaml.safe_dump(mlmodel))
    before = list(sys.path)
    with pytest.raises(ModelLoadError, match="must name a path inside the model folder"):
        (tl_sklearn.load_model if flavor == "sklearn" else pyfunc.load_model)(str(path))
    assert sys.path == before
