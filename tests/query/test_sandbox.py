"""query.sandbox: SQL from untrusted callers sees the views and nothing else, within its limits."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import tracklog
from projections.scope import Scope
from projections.views import VIEW_NAMES
from query.sandbox import Sandbox, SqlResourceError
from query.sql import QueryTimeoutError, SqlError
from tests.conftest import Listener


@pytest.fixture
def seeded(tracking_uri: str) -> str:
    for name in ("open", "hidden"):
        tracklog.set_experiment(name)
        for i in range(2):
            with tracklog.start_run(run_name=f"{name}-{i}"):
                tracklog.log_param("lr", "0.01")
                tracklog.log_metric("acc", i / 10, step=1)
                tracklog.set_tag("team", name)
                tracklog.log_dict({"a": 1}, "conf.json")
    client = tracklog.Client()
    client.create_registered_model("open-model")
    client.create_registered_model("hidden-model")
    tracklog.flush()
    return tracking_uri


def _source():
    return tracklog.Client().store.cursor()


def _cells(result) -> list[str]:
    return [str(v) for row in result.fetchall() for v in row]


def test_no_file_or_network_access_in_any_form(seeded: str, tmp_path, monkeypatch) -> None:
    """Table functions, replacement scans of paths, globs and URLs, ATTACH, COPY, INSTALL and LOAD
    all fail; no connection leaves the process; Python objects in scope are not found either."""
    (tmp_path / "data.csv").write_text("a,b\n1,2\n")
    (tmp_path / "data.json").write_text(json.dumps([{"a": 1}]))
    segment = next(Path(seeded).glob("events/stream=control/**/*.parquet"))
    other = tmp_path / "other-store/events/stream=control/date=2026-01-01"
    other.mkdir(parents=True)
    pq.write_table(pa.table({"x": [1]}), other / "s.parquet")
    monkeypatch.chdir(tmp_path)
    secret = pa.table({"x": [42]})  # noqa: F841 - DuckDB's Python replacement scan would find it by name
    listener = Listener()
    url = f"http://127.0.0.1:{listener.port}"
    queries = [
        f"SELECT * FROM read_csv('{tmp_path}/data.csv')",
        f"SELECT * FROM read_json_auto('{tmp_path}/data.json')",
        f"SELECT * FROM read_parquet('{segment}')",
        f"SELECT * FROM glob('{seeded}/**')",
        f"SELECT * FROM read_text('{tmp_path}/data.csv')",
        f"SELECT * FROM '{tmp_path}/data.json'",
        f"SELECT * FROM '{segment}'",
        "SELECT * FROM 'other-store/**/*.parquet'",
        f"SELECT * FROM '{url}/x.parquet'",
        f"SELECT * FROM read_csv('{url}/x.csv')",
        "SELECT * FROM read_parquet('s3://bucket/x.parquet')",
        f"SELECT * FROM runs WHERE run_id IN (SELECT content FROM read_blob('{tmp_path}/data.csv'))",
        "SELECT * FROM secret",
        f"ATTACH '{tmp_path}/x.duckdb' AS x",
        "COPY runs TO 'out.csv'",
        "COPY (SELECT 1) TO 'out.parquet'",
        "INSTALL httpfs",
        "LOAD httpfs",
        "EXPLAIN ANALYZE COPY runs TO 'out.csv'",
        "SET enable_external_access = true",
        "PRAGMA threads = 8",
        "SELECT * FROM query_table('control')",
        "SELECT * FROM control",
        "SELECT * FROM _meta",
    ]
    try:
        for query in queries:
            with pytest.raises(SqlError):
                Sandbox().run(_source(), query, 100)
    finally:
        listener.close()
    assert listener.accepted == 0
    assert not list(tmp_path.glob("out.*")) and not (tmp_path / "x.duckdb").exists()
    assert Sandbox().run(_source(), "SELECT count(*) FROM runs", 100).fetchall() == [(4,)]


@pytest.mark.parametrize("query", [
    "DROP TABLE runs", "DELETE FROM runs", "CREATE TABLE t AS SELECT 1", "INSERT INTO runs SELECT * FROM runs",
    "EXPLAIN SELECT 1", "EXPLAIN ANALYZE DELETE FROM runs", "CALL duckdb_settings()", "SET threads = 1",
    "SELECT 1; SELECT 2",
])
def test_only_one_select_runs(seeded: str, query: str) -> None:
    with pytest.raises(SqlError, match="only SELECT|one statement"):
        Sandbox().run(_source(), query, 10)


def test_no_result_shows_the_store_path(seeded: str) -> None:
    """The store's paths appear in no view (artifact URIs are shown as the server names them),
    no setting, no system table and no error message."""
    store = str(Path(seeded).resolve())
    sandbox = Sandbox(hide=[(f"file://{store}/artifacts/", "mlflow-artifacts:/"), (f"{store}/", "<store>/")])
    shown = []
    for view in VIEW_NAMES:
        shown += _cells(sandbox.run(_source(), f"SELECT * FROM {view}", 10_000))
    for query in ["SELECT * FROM duckdb_settings()", "SELECT * FROM duckdb_databases()", "SELECT * FROM duckdb_tables()",
                  "SELECT current_setting('temp_directory'), current_setting('home_directory')",
                  "SELECT * FROM duckdb_temporary_files()", "SELECT * FROM duckdb_views()", "SHOW TABLES"]:
        shown += _cells(sandbox.run(_source(), query, 10_000))
    for query in ["SELECT * FROM duckdb_extensions()", f"SELECT * FROM '{store}/nothing.parquet'",
                  "SELECT * FROM nothing_here"]:
        with pytest.raises(SqlError) as info:
            sandbox.run(_source(), query, 10)
        shown.append(str(info.value).replace(f"{store}/nothing.parquet", "<the query's own text>"))
    assert shown and not [cell for cell in shown if store in cell]
    uris = sandbox.run(_source(), "SELECT artifact_uri FROM runs UNION ALL SELECT artifact_location FROM experiments", 100)
    assert all(u.startswith(("mlflow-artifacts:/", "<store>/")) for (u,) in uris.fetchall())


def test_settings_are_locked(seeded: str) -> None:
    sandbox = Sandbox(memory_limit=64 << 20)
    with pytest.raises(SqlError):
        sandbox.run(_source(), "SELECT * FROM range(3) WHERE set_config('memory_limit', '10GB') IS NULL", 10)
    assert sandbox.run(_source(), "SELECT current_setting('memory_limit'), current_setting('enable_external_access'), "
                                  "current_setting('lock_configuration')", 10).fetchall() == [("64.0 MiB", False, True)]


def test_rows_stream_out_up_to_the_limit(seeded: str) -> None:
    """A result is read batch by batch and cut at the limit: a hundred million rows cost five."""
    result = Sandbox().run(_source(), "SELECT * FROM range(100000000)", 5)
    assert result.fetchall() == [(0,), (1,), (2,), (3,), (4,)] and result.truncated
    whole = Sandbox().run(_source(), "SELECT run_name FROM runs ORDER BY 1", 4)
    assert len(whole) == 4 and not whole.truncated


def test_memory_and_time_are_limited(seeded: str) -> None:
    with pytest.raises(SqlResourceError, match="more memory than this server allows SQL"):
        Sandbox(memory_limit=64 << 20).run(_source(), "SELECT list(range) FROM range(100000000)", 10)
    with pytest.raises(QueryTimeoutError, match="longer than its 0.2 s limit"):
        Sandbox(timeout=0.2).run(_source(), "SELECT count(*) FROM range(10000000000) a, range(100) b", 10)
    assert Sandbox().run(_source(), "SELECT 1 AS one", 10).fetchall() == [(1,)]


def test_a_scope_hides_rows_in_every_view(seeded: str) -> None:
    """Narrowed to some experiments and models, no view shows a row of another: not a run, a
    metric point, a param, a tag, an artifact, an event, a model or a version."""
    client = tracklog.Client()
    hidden = client.get_experiment_by_name("hidden").experiment_id
    open_id = client.get_experiment_by_name("open").experiment_id
    hidden_runs = {r.info.run_id for r in client.search_runs([hidden])}
    scope = Scope(experiments=frozenset({open_id, "0"}), models=frozenset({"open-model"}))
    source = tracklog.Client().store.catalog.connect(scope=scope)
    seen = []
    for view in VIEW_NAMES:
        seen += _cells(Sandbox().run(source, f"SELECT * FROM {view}", 10_000))
    assert not [c for c in seen if c in hidden_runs or c == hidden or "hidden" in c]
    counts = Sandbox().run(source, "SELECT (SELECT count(*) FROM runs), (SELECT count(*) FROM metrics), "
                                   "(SELECT count(DISTINCT run_id) FROM events), (SELECT list(name) FROM registered_models)", 10)
    assert counts.fetchall() == [(2, 2, 2, ["open-model"])]
    as_of = tracklog.Client().store.catalog.connect(as_of=10**15, scope=scope)  # time travel narrows the same way
    assert as_of.sql("SELECT count(*), list(DISTINCT experiment_id) FROM runs").fetchall() == [(2, [open_id])]
