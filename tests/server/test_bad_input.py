"""Bad requests get MLflow's error JSON with the right status and code, and the server keeps serving."""

from __future__ import annotations

import json

import pytest
import requests

API = "/api/2.0/mlflow"


@pytest.fixture
def server(shared_server):
    return shared_server


def _post(server, path: str, data: bytes | str | None = None, body: object = None, **headers: str):
    if body is not None:
        data = json.dumps(body)
    headers.setdefault("Content-Type", "application/json")
    return requests.post(server.url + path, data=data, headers=headers, timeout=30)


def _error(resp, status: int, code: str) -> str:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    payload = resp.json()
    assert payload["error_code"] == code, payload
    assert "Traceback" not in payload["message"]
    return str(payload["message"])


@pytest.fixture
def run_id(server) -> str:
    resp = _post(server, f"{API}/runs/create", body={"experiment_id": "0"})
    return str(resp.json()["run"]["info"]["run_id"])


def test_malformed_json(server) -> None:
    message = _error(_post(server, f"{API}/experiments/create", data="{not json"), 400, "MALFORMED_REQUEST")
    assert "not valid JSON" in message
    _error(_post(server, f"{API}/runs/log-batch", data=b"\xff\xfe"), 400, "MALFORMED_REQUEST")


@pytest.mark.parametrize(("path", "body", "says"), [
    ("/experiments/create", {"name": 123}, "Expected `str`, got `int` - at `$.name`"),
    ("/experiments/create", [1, 2], "Expected `object`, got `array`"),
    ("/runs/log-metric", {"run_id": "r", "key": "m", "value": "high", "timestamp": 1}, "at `$.value`"),
    ("/runs/log-batch", {"run_id": "r", "metrics": {"key": "m"}}, "at `$.metrics`"),
    ("/runs/search", {"max_results": "many"}, "at `$.max_results`"),
    ("/runs/search", {"max_results": 1.5}, "at `$.max_results`"),
])
def test_wrong_types(server, path: str, body: object, says: str) -> None:
    assert says in _error(_post(server, API + path, body=body), 400, "INVALID_PARAMETER_VALUE")


@pytest.mark.parametrize(("path", "body", "field"), [
    ("/experiments/create", {}, "name"),
    ("/runs/log-metric", {"run_id": "r", "value": 1, "timestamp": 1}, "key"),
    ("/runs/log-batch", {}, "run_id"),
    ("/registered-models/create", {"tags": []}, "name"),
])
def test_missing_required_fields(server, path: str, body: object, field: str) -> None:
    message = _error(_post(server, API + path, body=body), 400, "INVALID_PARAMETER_VALUE")
    assert f"Missing value for required parameter '{field}'" in message


def test_unknown_fields_are_ignored_as_mlflow_does(server) -> None:
    """Newer clients send fields an older server does not know; MLflow ignores them, and so do we."""
    resp = _post(server, f"{API}/experiments/create", body={"name": "x", "brand_new_field": {"a": [1]}})
    assert resp.status_code == 200 and resp.json()["experiment_id"]


def test_numbers_as_protobuf_json_spells_them(server, run_id) -> None:
    """int64 as strings, NaN and infinities as strings, enums by name or number."""
    resp = _post(server, f"{API}/runs/log-batch", body={"run_id": run_id, "metrics": [
        {"key": "a", "value": "NaN", "timestamp": "1700000000000", "step": "3"},
        {"key": "b", "value": "-Infinity", "timestamp": 1700000000000}]})
    assert resp.status_code == 200, resp.text
    metrics = {m["key"]: m for m in requests.get(f"{server.url}{API}/runs/get", params={"run_id": run_id}).json()["run"]["data"]["metrics"]}
    assert metrics["a"]["value"] == "NaN" and metrics["a"]["step"] == 3 and metrics["b"]["value"] == "-Infinity"
    resp = _post(server, f"{API}/runs/search", body={"experiment_ids": ["0"], "run_view_type": 3, "filter": "metrics.b < 0"})
    assert [r["info"]["run_id"] for r in resp.json()["runs"]] == [run_id]


