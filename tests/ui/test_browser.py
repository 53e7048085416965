"""The web UI in a real browser: Playwright's test runner (``ui/tests/*.spec.ts``) drives
Debian's chromium against a live ``tracklog ui`` over a seeded store (`tests.ui.seed`).

Needs ``make setup`` (it installs ``ui/node_modules`` and builds ``ui/dist``) and ``/usr/bin/chromium``
(``.ci/run`` installs it); without them the test is skipped and says why. Screenshots of every
page go to a temporary folder; ``TRACKLOG_UI_SCREENSHOTS=ui/screenshots`` refreshes the
committed ones (``cd ui && npm test`` does too).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import _free_port

ROOT = Path(__file__).resolve().parents[2]
UI = ROOT / "ui"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


def _missing() -> str | None:
    if not (UI / "node_modules" / "@playwright" / "test").is_dir():
        return "ui/node_modules is missing: run `make setup` (npm ci in ui/)"
    if not (UI / "dist" / "index.html").is_file():
        return "ui/dist is missing: run `make setup` (npm run build in ui/)"
    if not os.access(CHROMIUM, os.X_OK):
        return f"no chromium at {CHROMIUM}: apt-get install -y chromium (.ci/run does)"
    if shutil.which("node") is None:
        return "node is not on PATH"
    return None


@pytest.fixture(scope="module")
def ui_server(tmp_path_factory):
    """`tracklog ui` on a free port over a freshly seeded store; yields (url, seed summary)."""
    reason = _missing()
    if reason:
        pytest.skip(reason)
    tmp = tmp_path_factory.mktemp("ui-browser")
    env = {**os.environ, "TRACKLOG_CACHE_DIR": str(tmp / "cache")}
    seeded = subprocess.run([sys.executable, "-m", "tests.ui.seed", str(tmp / "store")], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=180, check=True)
    seed = json.loads(seeded.stdout.strip().splitlines()[-1])
    port = _free_port()
    log = open(tmp / "server.log", "w")  # noqa: SIM115 - closed below, after the server stops
    server = subprocess.Popen([sys.executable, "-m", "tracklog.cli", "ui", "--store", str(tmp / "store"),
                               "--host", "127.0.0.1", "--port", str(port), "--no-browser", "--no-access-log"],
                              cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(url + "health", timeout=2).ok:
                break
        except requests.ConnectionError:
            time.sleep(0.2)
        if server.poll() is not None:
            break
    else:
        server.kill()
    if server.poll() is not None:
        log.close()
        pytest.fail(f"tracklog ui did not start:\n{(tmp / 'server.log').read_text()[-4000:]}")
    yield url, seed
    server.terminate()
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()
    log.close()


def test_pages_in_chromium(ui_server, tmp_path):
    """Every page loads without console errors; searching (and a bad filter's error), sorting,
    choosing columns, grouping, opening a run, editing tags, previewing artifacts, drawing and
    zooming a chart, comparing runs, moving an alias, running SQL and time travel all work."""
    url, seed = ui_server
    env = {**os.environ, "TRACKLOG_UI_URL": url, "TRACKLOG_UI_SEED": json.dumps(seed), "CHROMIUM": CHROMIUM,
           "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD": "1", "CI": "1",
           "TRACKLOG_UI_SCREENSHOTS": os.environ.get("TRACKLOG_UI_SCREENSHOTS") or str(tmp_path / "screenshots")}
    result = subprocess.run(["node", "node_modules/@playwright/test/cli.js", "test"], cwd=UI, env=env,
                            capture_output=True, text=True, timeout=280)
    assert result.returncode == 0, f"playwright failed:\n{result.stdout[-12000:]}\n{result.stderr[-4000:]}"
