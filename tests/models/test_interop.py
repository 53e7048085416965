"""Both directions with the real ``mlflow`` package: tracklog models load in MLflow and back."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from tracklog.models import Model
from tracklog.models import pyfunc as tl_pyfunc
from tracklog.models import sklearn as tl_sklearn

mlflow = pytest.importorskip("mlflow")


@pytest.fixture(autouse=True)
def _mlflow_may_unpickle(monkeypatch, tmp_path):
    # MLflow 3.17 refuses every serialized model unless this is set, its own models included
    monkeypatch.setenv("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "true")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")


@pytest.mark.parametrize("fmt", ["skops", "cloudpickle"])
def test_tracklog_sklearn_model_loads_in_mlflow(tmp_path, classifier, frame, fmt) -> None:
    import mlflow.pyfunc
    import mlflow.sklearn

    path = tmp_path / "m"
    tl_sklearn.save_model(classifier, path, serialization_format=fmt, input_example=frame.head(2))
    expected = classifier.predict(frame)
    assert (mlflow.pyfunc.load_model(str(path)).predict(frame) == expected).all()
    assert (mlflow.sklearn.load_model(str(path)).predict(frame) == expected).all()
    # MLflow reads our signature and input example as its own
    info = mlflow.models.get_model_info(str(path))
    assert info.signature.inputs.input_names() == ["a", "b"]
    assert info.saved_input_example_info["type"] == "dataframe"


def test_tracklog_python_model_loads_in_mlflow(tmp_path, frame) -> None:
    import mlflow.pyfunc

    from tests.models.conftest import Scale

    factor = tmp_path / "factor.txt"
    factor.write_text("2")
    tl_pyfunc.save_model(tmp_path / "m", python_model=Scale(), artifacts={"factor": str(factor)},
                         input_example=frame.head(2))
    loaded = mlflow.pyfunc.load_model(str(tmp_path / "m"))
    assert np.allclose(loaded.predict(frame.head(5)), frame.a.head(5) * 2)


@pytest.mark.parametrize("fmt", ["skops", "cloudpickle"])
def test_mlflow_sklearn_model_loads_in_tracklog(tmp_path, classifier, frame, fmt) -> None:
    import mlflow.sklearn

    path = tmp_path / "m"
    mlflow.sklearn.save_model(classifier, str(path), serialization_format=fmt, input_example=frame.head(2))
    expected = classifier.predict(frame)
    assert (tl_sklearn.load_model(str(path)).predict(frame) == expected).all()
    model = tl_pyfunc.load_model(str(path))
    assert (model.predict(frame) == expected).all()
    assert model.metadata.signature.inputs.input_names() == ["a", "b"]


def test_mlflow_python_model_loads_in_tracklog(tmp_path, frame) -> None:
    # the class must be importable by both (a module, not a test-local class)
    code = tmp_path / "mlflow_model_mod.py"
    code.write_text(
        "import mlflow.pyfunc\n"
        "class Offset(mlflow.pyfunc.PythonModel):\n"
        "    def load_context(self, context):\n"
        "        self.offset = float(open(context.artifacts['offset']).read())\n"
        "    def predict(self, context, model_input, params=None):\n"
        "        return model_input['a'] + self.offset\n")
    (tmp_path / "offset.txt").write_text("10")
    sys.path.insert(0, str(tmp_path))
    try:
        import mlflow.pyfunc
        from mlflow_model_mod import Offset

        mlflow.pyfunc.save_model(str(tmp_path / "m"), python_model=Offset(),
                                 artifacts={"offset": str(tmp_path / "offset.txt")}, input_example=frame.head(2))
        loaded = tl_pyfunc.load_model(str(tmp_path / "m"))
        assert np.allclose(loaded.predict(frame.head(3)), frame.a.head(3) + 10)
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("mlflow_model_mod", None)


def test_mlflow3_logged_model_layout_loads_in_tracklog(tmp_path, classifier, frame) -> None:
    """MLflow 3 keeps a logged model under <experiment>/models/<model_id>/artifacts."""
    import mlflow.sklearn

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path}/mlflow.db")
    exp = mlflow.create_experiment("interop", artifact_location=str(tmp_path / "mlruns"))
    with mlflow.start_run(experiment_id=exp):
        info = mlflow.sklearn.log_model(classifier, name="model", input_example=frame.head(2))
    location = tmp_path / "mlruns" / "models" / info.model_id / "artifacts"
    assert location.is_dir()
    model = tl_pyfunc.load_model(str(location))
    assert model.model_id == info.model_id
    assert (model.predict(frame) == classifier.predict(frame)).all()


def test_a_model_tracklog_logged_is_served_by_mlflows_loader_in_a_fresh_process(tmp_path, classifier, frame) -> None:
    """No shared imports: a separate interpreter with only MLflow's code path loads it."""
    path = tmp_path / "m"
    tl_sklearn.save_model(classifier, path, input_example=frame.head(2))
    frame.head(4).to_json(tmp_path / "in.json", orient="split", index=False)
    script = (
        "import json, sys, pandas as pd, mlflow.pyfunc\n"
        "m = mlflow.pyfunc.load_model(sys.argv[1])\n"
        "d = json.load(open(sys.argv[2]))\n"
        "print(json.dumps(m.predict(pd.DataFrame(d['data'], columns=d['columns'])).tolist()))\n")
    out = subprocess.run([sys.executable, "-c", script, str(path), str(tmp_path / "in.json")],
                         capture_output=True, text=True, timeout=120, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == classifier.predict(frame.head(4)).tolist()
    assert Model.load(path).flavors["python_function"]["loader_module"] == "mlflow.sklearn"
    assert pd.read_json(tmp_path / "in.json", orient="split").shape == (4, 2)