def test_values_break_mlflow_rules(server, run_id) -> None:
    _error(_post(server, f"{API}/runs/log-parameter", body={"run_id": run_id, "key": "k", "value": "x" * 6001}),
           400, "INVALID_PARAMETER_VALUE")
    _error(_post(server, f"{API}/runs/log-batch", body={"run_id": run_id, "params": [{"key": f"p{i}", "value": "1"} for i in range(101)]}),
           400, "INVALID_PARAMETER_VALUE")
    _error(_post(server, f"{API}/runs/set-tag", body={"run_id": run_id, "key": "../bad", "value": "1"}),
           400, "INVALID_PARAMETER_VALUE")
    _error(_post(server, f"{API}/runs/search", body={"experiment_ids": ["0"], "filter": "metrics.acc >>> 1"}),
           400, "INVALID_PARAMETER_VALUE")
    _error(_post(server, f"{API}/runs/update", body={"run_id": run_id, "status": "DONE"}), 400, "INVALID_PARAMETER_VALUE")
    _error(_post(server, f"{API}/runs/log-metric", body={"run_id": "f" * 32, "key": "m", "value": 1, "timestamp": 1}),
           404, "RESOURCE_DOES_NOT_EXIST")
    _post(server, f"{API}/runs/delete", body={"run_id": run_id})
    message = _error(_post(server, f"{API}/runs/log-metric", body={"run_id": run_id, "key": "m", "value": 1, "timestamp": 1}),
                     400, "INVALID_PARAMETER_VALUE")
    assert "active" in message


def test_a_filter_that_does_not_parse_says_where_in_the_json(server) -> None:
    """The position of a filter error reaches the client: ``details`` holds the filter and the
    0-based column, as the message's caret does."""
    text = "metrics.acc > 'high'"
    for endpoint in ("runs/search", "experiments/search", "registered-models/search"):
        method = requests.get if endpoint == "registered-models/search" else None
        if method is None:
            resp = _post(server, f"{API}/{endpoint}", body={"experiment_ids": ["0"], "filter": text})
        else:
            resp = method(f"{server.url}{API}/{endpoint}", params={"filter": text}, timeout=30)
        _error(resp, 400, "INVALID_PARAMETER_VALUE")
        assert resp.json()["details"]["filter"] == text, endpoint
        assert isinstance(resp.json()["details"]["position"], int)
    resp = _post(server, f"{API}/runs/search", body={"experiment_ids": ["0"], "filter": text})
    assert resp.json()["details"] == {"filter": text, "position": 14}
    assert resp.json()["message"].startswith("col 15: metrics compare with numbers")


def test_huge_bodies_are_refused_and_the_server_keeps_serving(server) -> None:
    huge = b'{"name": "' + b"x" * (17 << 20) + b'"}'
    _error(_post(server, f"{API}/experiments/create", data=huge), 413, "RESOURCE_LIMIT_EXCEEDED")

    def chunks():  # no Content-Length: the limit is enforced while reading
        yield b'{"name": "'
        for _ in range(20):
            yield b"y" * (1 << 20)
        yield b'"}'

    _error(requests.post(f"{server.url}{API}/experiments/create", data=chunks(),
                         headers={"Content-Type": "application/json"}, timeout=30), 413, "RESOURCE_LIMIT_EXCEEDED")
    assert requests.get(server.url + "/health", timeout=5).text == "OK"
    assert _post(server, f"{API}/experiments/create", body={"name": "after"}).status_code == 200


def test_unknown_endpoints_and_methods(server) -> None:
    _error(requests.get(f"{server.url}{API}/no/such/endpoint", timeout=5), 404, "ENDPOINT_NOT_FOUND")
    _error(requests.get(f"{server.url}/api/2.0/tracklog/nothing", timeout=5), 404, "ENDPOINT_NOT_FOUND")
    _error(requests.get(f"{server.url}{API}/runs/log-batch", timeout=5), 405, "BAD_REQUEST")
    _error(requests.delete(f"{server.url}{API}/logged-models/m-1/tags", timeout=5), 405, "BAD_REQUEST")


def test_content_type_must_be_json(server) -> None:
    message = _error(_post(server, f"{API}/experiments/create", data='{"name": "x"}', **{"Content-Type": "text/plain"}),
                     400, "INVALID_PARAMETER_VALUE")
    assert "Content-Type" in message


