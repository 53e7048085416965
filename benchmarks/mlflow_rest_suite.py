"""MLflow's own REST test file, test bodies untouched, against a fresh ``tracklog server`` per test.

MLflow's ``tests/tracking/test_rest_tracking.py`` is fetched at run time into a temporary folder
(never into this repository): from ``--source`` (a file, or a git directory to ``git show`` it
from, e.g. a local clone or mirror of MLflow's repository), else ``$MLFLOW_REST_SUITE_SOURCE``,
else GitHub at the tag of the installed MLflow. Next to it the harness writes
a ``conftest.py`` that swaps the file's server fixtures (``mlflow_client``,
``mlflow_client_with_secrets``, ``store_type``) for ones that start ``python -m tracklog.cli
server`` on a fresh store and a free port, and small stand-ins of the helper modules it imports
from MLflow's test tree (``tests.helper_functions`` …), written here, not copied. Then it runs
pytest on it and prints the pass/fail counts and the failing tests, grouped.

    python -m benchmarks.mlflow_rest_suite                 # all of it (~10 minutes on 2 cores)
    python -m benchmarks.mlflow_rest_suite -k graphql      # a selection
    python -m benchmarks.mlflow_rest_suite --source ~/src/mlflow --json out.json

The exit status is 0 when pytest ran (whatever the counts), 2 when the file could not be had.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import textwrap
import urllib.request
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEST_PATH = "tests/tracking/test_rest_tracking.py"

# Which part of MLflow a failing test is about, by the first pattern its name matches.
GROUPS: list[tuple[str, str]] = [
    ("tracing (issue #18 part 3, branch `tracing`)", r"trace|span|otel|assessment|feedback|expectation"),
    ("evaluation datasets (not supported)", r"evaluation_dataset|dataset_to_experiments|remove_dataset|"
                                            r"add_multiple_experiments|dataset_experiment_association|"
                                            r"idempotent_(add|remove)|client_api_add_remove|dataset_records"),
    ("AI gateway and secrets (not supported)", r"gateway|secret|endpoint|model_definition|budget|routing|fallback"),
    ("scorers and online scoring (not supported)", r"scor"),
    ("issues, prompts, prompt lab, jobs, webhooks (not supported)", r"issue|prompt|job|webhook|label"),
    ("MLflow's web endpoints", r"graphql|upload_artifact|search_dataset|ajax"),
    ("MLflow server internals (not a server test)", r"optimized_impl|validation_regex|sampled_steps"),
    ("core tracking and registry", r"."),
]

HELPER_FUNCTIONS = '''
import socket


def get_safe_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
'''

INTEGRATION_UTILS = '''
from click.testing import CliRunner


def invoke_cli_runner(command, args, env=None, catch_exceptions=False, **kwargs):
    result = CliRunner().invoke(command, args, env=env, catch_exceptions=catch_exceptions, **kwargs)
    assert result.exit_code == 0, f"{args} exited {result.exit_code}: {result.output}"
    return result
'''

INTEGRATION_TEST_UTILS = '''
"""Stand-ins for MLflow's server helpers: every server they start is a tracklog server."""
import contextlib

import requests

from tests.helper_functions import get_safe_port  # noqa: F401 - re-exported as MLflow's module does
from tests.tracklog_server import TracklogServer


@contextlib.contextmanager
def _init_server(backend_uri=None, root_artifact_uri=None, extra_env=None, server_type=None, **_):
    with TracklogServer(extra_env=extra_env) as url:
        yield url


class ServerThread:
    """MLflow runs its own app in a thread here; we start a tracklog server instead."""

    def __init__(self, app=None, port=None):
        self._server = TracklogServer()

    def __enter__(self):
        return self._server.__enter__()

    def __exit__(self, *exc):
        return self._server.__exit__(*exc)


def _send_rest_tracking_post_request(tracking_server_uri, api_path, json_payload, auth=None):
    return requests.post(tracking_server_uri.rstrip("/") + api_path, json=json_payload, auth=auth, timeout=60)
'''

TRACKLOG_SERVER = '''
"""A `tracklog server` subprocess on a fresh store and a free loopback port."""
import os
import shutil
import subprocess
import sys
import tempfile
import time

import requests

from tests.helper_functions import get_safe_port


