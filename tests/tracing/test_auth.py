"""Traces under `--auth basic`: spans go in only with EDIT on their experiment; traces are read
only with READ on it — through MLflow's trace endpoints and through SQL over the trace views."""

from __future__ import annotations

import requests

from tests.server.test_auth import API, As, _code, secured  # noqa: F401, F811 - the fixture
from tests.tracing.test_otlp import _span_request

V3 = "/api/3.0/mlflow/traces"


def _send(who: As, experiment_id: str, body: bytes) -> requests.Response:
    headers = {**who.kw.get("headers", {}), "Content-Type": "application/x-protobuf", "x-mlflow-experiment-id": experiment_id}
    return requests.post(f"{who.url}/v1/traces", data=body, headers=headers, auth=who.kw.get("auth"), timeout=30)


def test_trace_permissions_follow_the_experiments(secured) -> None:  # noqa: F811 - the fixture
    server, admin, alice, bob = secured
    exp = alice.post(f"{API}/experiments/create", {"name": "alice-traces"}).json()["experiment_id"]
    assert _code(_send(As(server), exp, _span_request())) == (401, "UNAUTHENTICATED")
    assert _code(_send(bob, exp, _span_request())) == (403, "PERMISSION_DENIED")
    assert _code(_send(alice, exp, _span_request())) == (200, None)
    trace_id = "tr-" + "01" * 16
    assert _code(alice.get(f"{V3}/{trace_id}")) == (200, None)
    assert _code(bob.get(f"{V3}/{trace_id}")) == (403, "PERMISSION_DENIED")
    assert _code(bob.get(f"{V3}/get", trace_id=trace_id)) == (403, "PERMISSION_DENIED")
    assert _code(bob.post(f"{V3}/{trace_id}/tags", {"key": "k", "value": "v"}, method="PATCH")) == (403, "PERMISSION_DENIED")
    assert _code(bob.post(f"{V3}/delete-traces", {"experiment_id": exp, "request_ids": [trace_id]})) == \
        (403, "PERMISSION_DENIED")
    assert [t["trace_id"] for t in alice.post(f"{V3}/search", {}).json()["traces"]] == [trace_id]
    assert bob.post(f"{V3}/search", {}).json().get("traces", []) == []
    query = {"query": "SELECT (SELECT count(*) FROM traces), (SELECT count(*) FROM spans)"}
    assert alice.post("/api/2.0/tracklog/sql", query).json()["rows"] == [[1, 1]]
    assert bob.post("/api/2.0/tracklog/sql", query).json()["rows"] == [[0, 0]]


def test_a_search_across_experiments_fills_its_pages_from_the_readable_ones(secured) -> None:  # noqa: F811
    """Unreadable traces are left out before paging: a page is full whenever enough readable traces exist."""
    server, admin, alice, bob = secured
    mine = bob.post(f"{API}/experiments/create", {"name": "bob-traces"}).json()["experiment_id"]
    theirs = alice.post(f"{API}/experiments/create", {"name": "alice-many"}).json()["experiment_id"]
    for n in range(3):  # same start time: ties are broken by trace id, and these sort before bob's
        assert _code(_send(alice, theirs, _span_request(trace_id=bytes([0xA0 + n]) * 16))) == (200, None)
    assert _code(_send(bob, mine, _span_request(trace_id=b"\xff" * 16))) == (200, None)
    page = bob.post(f"{V3}/search", {"max_results": 1}).json()
    assert [t["trace_id"] for t in page["traces"]] == ["tr-" + "ff" * 16]
    assert "next_page_token" not in page
    assert len(admin.post(f"{V3}/search", {"max_results": 10}).json()["traces"]) == 4
