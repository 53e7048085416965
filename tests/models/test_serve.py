"""`tracklog models serve` as a real process, and `tracklog models predict`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
import requests

from tests.conftest import _free_port
from tracklog.models import sklearn as tl_sklearn


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, classifier, frame):
    path = tmp_path_factory.mktemp("serve") / "m"
    tl_sklearn.save_model(classifier, path, input_example=frame.head(2))
    return path


@pytest.fixture(scope="module")
def server(model_dir):
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tracklog.cli", "models", "serve", "-m", str(model_dir), "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/ping", timeout=1).status_code == 200:
                break
        except requests.ConnectionError:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited: {proc.stdout.read()}") from None
            time.sleep(0.2)
    else:
        proc.kill()
        raise RuntimeError("server did not start")
    yield url
    proc.terminate()
    proc.wait(timeout=10)


def _post(url, body, content_type="application/json"):
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return requests.post(f"{url}/invocations", data=data, headers={"Content-Type": content_type}, timeout=10)


def test_health_and_version(server) -> None:
    import tracklog

    assert requests.get(f"{server}/health", timeout=5).status_code == 200
    assert requests.get(f"{server}/version", timeout=5).text == tracklog.__version__


def test_every_json_input_form_and_csv_give_the_same_predictions(server, classifier, frame) -> None:
    rows = frame.head(5)
    expected = classifier.predict(rows).tolist()
    split = json.loads(rows.to_json(orient="split", index=False))
    bodies = [
        {"dataframe_split": {"columns": split["columns"], "data": split["data"]}},
        {"dataframe_records": rows.to_dict(orient="records")},
        {"instances": rows.to_dict(orient="records")},
        {"inputs": {"a": rows.a.tolist(), "b": rows.b.tolist()}},
        {"inputs": rows.to_numpy().tolist()},  # rows of a columnar signature: columns from it
    ]
    for body in bodies:
        response = _post(server, body)
        assert response.status_code == 200, (body, response.text)
        assert response.json() == {"predictions": expected}
    response = _post(server, rows.to_csv(index=False), "text/csv")
    assert response.json() == {"predictions": expected}


@pytest.mark.parametrize(("body", "content_type", "status", "message"), [
    ("{not json", "application/json", 400, "not valid JSON"),
    ({"dataframe_split": {"columns": ["a", "b"], "data": [[1, 2]]}, "instances": []}, "application/json", 400, "exactly one of"),
    ({"rows": []}, "application/json", 400, "exactly one of"),
    ({"dataframe_records": {"a": 1}}, "application/json", 400, "list of objects"),
    ({"dataframe_split": {"columns": ["a", "b"], "data": [["x", "y"]]}}, "application/json", 400, "input column 'a': expected double"),
    ({"dataframe_split": {"columns": ["a"], "data": [[1.0]]}}, "application/json", 400, "missing required column"),
    ("a,b\n1,2", "application/xml", 415, "application/json or text/csv"),
])
def test_malformed_bodies_get_mlflows_error_json(server, body, content_type, status, message) -> None:
    response = _post(server, body, content_type)
    assert response.status_code == status
    payload = response.json()
    assert payload["error_code"] == "BAD_REQUEST"
    assert message in payload["message"]


def test_predict_cli_json_and_csv(tmp_path, model_dir, classifier, frame) -> None:
    from click.testing import CliRunner

    from tracklog.cli import cli

    rows = frame.head(3)
    expected = classifier.predict(rows).tolist()
    (tmp_path / "in.json").write_text(json.dumps({"dataframe_records": rows.to_dict(orient="records")}))
    rows.to_csv(tmp_path / "in.csv", index=False)
    runner = CliRunner()
    result = runner.invoke(cli, ["models", "predict", "-m", str(model_dir), "-i", str(tmp_path / "in.json")])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"predictions": expected}
    result = runner.invoke(cli, ["models", "predict", "-m", str(model_dir), "-i", str(tmp_path / "in.csv"),
                                 "-o", str(tmp_path / "out.json")])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "out.json").read_text()) == {"predictions": expected}


def test_predict_cli_errors_are_one_line(tmp_path, model_dir) -> None:
    (tmp_path / "bad.json").write_text("{\"rows\": 1}")
    for args in (["-m", str(model_dir), "-i", str(tmp_path / "bad.json")],
                 ["-m", str(tmp_path / "nowhere"), "-i", str(tmp_path / "bad.json")]):
        out = subprocess.run([sys.executable, "-m", "tracklog.cli", "models", "predict", *args],
                             capture_output=True, text=True, timeout=60, env={**os.environ})
        assert out.returncode == 1
        assert out.stderr.startswith("error: ") and "Traceback" not in out.stderr
