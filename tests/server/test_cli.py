"""`tracklog server` and `tracklog ui`: what they say at start, what they bind, the UI they serve."""

from __future__ import annotations

import json
import subprocess
import sys

import requests
from click.testing import CliRunner

from tracklog.cli import cli
from tracklog.server.cli import parse_size


def test_help_lists_the_options() -> None:
    out = CliRunner().invoke(cli, ["server", "--help"]).output
    for option in ("--store", "--artifacts-destination", "--host", "--port", "--auth", "--max-body-size"):
        assert option in out
    assert "--no-browser" in CliRunner().invoke(cli, ["ui", "--help"]).output


def test_sizes() -> None:
    assert parse_size("16MiB") == 16 << 20 and parse_size("2 GB") == 2_000_000_000 and parse_size("none") is None


def test_without_auth_it_binds_loopback_and_says_so(server) -> None:
    assert "only this machine may connect (127.0.0.1)" in server.log()


def test_ui_serves_the_built_assets(start_server, tmp_path) -> None:
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text("<title>tracklog ui</title>")
    (dist / "assets" / "app.js").write_text("console.log(1)")
    server = start_server(None, "", "--no-browser", command="ui", env={"TRACKLOG_UI_DIR": str(dist)})
    assert "tracklog ui" in requests.get(server.url + "/", timeout=5).text
    assert requests.get(server.url + "/assets/app.js", timeout=5).text == "console.log(1)"
    assert requests.get(server.url + "/api/2.0/mlflow/experiments/get", params={"experiment_id": "0"},
                        timeout=5).json()["experiment"]["name"] == "Default"


def test_without_a_build_the_page_says_how_to_build_it(start_server, tmp_path) -> None:
    server = start_server(env={"TRACKLOG_UI_DIR": str(tmp_path / "nowhere")})
    page = requests.get(server.url + "/", timeout=5)
    assert page.status_code == 200 and "npm run build" in page.text
    assert requests.get(server.url + "/no-such-page", timeout=5).status_code == 404


def _tracklog(*args: str, cwd=None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tracklog.cli", *args], capture_output=True, text=True, timeout=120,
                          cwd=cwd)


def test_every_data_command_works_against_a_server(server, tmp_path) -> None:
    """--store http://… reaches the server for every command that reads or writes tracking data;
    compact and doctor, which work on the store's files, say so."""
    url = server.url

    def ok(*args: str) -> str:
        out = _tracklog(*args, "--store", url)
        assert out.returncode == 0, f"tracklog {' '.join(args)}: {out.stderr}"
        return out.stdout

    assert "logged 40 metric points in 2 runs" in ok("demo", "--runs", "2", "--steps", "10")
    listing = ok("runs", "list").splitlines()
    assert len(listing) == 4 and {line.split()[1] for line in listing[2:]} == {"demo-0", "demo-1"}
    run_id = listing[2].split()[0]
    assert json.loads(ok("runs", "describe", run_id))["info"]["run_id"] == run_id
    ok("runs", "delete", run_id)
    assert run_id in ok("runs", "list", "--view", "deleted")
    ok("runs", "restore", run_id)
    experiment_id = ok("experiments", "create", "made-by-cli").strip()
    ok("experiments", "rename", experiment_id, "renamed-by-cli")
    ok("experiments", "delete", experiment_id)
    assert "renamed-by-cli" in ok("experiments", "list", "--view", "deleted")
    ok("experiments", "restore", experiment_id)
    assert "(1 rows)" in ok("sql", "SELECT count(*) FROM runs WHERE run_name = 'demo-0'")
    model = tmp_path / "model"
    model.mkdir()
    (model / "MLmodel").write_text("flavors: {}\n")
    assert "registered cli-model version 1" in ok("models", "register", "-m", str(model), "--name", "cli-model")
    ok("models", "alias", "cli-model", "champion", "1")
    assert "champion" in ok("models", "versions", "cli-model") and "champion->1" in ok("models", "list")
    assert "ModelAliasSet" in ok("models", "history", "cli-model")
    assert requests.get(url + "/api/2.0/mlflow/runs/get", params={"run_id": run_id}, timeout=5).ok  # it all went there
    for command in ("compact", "doctor"):
        out = _tracklog(command, "--store", url)
        assert out.returncode == 1 and f"`tracklog {command}` works on the store's files, not through a tracking server" in out.stderr


def test_a_server_cannot_serve_a_server(tmp_path) -> None:
    out = _tracklog("server", "--store", "http://127.0.0.1:1", "--port", "1")
    assert out.returncode == 1 and "is itself a tracking server" in out.stderr and "Traceback" not in out.stderr


def test_sql_through_a_server_exits_cleanly(server) -> None:
    """The answer's Parquet is read on the calling thread: read through Arrow's dataset scanner, its
    buffer was released on an Arrow thread after interpreter exit began, and most runs of
    `tracklog sql --store http://…` printed the answer and then died with SIGABRT."""
    script = ("import sys, tracklog; r = tracklog.sql('SELECT 41 + 1 AS answer', uri=sys.argv[1]); "
              "print(r.arrow().column('answer')[0].as_py())")
    for _ in range(6):
        out = subprocess.run([sys.executable, "-c", script, server.url], capture_output=True, text=True, timeout=120)
        assert (out.returncode, out.stdout.strip(), out.stderr) == (0, "42", "")
