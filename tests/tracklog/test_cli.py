"""The command line: real commands, one-line errors, no tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

import tracklog
from tracklog.cli import cli


def _tracklog(*args: str, cwd=None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tracklog.cli", *args], capture_output=True, text=True, timeout=120,
                          cwd=cwd)


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
    (tmp_path / "s").mkdir()
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


READING_COMMANDS = [
    ["runs", "list"], ["runs", "describe", "0123abcd"], ["experiments", "list"], ["sql", "SELECT 1"],
    ["models", "list"], ["models", "versions", "m"], ["models", "history"], ["doctor"], ["compact"],
    ["models", "predict", "-m", "models:/m@champion", "-i", "in.json"], ["models", "serve", "-m", "runs:/0123abcd/model"],
]


@pytest.mark.parametrize("command", READING_COMMANDS, ids=" ".join)
def test_reading_commands_never_create_a_store(tmp_path, command) -> None:
    """A mistyped --store folder is an error naming it, not an empty table over a store made on the spot."""
    missing = tmp_path / "nonexistent" / "deep" / "store"
    out = _tracklog(*command, "--store", str(missing))
    assert out.returncode == 1, out.stdout
    assert out.stderr.startswith(f"error: no tracklog store at {missing}: the folder does not exist")
    assert "Traceback" not in out.stderr and out.stdout == ""
    assert not (tmp_path / "nonexistent").exists()


def test_writing_commands_create_the_store(tmp_path) -> None:
    store = tmp_path / "new" / "store"
    assert _tracklog("experiments", "create", "first", "--store", str(store)).returncode == 0
    assert "first" in _tracklog("experiments", "list", "--store", str(store)).stdout


@pytest.mark.parametrize(("uri", "suggestion"), [
    ("s3:/bucket/x", "did you mean s3://bucket/x?"),
    ("s3//bucket/x", "did you mean s3://bucket/x?"),
    ("memroy://x", "did you mean memory://x?"),
    ("memory:x", "did you mean memory://x?"),
    ("htp://localhost:5000", "did you mean http://localhost:5000?"),
])
def test_a_mistyped_store_uri_is_refused_with_a_suggestion(tmp_path, uri, suggestion) -> None:
    for command in (["runs", "list"], ["experiments", "create", "x"]):
        out = _tracklog(*command, "--store", uri, cwd=tmp_path)
        assert out.returncode == 1 and suggestion in out.stderr, out.stderr
        assert "tracklog[s3]" not in out.stderr and "Traceback" not in out.stderr
    assert list(tmp_path.iterdir()) == []  # no folder named "s3:" or "s3" made in the current directory


def test_the_demo_is_idempotent_and_its_curves_are_plausible(tmp_path) -> None:
    """Accuracy stays within [0, 1], losses stay positive; a second demo trains no run twice."""
    store = str(tmp_path / "s")
    first = _tracklog("demo", "--store", store, "--runs", "3", "--steps", "300")
    assert first.returncode == 0 and "logged 1,800 metric points in 3 runs" in first.stdout, first.stderr
    second = _tracklog("demo", "--store", store, "--runs", "3", "--steps", "300")
    assert second.returncode == 0 and "the 3 demo runs are already in" in second.stdout
    assert second.stdout.split("\n", 2)[2] == first.stdout.split("\n", 2)[2]  # the same runs table
    (runs, acc_low, acc_high, loss_low), = tracklog.sql(
        "SELECT count(DISTINCT run_id), min(value) FILTER (key = 'acc'), max(value) FILTER (key = 'acc'), "
        "min(value) FILTER (key = 'loss') FROM metrics", uri=store).arrow().to_pylist()[0].values(),
    assert runs == 3 and 0 <= acc_low < acc_high <= 1 and loss_low > 0


def _commands(group: click.Command, path: tuple[str, ...] = ()):
    yield path, group
    for name, command in getattr(group, "commands", {}).items():
        yield from _commands(command, (*path, name))


@pytest.mark.parametrize(("path", "command"), [pytest.param(p, c, id=" ".join(("tracklog", *p))) for p, c in _commands(cli)])
def test_every_command_and_option_says_what_it_does(path, command) -> None:
    """`--help` of every command has a description, every option a help text, and a group's list of
    commands shows each one's first sentence whole (not cut off with "...")."""
    out = CliRunner().invoke(cli, [*path, "--help"], terminal_width=100)
    assert out.exit_code == 0, out.output
    assert command.help and " ".join(command.help.split("\n\n")[0].split()) in " ".join(out.output.split())
    undocumented = [p.name for p in command.params if isinstance(p, click.Option) and not p.help and not p.hidden]
    assert not undocumented, f"tracklog {' '.join(path)}: options without help: {undocumented}"
    if isinstance(command, click.Group):
        listing = out.output.split("Commands:", 1)[1]
        assert "..." not in listing, listing
        for name in command.commands:
            assert f"  {name} " in listing


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
              "UPDATE run_rows SET status = 'FAILED'"]
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
