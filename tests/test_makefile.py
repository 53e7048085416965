"""The Makefile's entry points as a newcomer meets them: `make setup` says nothing when all goes
well, and Ctrl-C stops `make ui` without make reporting an error."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import _free_port

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")

# as from a shell: not a sub-make of `make test` (which would print "Entering directory")
_OWN_ENV = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES")}

FAKE_TOOL = """#!/bin/sh
echo "$(basename "$0") $*" >> "$TOOL_LOG"
if [ "$1" = "-m" ] && [ "$2" = "venv" ]; then mkdir -p "$3/bin" && cp "$0" "$3/bin/python"; fi
"""


def test_setup_prints_nothing_of_its_own(tmp_path) -> None:
    """Every step of `make setup` runs (forced), with pip and npm replaced by silent stand-ins: what is
    left is make's own output, which must be nothing (no echoed commands)."""
    tools = tmp_path / "tools"
    tools.mkdir()
    for name in ("python", "npm"):
        (tools / name).write_text(FAKE_TOOL)
        (tools / name).chmod(0o755)
    env = {**_OWN_ENV, "PATH": f"{tools}:{os.environ['PATH']}", "TOOL_LOG": str(tmp_path / "calls.log")}
    out = subprocess.run(["make", "--always-make", "setup", f"VENV={tmp_path / 'venv'}", f"PY={tools / 'python'}"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "" and out.stderr == ""
    calls = (tmp_path / "calls.log").read_text()
    assert "python -m pip install -q -r requirements-dev.lock" in calls and "npm ci" in calls and "npm run --silent build" in calls
    assert list((tmp_path / "venv").glob(".installed-*"))


@pytest.mark.skipif(not (BIN / "tracklog").exists(), reason="the tracklog script is not installed beside this python")
def test_ctrl_c_stops_make_ui_without_a_make_error(tmp_path) -> None:
    """Ctrl-C reaches make and the server (one process group); the server stops, even with a page's
    live event stream open, and make does not print "make: *** [ui] Error" or "Interrupt" about it."""
    port = _free_port()
    proc = subprocess.Popen(["make", "-o", "setup", "ui", f"BIN={BIN}", f"PORT={port}", f"DEMO_STORE={tmp_path / 'store'}"],
                            cwd=ROOT, env=_OWN_ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                if requests.get(f"http://127.0.0.1:{port}/health", timeout=1).ok:
                    break
            except requests.ConnectionError:
                time.sleep(0.2)
        assert proc.poll() is None, proc.communicate()[0]
        streaming = threading.Event()
        threading.Thread(target=_watch_events, args=(port, streaming), daemon=True).start()  # an open UI tab
        assert streaming.wait(30)
        os.killpg(proc.pid, signal.SIGINT)  # what the terminal does on Ctrl-C
        output, _ = proc.communicate(timeout=20)  # a liveness bound: the stream must not hold the stop up
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert "demo-4" in output and "Uvicorn running" in output  # the demo ran, then the server
    assert "make: ***" not in output and "Traceback" not in output, output
    assert proc.returncode in (0, -signal.SIGINT, 130)  # make ends as interrupted, or cleanly


def _watch_events(port: int, streaming: threading.Event) -> None:
    try:
        with requests.get(f"http://127.0.0.1:{port}/api/2.0/tracklog/events", stream=True, timeout=60) as resp:
            for _ in resp.iter_lines():
                streaming.set()
    except requests.RequestException:
        pass  # the server ended the stream as it stopped