class TracklogServer:
    def __init__(self, extra_env=None, extra_args=()):
        self.extra_env = dict(extra_env or {})
        self.extra_args = list(extra_args)

    def __enter__(self):
        self.dir = tempfile.mkdtemp(prefix="tracklog-suite-")
        port = get_safe_port()
        self.url = f"http://127.0.0.1:{port}"
        env = {**os.environ, **self.extra_env,
               "PYTHONPATH": os.environ["TRACKLOG_SUITE_ROOT"] + os.pathsep + os.environ.get("PYTHONPATH", "")}
        self.log = open(os.path.join(self.dir, "server.log"), "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tracklog.cli", "server", "--store", os.path.join(self.dir, "store"),
             "--port", str(port), "--log-level", "warning", "--no-access-log", *self.extra_args],
            stdout=self.log, stderr=subprocess.STDOUT, env=env)  # in the test's folder, as MLflow's server thread
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                if requests.get(self.url + "/health", timeout=1).ok:
                    return self.url
            except requests.ConnectionError:
                time.sleep(0.1)
        self.__exit__(None, None, None)
        raise RuntimeError("tracklog server did not start")

    def __exit__(self, *exc):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)
'''

CONFTEST = '''
"""Points MLflow's REST test file at tracklog: its server fixtures are replaced (the test module's
own fixtures would win over a conftest's, so they are swapped on the module once it is imported)."""
import importlib.util

import pytest

import mlflow
import mlflow.tracking.fluent
import mlflow.utils.providers
from mlflow import MlflowClient
from tests.tracklog_server import TracklogServer

# A name the file imports that newer MLflow releases dropped (it only gates LiteLLM gateway tests).
if not hasattr(mlflow.utils.providers, "_PROVIDER_BACKEND_AVAILABLE"):
    mlflow.utils.providers._PROVIDER_BACKEND_AVAILABLE = importlib.util.find_spec("litellm") is not None


@pytest.fixture(params=["sqlalchemy"])  # one store: the tests a file store skips run too
def store_type(request):
    return request.param


def _server(tmp_path):
    """As MLflow's fixture configures its server: artifacts under the test's folder, not proxied."""
    return TracklogServer(extra_args=["--default-artifact-root", tmp_path.as_uri(), "--no-serve-artifacts"])


@pytest.fixture
def mlflow_client(tmp_path, monkeypatch):
    with _server(tmp_path) as url:
        yield MlflowClient(url)


@pytest.fixture
def mlflow_client_with_secrets(tmp_path, monkeypatch):
    with _server(tmp_path) as url:
        yield MlflowClient(url)


@pytest.fixture
def db_uri(tmp_path):
    return f"sqlite:///{tmp_path}/mlflow.db"


