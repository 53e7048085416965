"""``tracklog server`` and ``tracklog ui``: run the tracking server.

    tracklog server --store s3://bucket/tracklog --artifacts-destination s3://bucket/artifacts \\
                    --host 0.0.0.0 --port 5000 --auth basic
    tracklog ui [--store ./tracklog-runs]  the same on 127.0.0.1 with local defaults, opening the UI
"""

from __future__ import annotations

import ipaddress
import os
import sys
import threading
import webbrowser
from typing import Any

import click

from eventlog import InvalidInputError, UnsupportedStoreError
from eventlog.log import parse_size as eventlog_parse_size
from eventlog.storage import split_uri
from tracklog._config import get_tracking_uri
from tracklog.server.app import serve
from tracklog.server.auth import Auth

__all__ = ["server_command", "ui_command"]

def parse_size(text: str | None) -> int | None:
    """``16MB`` → 16000000, ``1GiB`` → 1073741824; ``none``/``unlimited`` → None."""
    if text is None or text.strip().lower() in ("none", "unlimited", "0"):
        return None
    try:
        return eventlog_parse_size(text, where="size")
    except InvalidInputError:
        raise click.BadParameter(f"expected a size such as 16MB or 1GiB, got {text!r}") from None


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _options(f: Any) -> Any:
    options = [
        click.option("--store", "store", envvar="TRACKLOG_TRACKING_URI", default=None, metavar="URI",
                     help="The store to serve: a folder, file://…, s3://…, memory://… (default: TRACKLOG_TRACKING_URI, "
                          "else ./tracklog-runs); created if it does not exist."),
        click.option("--artifacts-destination", default=None, metavar="URI",
                     help="Where proxied artifacts live (default: the store's artifacts/ folder)."),
        click.option("--allowed-artifact-root", "allowed_artifact_roots", multiple=True, metavar="URI",
                     help="Another location callers may keep experiments' artifacts at (repeatable); the "
                          "destination and the store's artifacts/ folder always are."),
        click.option("--default-artifact-root", default=None, metavar="URI",
                     help="Where new experiments keep artifacts (default: the destination, shown to clients as "
                          "mlflow-artifacts:/); another location is shown as it is and allowed."),
        click.option("--serve-artifacts/--no-serve-artifacts", default=True, show_default=True,
                     help="Proxy artifacts (mlflow-artifacts:/ URIs); without, clients read and write the real "
                          "artifact locations themselves."),
        click.option("--port", "-p", default=5000, show_default=True, type=int, help="Port to listen on."),
        click.option("--auth", type=click.Choice(["none", "basic"]), default="none", show_default=True,
                     help="basic: users, passwords, API tokens and per-experiment/model permissions."),
        click.option("--auth-db", default=None, metavar="PATH",
                     help="The users and permissions database (SQLite; default: next to the store, or under "
                          "~/.cache/tracklog for a remote store)."),
        click.option("--default-permission", type=click.Choice(["NO_PERMISSIONS", "READ", "EDIT", "MANAGE"]),
                     default="READ", show_default=True, help="What a user may do where nobody granted more."),
        click.option("--max-failed-logins", default=10, show_default=True, type=click.IntRange(0),
                     help="Failed sign-ins per username and client address in 5 minutes before 429 (0: no limit)."),
        click.option("--max-body-size", default="16MiB", show_default=True, help="Largest JSON request body."),
        click.option("--max-upload-size", default="none", show_default=True, help="Largest artifact upload."),
        click.option("--sql-timeout", default=30.0, show_default=True, help="Seconds an SQL query may run."),
        click.option("--sql-max-rows", default=100_000, show_default=True, type=click.IntRange(1),
                     help="The most rows one SQL request answers (JSON, CSV or Parquet)."),
        click.option("--sql-memory-limit", default="256MiB", show_default=True,
                     help="Memory one SQL query may use (DuckDB's memory_limit)."),
        click.option("--sql-temp-limit", default="0", show_default=True,
                     help="Temporary disk one SQL query may spill to (0: none, queries stay in memory)."),
        click.option("--log-level", default="info", show_default=True,
                     type=click.Choice(["critical", "error", "warning", "info", "debug"]), help="uvicorn's log level."),
        click.option("--access-log/--no-access-log", default=True, show_default=True,
                     help="Print a line per request."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def _run(store: str | None, host: str, open_browser: bool, **o: Any) -> None:
    store = store or get_tracking_uri()
    if store.startswith(("http://", "https://")):
        raise UnsupportedStoreError(f"a tracking server serves a store (a folder or bucket), and {store} is itself a "
                                    "tracking server: pass the store's folder or bucket as --store")
    protocol, path = split_uri(store)
    if protocol == "file" and not os.path.exists(path):
        click.echo(f"tracklog server: {path} does not exist: serving a new, empty store there")
    auth = None
    if o["auth"] == "basic":
        auth = Auth.open(o["auth_db"], store, default_permission=o["default_permission"],
                         max_failed_logins=o["max_failed_logins"])
        click.echo(f"tracklog server: basic auth on ({auth.describe()})")
    elif not _loopback(host):
        click.echo(f"tracklog server: WARNING: serving {host} without auth: anyone who can reach port "
                   f"{o['port']} can read and change the store; use --auth basic", err=True)
    else:
        click.echo(f"tracklog server: no auth, so only this machine may connect ({host}); "
                   "--host 0.0.0.0 --auth basic serves others")
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{o['port']}"
    click.echo(f"tracklog server: store {store}, MLflow's API at {url}/api/2.0/mlflow/, UI at {url}/")
    if open_browser:
        threading.Timer(1.5, webbrowser.open, [url]).start()
    serve(store, o["artifacts_destination"], host=host, port=o["port"], log_level=o["log_level"],
          access_log=o["access_log"], auth=auth, max_body=parse_size(o["max_body_size"]) or 16 << 20,
          max_upload=parse_size(o["max_upload_size"]), sql_timeout=o["sql_timeout"], sql_max_rows=o["sql_max_rows"],
          sql_memory_limit=parse_size(o["sql_memory_limit"]) or 256 << 20, sql_temp_limit=parse_size(o["sql_temp_limit"]) or 0,
          allowed_artifact_roots=o["allowed_artifact_roots"], default_artifact_root=o["default_artifact_root"],
          serve_artifacts=o["serve_artifacts"])


@click.command("server")
@_options
@click.option("--host", default="127.0.0.1", show_default=True,
              help="The interface to bind; without auth, keep the loopback default.")
def server_command(store: str | None, host: str, **options: Any) -> None:
    """Serve a store over MLflow's REST API. MLflow's client (and tracklog's) works with its http:// URI."""
    _run(store, host, False, **options)


@click.command("ui")
@_options
@click.option("--host", default="127.0.0.1", show_default=True,
              help="The interface to bind; without auth, keep the loopback default.")
@click.option("--browser/--no-browser", default=None,
              help="Open the UI in a browser once the server is up (default: when there is a display).")
def ui_command(store: str | None, host: str, browser: bool | None, **options: Any) -> None:
    """Serve the web UI (and the tracking server). Local defaults; opens a browser when there is a display."""
    if browser is None:
        browser = sys.platform == "darwin" or os.name == "nt" or bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    _run(store, host, browser, **options)
