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
    ({"instances": [[1, 2], [1]]}, "application/json", 400, "the lists at depth 2 have different lengths (1, 2)"),
    ({"inputs": [[1, 2], [1, [2, 3]]]}, "application/json", 400, "at depth 3 some items are lists and some are not"),
    ({"instances": [[[1, 2], [3, 4]], [[5, 6], [7]]]}, "application/json", 400, "the lists at depth 3 have different lengths"),
    ({"inputs": [[None, 2.0]]}, "application/json", 400, "holds null inside a tensor"),
    ({"instances": [[{"a": 1}, 2.0]]}, "application/json", 400, "holds an object inside a tensor"),
    ({"instances": [{"a": 1.0, "b": 2.0}, [1.0, 2.0]]}, "application/json", 400, "some items are lists and some are not"),
    ('{"instances": ' + "[" * 100_000 + "]" * 100_000 + "}", "application/json", 400, "more than 64 levels deep"),
    ('{"inputs": [[1, 2]], "params": ' + '{"a": ' * 5000 + "1" + "}" * 5000 + "}", "application/json", 400, "levels deep"),
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


SLOW_MODEL = """
import time

from tracklog.models.pyfunc import PythonModel, set_model


class Slow(PythonModel):
    def predict(self, context, model_input, params=None):
        time.sleep(3)
        return [0] * len(model_input)


set_model(Slow())
"""


def _serve(model_path, *extra: str, env: dict | None = None):
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "tracklog.cli", "models", "serve", "-m", str(model_path), "--port",
                             str(port), *extra], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, **(env or {})})
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/ping", timeout=1).status_code == 200:
                return proc, url
        except requests.ConnectionError:
            assert proc.poll() is None, "the scoring server exited"
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("the scoring server did not start")


def test_ping_answers_while_a_request_is_scored(tmp_path) -> None:
    """predict runs on a worker thread: /ping answers within a second while it works."""
    import threading

    from tracklog.models import pyfunc

    source = tmp_path / "slow.py"
    source.write_text(SLOW_MODEL)
    pyfunc.save_model(tmp_path / "slow", python_model=str(source))
    proc, url = _serve(tmp_path / "slow")
    try:
        scored: list[requests.Response] = []
        worker = threading.Thread(target=lambda: scored.append(_post(url, {"inputs": [[1.0, 2.0]] * 1000})))
        worker.start()
        time.sleep(0.5)  # the request is being scored now
        pings = []
        while worker.is_alive():
            started = time.monotonic()
            assert requests.get(f"{url}/ping", timeout=5).status_code == 200
            pings.append(time.monotonic() - started)
            time.sleep(0.1)
        worker.join()
        assert scored[0].status_code == 200 and scored[0].json() == {"predictions": [0] * 1000}
        assert len(pings) >= 5 and max(pings) < 1.0, pings
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_request_bodies_have_a_size_limit(model_dir) -> None:
    """Over the limit: 413 with MLflow's error JSON, by the declared length before the body is
    read (a client announcing 10 GB gets its answer at once), or while a chunked body streams."""
    import socket

    proc, url = _serve(model_dir, "--max-body-size", "1MiB")
    try:
        resp = _post(url, '{"inputs": [' + ", ".join(["[1.0, 2.0]"] * 200_000) + "]}")
        assert resp.status_code == 413 and resp.json()["error_code"] == "RESOURCE_LIMIT_EXCEEDED", resp.text

        def chunks():
            yield b'{"inputs": ['
            for _ in range(300):
                yield b"[1.0, 2.0], " * 1000
            yield b"[1.0, 2.0]]}"

        resp = requests.post(f"{url}/invocations", data=chunks(), headers={"Content-Type": "application/json"}, timeout=30)
        assert resp.status_code == 413 and "limit of 1048576 bytes" in resp.json()["message"]
        with socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1])), timeout=10) as sock:
            sock.sendall(b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 10737418240\r\n\r\n{\"inputs\": [")
            head = b""
            while b"}" not in head and (chunk := sock.recv(4096)):
                head += chunk
        assert head.startswith(b"HTTP/1.1 413") and b"RESOURCE_LIMIT_EXCEEDED" in head
        assert _post(url, {"inputs": [[0.1, 0.2]]}).status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    proc, url = _serve(model_dir, env={"TRACKLOG_SERVE_MAX_BODY": "1000"})
    try:
        assert _post(url, {"inputs": [[0.1, 0.2]] * 100}).status_code == 413
    finally:
        proc.terminate()
        proc.wait(timeout=10)