def test_artifact_paths_cannot_leave_the_destination(server) -> None:
    base = f"{server.url}/api/2.0/mlflow-artifacts/artifacts"
    for path in ["%2E%2E/secret.txt", "0/%2E%2E/%2E%2E/secret.txt", "a/..%2F..%2Fsecret.txt", "%2Fetc%2Fpasswd",
                 "a%5C..%5Csecret.txt", "a%23b"]:
        _error(requests.get(f"{base}/{path}", timeout=5), 400, "INVALID_PARAMETER_VALUE")
        _error(requests.put(f"{base}/{path}", data=b"x", timeout=5), 400, "INVALID_PARAMETER_VALUE")
    _error(requests.get(base, params={"path": "../.."}, timeout=5), 400, "INVALID_PARAMETER_VALUE")
    _error(requests.get(f"{server.url}/get-artifact", params={"path": "../../secret.txt", "run_uuid": "x"}, timeout=5),
           404, "RESOURCE_DOES_NOT_EXIST")
    _error(requests.get(f"{base}/0/missing.txt", timeout=5), 404, "RESOURCE_DOES_NOT_EXIST")


def test_a_bug_is_a_500_without_its_traceback(tmp_path, caplog, monkeypatch) -> None:
    """An unexpected exception is logged server-side and answered INTERNAL_ERROR, without details."""
    from tracklog.server.errors import error_body

    status, body = error_body(KeyError("secret detail"), "POST runs/create")
    assert status == 500
    payload = json.loads(body)
    assert payload["error_code"] == "INTERNAL_ERROR" and "secret detail" not in payload["message"]
    assert "secret detail" in caplog.text


def test_artifact_locations_are_only_where_the_operator_allows(start_server, tmp_path) -> None:
    """An API caller may put an experiment's artifacts under the destination (or a root the
    operator allowed), nowhere else: not a URL, not another folder or bucket, not a way out."""
    extra = tmp_path / "extra"
    server = start_server(None, str(tmp_path / "dest"), "--allowed-artifact-root", f"file://{extra}")
    refused = ["file:///etc", "/etc", "http://169.254.169.254/latest/meta-data", "https://example.com/x",
               "s3://someone-elses-bucket/x", f"file://{tmp_path}/dest/../elsewhere", f"file://{tmp_path}/dest-other",
               f"file://{extra}/../dest-other", "mlflow-artifacts:/../../etc", "ftp://host/x"]
    for i, location in enumerate(refused):
        message = _error(_post(server, f"{API}/experiments/create", body={"name": f"bad-{i}", "artifact_location": location}),
                         400, "INVALID_PARAMETER_VALUE")
        assert "not a location this server keeps artifacts at" in message or "artifact path" in message, message
    allowed = ["mlflow-artifacts:/team-a", f"file://{tmp_path}/dest/team-b", f"file://{extra}/team-c", f"{extra}/team-d"]
    for i, location in enumerate(allowed):
        resp = _post(server, f"{API}/experiments/create", body={"name": f"ok-{i}", "artifact_location": location})
        assert resp.status_code == 200, resp.text
        run = _post(server, f"{API}/runs/create", body={"experiment_id": resp.json()["experiment_id"]}).json()["run"]["info"]
        assert requests.get(f"{server.url}{API}/artifacts/list", params={"run_id": run["run_id"]}, timeout=10).status_code == 200


