"""The command line: real commands, one-line errors, no tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys


def _tracklog(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tracklog.cli", *args], capture_output=True, text=True, timeout=120)


def test_demo_then_list_describe_delete(tmp_path) -> None:
    store = str(tmp_path / "s")
    out = _tracklog("demo", "--store", store, "--runs", "2", "--steps", "50")
    assert out.returncode == 0, out.stderr
    assert "logged 200 metric points in 2 runs" in out.stdout
    listing = _tracklog("runs", "list", "--store", store).stdout.splitlines()
    assert len(listing) == 4 and "FINISHED" in listing[2]
    run_id = listing[2].split()[0]
    described = json.loads(_tracklog("runs", "describe", run_id, "--store", store).stdout)
    assert described["info"]["run_id"] == run_id and set(described["data"]["metrics"]) == {"loss", "acc"}
    assert _tracklog("runs", "delete", run_id, "--store", store).returncode == 0
    assert run_id in _tracklog("runs", "list", "--view", "deleted", "--store", store).stdout
    exps = _tracklog("experiments", "list", "--store", store).stdout
    assert "demo" in exps and "Default" in exps


def test_errors_are_one_line_with_exit_status_1(tmp_path) -> None:
    store = str(tmp_path / "s")
    out = _tracklog("runs", "describe", "nosuchrun", "--store", store)
    assert out.returncode == 1
    assert out.stderr.strip() == f"error: Run with id='nosuchrun' not found in {store}"
    assert _tracklog("experiments", "create", "x", "--store", store).returncode == 0
    dup = _tracklog("experiments", "create", "x", "--store", store)
    assert dup.returncode == 1 and "already exists" in dup.stderr and "Traceback" not in dup.stderr


def test_doctor_reports_a_corrupt_segment_by_path(tmp_path) -> None:
    store = tmp_path / "s"
    assert _tracklog("demo", "--store", str(store), "--runs", "1", "--steps", "5").returncode == 0
    assert "ok" in _tracklog("doctor", "--store", str(store)).stdout
    bad = store / "events/stream=control/date=2026-01-01/bad.parquet"
    bad.parent.mkdir(parents=True, exist_ok=True)
    bad.write_bytes(b"garbage")
    out = _tracklog("doctor", "--store", str(store))
    assert out.returncode == 1 and "PROBLEM" in out.stdout and "bad.parquet" in out.stdout


def test_a_foreign_parquet_file_breaks_no_reader(tmp_path) -> None:
    """A valid Parquet file that is not a segment: the Python API and a real server (its start-up
    and its search) answer for the valid data, and doctor names the file and exits 1."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    import requests

    from tests.server.conftest import ServerProcess

    store = tmp_path / "s"
    assert _tracklog("demo", "--store", str(store), "--runs", "2", "--steps", "5").returncode == 0
    folder = store / "events/stream=metric/date=2026-01-01"
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"a": [1, 2], "b": ["x", "y"]}), folder / "export.parquet")
    api = subprocess.run([sys.executable, "-W", "default", "-c", (
        f"import tracklog; tracklog.set_tracking_uri({str(store)!r}); "
        "print(len(tracklog.search_runs(search_all_experiments=True)), tracklog.sql('SELECT count(*) FROM runs').fetchall())"
    )], capture_output=True, text=True, timeout=120)
    assert api.returncode == 0, api.stderr
    assert api.stdout.split() == ["2", "[(2,)]"] and "export.parquet is not a tracklog metric segment" in api.stderr
    server = ServerProcess(str(store), None, tmp_path / "server.log")
    try:
        exps = requests.get(server.url + "/api/2.0/mlflow/experiments/get-by-name", params={"experiment_name": "demo"},
                            timeout=30).json()
        runs = requests.post(server.url + "/api/2.0/mlflow/runs/search",
                             json={"experiment_ids": [exps["experiment"]["experiment_id"]]}, timeout=30).json()
        assert len(runs["runs"]) == 2
    finally:
        server.stop()
    out = _tracklog("doctor", "--store", str(store))
    assert out.returncode == 1 and "PROBLEM" in out.stdout
    assert f"{folder}/export.parquet is not a tracklog metric segment" in out.stdout


def test_doctor_notices_a_catalog_that_disagrees_with_the_log_and_rebuilds_it(tmp_path) -> None:
    """The catalog is a cache: rows deleted from it, events added to it or a folded table edited
    in place are reported, the catalog is rebuilt from the log, and the answers are right again."""
    import duckdb

    store = tmp_path / "s"
    assert _tracklog("demo", "--store", str(store), "--runs", "3", "--steps", "5").returncode == 0
    clean = _tracklog("doctor", "--store", str(store))
    assert clean.returncode == 0 and "catalog      agrees with the log" in clean.stdout
    damage = ["DELETE FROM metric_points WHERE step = 2",
              "INSERT INTO control (kind, ts, writer_id, writer_seq, run_id, experiment_id) "
              "VALUES ('RunStarted', 1, 'forged', 0, 'forged-run', '0')",
              "UPDATE runs SET status = 'FAILED'"]
    for statement in damage:
        con = duckdb.connect(str(store / "_cache" / "catalog.duckdb"))
        con.execute(statement)
        con.close()
        out = _tracklog("doctor", "--store", str(store))
        assert out.returncode == 1, out.stdout
        assert "PROBLEM      the catalog" in out.stdout and "catalog      rebuilt from the log" in out.stdout
        assert _tracklog("doctor", "--store", str(store)).returncode == 0
    listing = _tracklog("runs", "list", "--store", str(store)).stdout
    assert listing.count("FINISHED") == 3 and "forged" not in listing
    kept = _tracklog("doctor", "--store", str(store), "--no-repair")
    assert kept.returncode == 0
