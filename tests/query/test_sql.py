"""tracklog.sql: read-only for everyone, sandboxed for untrusted callers, in every output format."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import tracklog
from query.sql import QueryTimeoutError, SqlError, run_sql


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


@pytest.mark.parametrize(("query", "function"), [
    ("SELECT * FROM read_parquet('/etc/passwd')", "read_parquet"),
    ("SELECT * FROM read_text('/etc/passwd')", "read_text"),
    ("SELECT * FROM '/etc/passwd'", None),
    ("SELECT getenv('HOME')", "getenv"),
    ("SELECT * FROM glob('/*')", "glob"),
    ("SELECT * FROM runs WHERE run_id IN (SELECT content FROM read_blob('/etc/hosts'))", "read_blob"),
    ("SELECT current_setting('threads')", "current_setting"),
])
def test_untrusted_sql_cannot_touch_files_or_settings(seeded: str, query: str, function: str | None) -> None:
    cur = tracklog.connect()
    with pytest.raises(SqlError) as info:
        run_sql(cur, query, trusted=False)
    if function:
        assert f"the function {function}() is not allowed" in str(info.value)
    assert run_sql(cur, "SELECT count(*) FROM runs", trusted=False).fetchall() == [(3,)]


def test_untrusted_sql_has_a_time_limit(seeded: str) -> None:
    cur = tracklog.connect()
    with pytest.raises(QueryTimeoutError, match="longer than its 0.2 s limit"):
        run_sql(cur, "SELECT count(*) FROM range(10000000000) a, range(100) b", trusted=False, timeout=0.2)
    assert run_sql(cur, "SELECT 1 AS one", trusted=False).fetchall() == [(1,)]


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