def test_the_proxy_never_reads_where_it_was_not_configured(start_server, tmp_path) -> None:
    """Runs a local client logged straight into the store, with artifacts in /etc or behind a
    URL: the server lists and serves none of it, and opens no connection (no SSRF)."""
    import time

    import tracklog
    from tests.conftest import Listener

    store = str(tmp_path / "store")
    server = start_server(store, str(tmp_path / "dest"))
    listener = Listener()
    local = tracklog.Client(store)
    runs = []
    for name, location in (("etc", "file:///etc"), ("url", f"http://127.0.0.1:{listener.port}/meta")):
        exp = local.create_experiment(name, artifact_location=location)
        runs.append(local.create_run(exp).info.run_id)
    local.flush()
    try:
        for run_id in runs:
            deadline = time.monotonic() + 20
            while requests.get(f"{server.url}{API}/runs/get", params={"run_id": run_id}, timeout=10).status_code != 200:
                assert time.monotonic() < deadline, "the server never saw the run"
                time.sleep(0.2)
            for resp in (requests.get(f"{server.url}{API}/artifacts/list", params={"run_id": run_id}, timeout=10),
                         requests.get(f"{server.url}/get-artifact", params={"run_uuid": run_id, "path": "passwd"}, timeout=10),
                         requests.get(f"{server.url}/get-artifact", params={"run_uuid": run_id, "path": "x.txt"}, timeout=10)):
                message = _error(resp, 400, "INVALID_PARAMETER_VALUE")
                assert "are not served by this server" in message and "root:" not in resp.text
    finally:
        listener.close()
    assert listener.accepted == 0


def test_artifacts_are_never_read_through_a_symlink(start_server, tmp_path) -> None:
    """Links planted in a run's artifact folder — to /etc, to another run's folder or file — are
    not listed, not served, not written through, by the proxy or by the run endpoints."""
    import os

    dest = tmp_path / "dest"
    server = start_server(None, str(dest))
    runs = []
    for name in ("a", "b"):
        info = _post(server, f"{API}/runs/create", body={"experiment_id": "0", "run_name": name}).json()["run"]["info"]
        rel = info["artifact_uri"].removeprefix("mlflow-artifacts:/")
        assert requests.put(f"{server.url}/api/2.0/mlflow-artifacts/artifacts/{rel}/own.txt", data=f"{name}'s",
                            timeout=10).status_code == 200
        runs.append((info["run_id"], rel))
    (a_id, a_rel), (b_id, b_rel) = runs
    a_dir = dest / a_rel
    os.symlink("/etc/passwd", a_dir / "passwd")
    os.symlink(dest / b_rel, a_dir / "other")
    os.symlink(dest / b_rel / "own.txt", a_dir / "theirs.txt")
    proxy = f"{server.url}/api/2.0/mlflow-artifacts/artifacts"
    for resp in (requests.get(f"{proxy}/{a_rel}/passwd", timeout=10),
                 requests.get(f"{proxy}/{a_rel}/other/own.txt", timeout=10),
                 requests.get(f"{proxy}/{a_rel}/theirs.txt", timeout=10),
                 requests.get(proxy, params={"path": f"{a_rel}/other"}, timeout=10),
                 requests.get(f"{server.url}/get-artifact", params={"run_uuid": a_id, "path": "other/own.txt"}, timeout=10),
                 requests.get(f"{server.url}/get-artifact", params={"run_uuid": a_id, "path": "theirs.txt"}, timeout=10),
                 requests.get(f"{server.url}{API}/artifacts/list", params={"run_id": a_id, "path": "other"}, timeout=10),
                 requests.put(f"{proxy}/{a_rel}/other/planted.txt", data=b"x", timeout=10),
                 requests.delete(f"{proxy}/{a_rel}/other/own.txt", timeout=10)):
        message = _error(resp, 400, "INVALID_PARAMETER_VALUE")
        assert "symbolic link" in message and "root:" not in resp.text
    assert sorted(os.listdir(dest / b_rel)) == ["own.txt"]
    listed = requests.get(f"{server.url}{API}/artifacts/list", params={"run_id": a_id}, timeout=10).json()["files"]
    assert [f["path"] for f in listed] == ["own.txt"]
    assert [f["path"] for f in requests.get(proxy, params={"path": a_rel}, timeout=10).json()["files"]] == ["own.txt"]
    assert requests.get(f"{proxy}/{a_rel}/own.txt", timeout=10).text == "a's"


JSON_ENDPOINTS = [
    "/api/2.0/mlflow/experiments/create", "/api/2.0/mlflow/runs/log-batch", "/ajax-api/2.0/mlflow/runs/search",
    "/api/2.0/mlflow/users/create", "/api/2.0/mlflow/registered-models/permissions/create",
    "/api/2.0/tracklog/sql", "/api/2.0/tracklog/tokens/create", "/api/2.0/tracklog/runs/table",
    "/ajax-api/2.0/tracklog/metrics/downsample", "/api/2.0/tracklog/runs/keys", "/api/2.0/tracklog/runs/groups",
]