@pytest.fixture(autouse=True)
def _isolated_mlflow_state(monkeypatch, tmp_path):
    """What MLflow's own conftest does for each test: no retries, no leftover run or URI."""
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "60")
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    monkeypatch.setenv("DO_NOT_TRACK", "true")
    # The file is MLflow 3.11's, whose client logged traces to an OSS server synchronously; newer
    # clients export them from a background thread by default, so a get_trace() right after a
    # span ends would race the export. Ask the newer client for the 3.11 behaviour the file assumes.
    monkeypatch.setenv("MLFLOW_ENABLE_ASYNC_TRACE_LOGGING", "false")
    for name in ("MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_RUN_ID", "MLFLOW_TRACKING_URI"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(mlflow.tracking.fluent, "_active_experiment_id", None)  # an id of an earlier test's server
    monkeypatch.chdir(tmp_path)
    yield
    while mlflow.active_run() is not None:
        mlflow.end_run()
    mlflow.set_tracking_uri(None)
    mlflow.set_registry_uri(None)


_OVERRIDES = {"store_type": store_type, "mlflow_client": mlflow_client,
              "mlflow_client_with_secrets": mlflow_client_with_secrets}


def pytest_pycollect_makemodule(module_path, parent):
    if module_path.name != "test_rest_tracking.py":
        return None

    class Swapped(pytest.Module):
        def _getobj(self):
            module = super()._getobj()
            for name, fixture in _OVERRIDES.items():
                setattr(module, name, fixture)
            return module

    return Swapped.from_parent(parent, path=module_path)


def pytest_configure(config):
    for marker in ("allow_infer_pip_requirements_fallback", "asyncio", "notrackingurimock", "no_mock_requests_get"):
        config.addinivalue_line("markers", marker)
'''


def _from_git(gitdir: str, rev: str) -> str | None:
    result = subprocess.run(["git", "-C", gitdir, "show", f"{rev}:{TEST_PATH}"], capture_output=True, text=True)
    return result.stdout if result.returncode == 0 else None


def fetch_test_file(source: str | None) -> tuple[str, str]:
    """The file's text and where it came from."""
    import mlflow

    tag = f"v{mlflow.__version__}"
    if source and os.path.isfile(source):
        return Path(source).read_text(), source
    gitdirs = [source] if source else []
    for gitdir in gitdirs:
        for rev in (tag, "HEAD"):
            text = _from_git(gitdir, rev)
            if text:
                return text, f"{gitdir} at {rev}"
    url = f"https://raw.githubusercontent.com/mlflow/mlflow/{tag}/{TEST_PATH}"
    with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310 - a fixed https URL
        return response.read().decode(), url


def write_suite(folder: Path, text: str) -> Path:
    files = {
        "tests/__init__.py": "",
        "tests/helper_functions.py": HELPER_FUNCTIONS,
        "tests/tracklog_server.py": TRACKLOG_SERVER,
        "tests/integration/__init__.py": "",
        "tests/integration/utils.py": INTEGRATION_UTILS,
        "tests/tracking/__init__.py": "",
        "tests/tracking/integration_test_utils.py": INTEGRATION_TEST_UTILS,
        "tests/tracking/conftest.py": CONFTEST,
        TEST_PATH: text,
    }
    for name, content in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(textwrap.dedent(content).lstrip())
    (folder / "pytest.ini").write_text("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    return folder / TEST_PATH


def group_of(name: str) -> str:
    return next(group for group, pattern in GROUPS if re.search(pattern, name, re.I))


def read_results(junit: Path) -> dict[str, tuple[str, str]]:
    """test id → (outcome, first line of the failure)."""
    results: dict[str, tuple[str, str]] = {}
    for case in ET.parse(junit).iter("testcase"):
        name = case.get("name", "?")
        outcome, message = "passed", ""
        for child in case:
            if child.tag in ("failure", "error"):
                outcome, message = "failed", next(iter((child.get("message") or "").splitlines()), "")
            elif child.tag == "skipped":
                outcome = "xfailed" if (child.get("type") or "").endswith("xfail") else "skipped"
        results[name] = (outcome, message[:160])
    return results


def report(results: dict[str, tuple[str, str]], verbose: bool) -> dict[str, object]:
    counts: dict[str, int] = defaultdict(int)
    failing: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for name, (outcome, message) in sorted(results.items()):
        counts[outcome] += 1
        if outcome == "failed":
            failing[group_of(name)].append((name, message))
    total = len(results)
    print(f"\nMLflow's test_rest_tracking.py against tracklog server: {counts['passed']} of {total} pass "
          f"({counts['failed']} fail, {counts['skipped']} skipped, {counts['xfailed']} xfail)")
    for group, _ in GROUPS:
        if failing.get(group):
            print(f"\n{group}: {len(failing[group])}")
            for name, message in failing[group]:
                print(f"  {name}" + (f"  — {message}" if verbose and message else ""))
    return {"total": total, **counts, "failing": failing}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", default=os.environ.get("MLFLOW_REST_SUITE_SOURCE"),
                        help="the test file, or a git directory of MLflow's repository")
    parser.add_argument("-k", default=None, help="pytest's -k selection")
    parser.add_argument("--timeout", type=int, default=120, help="seconds per test (pytest-timeout)")
    parser.add_argument("--json", default=None, help="also write the results here")
    parser.add_argument("--messages", action="store_true", help="print each failure's first line")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (its path is printed)")
    args = parser.parse_args(argv)
    try:
        text, origin = fetch_test_file(args.source)
    except OSError as exc:
        print(f"could not get MLflow's {TEST_PATH}: {exc}; pass --source", file=sys.stderr)
        return 2
    folder = Path(tempfile.mkdtemp(prefix="mlflow-rest-suite-"))
    test_file = write_suite(folder, text)
    print(f"{TEST_PATH} from {origin}, in {folder}", file=sys.stderr)
    junit = folder / "junit.xml"
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(folder),
               "-c", str(folder / "pytest.ini"), f"--timeout={args.timeout}", f"--junitxml={junit}",
               "-o", "junit_family=xunit1", str(test_file)]
    if args.k:
        command += ["-k", args.k]
    env = {**os.environ, "TRACKLOG_SUITE_ROOT": str(ROOT), "PYTHONPATH": str(folder)}
    subprocess.run(command, cwd=folder, env=env, stdout=sys.stderr)
    results = read_results(junit) if junit.exists() else {}
    summary = report(results, args.messages)
    if args.json:
        Path(args.json).write_text(json.dumps({"source": origin, **summary}, indent=2, default=list))
    if not args.keep:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)
    else:
        print(f"kept {folder}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
