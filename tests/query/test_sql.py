"""tracklog.sql: read-only for everyone, sandboxed for untrusted callers, in every output format."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import tracklog
from query.sql import SqlError


@pytest.fixture
def seeded(tracking_uri: str) -> str:
    tracklog.set_experiment("sql")
    for i in range(3):
        with tracklog.start_run(run_name=f"r{i}"):
            tracklog.log_param("lr", "0.01" if i else "0.1")
            for step in range(5):
                tracklog.log_metric("acc", i / 10 + step / 100, step=step)
    tracklog.flush()  # the CLI tests read the store from another process
    return tracking_uri


def test_the_issue_query_runs_and_converts(seeded: str) -> None:
    result = tracklog.sql("SELECT run_id, metrics['acc'] AS acc FROM runs WHERE params['lr'] = '0.01' ORDER BY metrics['acc'] DESC")
    assert len(result) == 2 and result.columns == ["run_id", "acc"]
    assert [round(v, 2) for v in result.df()["acc"]] == [0.24, 0.14]
    assert result.arrow().num_rows == 2
    pl = pytest.importorskip("polars")
    assert isinstance(result.pl(), pl.DataFrame)
    assert tracklog.sql("SELECT count(*) FROM metrics").fetchall() == [(15,)]


@pytest.mark.parametrize(("query", "message"), [
    ("DROP TABLE runs", "a DROP statement is not allowed"),
    ("INSERT INTO control (kind) VALUES ('x')", "a INSERT statement is not allowed"),
    ("UPDATE runs SET status = 'x'", "a UPDATE statement is not allowed"),
    ("ATTACH 'other.db' AS o", "a ATTACH statement is not allowed"),
    ("COPY runs TO 'out.csv'", "a COPY statement is not allowed"),
    ("INSTALL httpfs", "a LOAD statement is not allowed"),
    ("SET threads = 1", "a SET statement is not allowed"),
    ("SELECT 1; SELECT 2", "one statement at a time, got 2"),
    ("SELEKT 1", "SQL does not parse"),
    ("SELECT * FROM no_such_view", "SQL failed"),
])
def test_sql_is_read_only_for_everyone(seeded: str, query: str, message: str) -> None:
    with pytest.raises(SqlError, match=message):
        tracklog.sql(query)


@pytest.mark.parametrize("query", [
    "EXPLAIN ANALYZE DELETE FROM control",
    "EXPLAIN ANALYZE INSERT INTO runs SELECT * FROM runs",
    "explain analyse create table evil as select 1",
    "/* note */ EXPLAIN (ANALYZE, FORMAT json) COPY runs TO 'copied.csv'",
    "EXPLAIN ANALYZE (FORMAT json) DELETE FROM runs",
    "EXPLAIN ANALYZE DROP TABLE metric_points",
    "EXPLAIN DELETE FROM runs",
    "CALL duckdb_settings()",
    "PRAGMA enable_profiling",
    "BEGIN TRANSACTION",
    "CHECKPOINT",
])
def test_no_statement_can_write_through_sql(seeded: str, query: str, tmp_path, monkeypatch) -> None:
    """EXPLAIN ANALYZE runs what it explains: the explained statement must read too."""
    monkeypatch.chdir(tmp_path)
    before = tracklog.sql("SELECT (SELECT count(*) FROM runs), (SELECT count(*) FROM metrics)").fetchall()
    with pytest.raises(SqlError, match="read-only"):
        tracklog.sql(query)
    assert tracklog.sql("SELECT (SELECT count(*) FROM runs), (SELECT count(*) FROM metrics)").fetchall() == before
    assert not (tmp_path / "copied.csv").exists()
    assert len(tracklog.sql("EXPLAIN ANALYZE SELECT count(*) FROM runs")) == 1  # explaining a read is fine


def test_connect_cannot_change_the_catalog(seeded: str) -> None:
    """What tracklog.connect() returns reads, through SQL and relations alike; nothing it is asked
    changes what a later connection sees."""
    con = tracklog.connect()
    attempts = [
        lambda: con.execute("DROP TABLE runs"),
        lambda: con.sql("INSERT INTO control (kind) VALUES ('RunStarted')"),
        lambda: con.execute("DELETE FROM metric_points"),
        lambda: con.sql("EXPLAIN ANALYZE DELETE FROM runs"),
        lambda: con.sql("SELECT * FROM runs").create("stolen"),
        lambda: con.sql("SELECT * FROM runs").insert_into("runs"),
        lambda: con.table("runs").to_table("copy"),
        lambda: con.sql("SELECT 1").query("x", "DELETE FROM runs"),
        lambda: con.cursor().execute("DROP TABLE runs"),
        lambda: con.begin(),
        lambda: con.checkpoint(),
    ]
    for attempt in attempts:
        with pytest.raises(SqlError, match="read-only"):
            attempt()
    fresh = tracklog.connect()
    assert fresh.sql("SELECT count(*) FROM runs").fetchall() == [(3,)]
    assert fresh.execute("SELECT count(*) FROM metrics").fetchall() == [(15,)]
    # reading works as DuckDB's own API does, the caller's DataFrames included
    import pandas as pd

    labels = pd.DataFrame({"run_name": ["r0", "r1"], "label": ["base", "tuned"]})
    fresh.register("labels", labels)
    joined = fresh.sql("SELECT l.label, r.params['lr'] AS lr FROM runs r JOIN labels l USING (run_name) ORDER BY 1")
    assert joined.fetchall() == [("base", "0.1"), ("tuned", "0.01")]
    assert joined.filter("label = 'base'").df()["lr"].tolist() == ["0.1"]


def test_as_of_in_sql(seeded: str) -> None:
    assert tracklog.sql("SELECT count(*) FROM runs", as_of=0).fetchall() == [(0,)]


@pytest.mark.parametrize("fmt", ["table", "csv", "json", "parquet"])
def test_cli_sql_formats(seeded: str, fmt: str, tmp_path) -> None:
    out = tmp_path / f"out.{fmt}"
    args = [sys.executable, "-m", "tracklog.cli", "sql", "SELECT run_name, params['lr'] AS lr FROM runs ORDER BY run_name",
            "--store", seeded, "--format", fmt, "--output", str(out)]
    done = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    if fmt == "json":
        assert json.loads(out.read_text()) == [{"run_name": "r0", "lr": "0.1"}, {"run_name": "r1", "lr": "0.01"}, {"run_name": "r2", "lr": "0.01"}]
    elif fmt == "csv":
        assert out.read_text().splitlines()[:2] == ['"run_name","lr"', '"r0","0.1"']
    elif fmt == "parquet":
        import pyarrow.parquet as pq

        assert pq.read_table(out).num_rows == 3
    else:
        assert "(3 rows)" in out.read_text()


def test_cli_sql_errors_are_one_line(seeded: str) -> None:
    done = subprocess.run([sys.executable, "-m", "tracklog.cli", "sql", "DELETE FROM runs", "--store", seeded],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and done.stderr.startswith("error: SQL here is read-only") and "Traceback" not in done.stderr