@pytest.mark.parametrize("path", JSON_ENDPOINTS)
def test_deep_or_huge_json_is_refused_on_every_endpoint(server, path: str) -> None:
    """Nested a hundred thousand levels, or larger than the body limit (declared or streamed):
    400 or 413 with MLflow's error JSON, never a 500; the server keeps serving."""
    depth = 100_000
    deep_values = [
        b'{"name": "x", "query": "SELECT 1", "extra": ' + b"[" * depth + b"]" * depth + b"}",
        b'{"name": "x", "query": "SELECT 1", "run_ids": ["a"], "keys": ' + b'{"a": ' * depth + b"1" + b"}" * depth + b"}",
        b"[" * depth + b"]" * depth,
    ]
    for body in deep_values:
        message = _error(_post(server, path, data=body), 400, "MALFORMED_REQUEST")
        assert "more than 64 levels deep" in message
    huge = b'{"name": "' + b"x" * (17 << 20) + b'"}'
    _error(_post(server, path, data=huge), 413, "RESOURCE_LIMIT_EXCEEDED")

    def chunks():
        yield b'{"name": "'
        for _ in range(20):
            yield b"y" * (1 << 20)
        yield b'"}'

    _error(requests.post(server.url + path, data=chunks(), headers={"Content-Type": "application/json"}, timeout=30),
           413, "RESOURCE_LIMIT_EXCEEDED")
    assert requests.get(server.url + "/health", timeout=5).text == "OK"


def test_json_nesting_is_measured_outside_strings() -> None:
    """The nesting check counts brackets of the JSON, not inside its strings, and stops early."""
    from tracklog._json import json_depth

    assert json_depth(b'{"a": [1, {"b": "[[[[[[[[ \\" ]]]]"}], "c": {}}', limit=1) == 3
    assert json_depth(b'"' + b"[" * 1000 + b'"', limit=10) == 0
    assert json_depth(b"[1," * 65 + b"]" * 65) == 65
    assert json_depth(b"[" * 10**7) > 64


def test_graphql_queries_that_would_cost_unbounded_work_are_answered_fast(start_server) -> None:
    """Fragments spreading the next one twice, 30 deep (2**30 fields as first counted: the check hung
    the server), 10k aliases, 1,000-deep nesting: each answered in well under a second, in MLflow's
    shape (200 with ``errors``: MLflow's own tests pin the status). Introspection is answered."""
    import time

    server = start_server()  # not the shared one: a hung check would keep a core busy for the module
    fanout = ("query q { test { ...F0 } } " + " ".join(f"fragment F{i} on Test {{ output ...F{i + 1} ...F{i + 1} }}"
                                                      for i in range(30)) + " fragment F30 on Test { output }")
    cases = {
        fanout: None,
        "query q { " + " ".join(f"a{i}: test {{ output }}" for i in range(10_000)) + " }": "more than 10000 tokens",
        "query q { test { " + "output { " * 1000 + "}" * 1000 + " } }": "nested too deeply",
        "{ __schema { queryType { name } } }": None,
    }
    for query, says in cases.items():
        started = time.monotonic()
        reply = requests.post(f"{server.url}/graphql", json={"query": query}, timeout=10)
        assert time.monotonic() - started < 2 and reply.status_code == 200, reply.text[:300]
        errors = reply.json()["errors"]
        assert (errors is None) if says is None else (says in errors[0]), errors
    reply = requests.post(f"{server.url}/graphql", timeout=10, json={
        "query": "query q($n: Int) { mlflowSearchRuns(input: {maxResults: $n}) { nextPageToken } }",
        "variables": {"n": "lots"}})
    assert reply.json() == {"data": None, "errors": [
        "Variable '$n' got invalid value 'lots'; Int cannot represent non-integer value: 'lots'"]}
    assert "at `$.variables`" in _error(_post(server, "/graphql", body={"query": "{ test { output } }", "variables": [1]}),
                                        400, "INVALID_PARAMETER_VALUE")
