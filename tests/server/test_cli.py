"""`tracklog server` and `tracklog ui`: what they say at start, what they bind, the UI they serve."""

from __future__ import annotations

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
