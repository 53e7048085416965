"""The default store: a folder no `import` can find, and the old default still read, with a notice."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import tracklog
from tracklog._config import DEFAULT_TRACKING_URI, LEGACY_TRACKING_URI, settings

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent("""
    import tracklog
    print(tracklog.get_tracking_uri())
    with tracklog.start_run(run_name="again"):
        tracklog.log_metric("m", 1.0)
    print(sorted(r.info.run_name for r in tracklog.search_runs(output_format="list")))
""")


def _python(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("TRACKLOG_TRACKING_URI", "MLFLOW_TRACKING_URI")}
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_the_default_store_cannot_shadow_a_module() -> None:
    """A folder beside a script whose name is an identifier is found by `import <name>` (as a namespace
    package); the default's hyphen rules that out, and it is not MLflow's ./mlruns either."""
    name = os.path.basename(DEFAULT_TRACKING_URI)
    assert not name.isidentifier() and name != "mlruns"


def test_the_package_folder_of_a_checkout_is_never_taken_for_a_store(monkeypatch) -> None:
    monkeypatch.chdir(ROOT)  # holds tracklog/, the package
    monkeypatch.delenv("TRACKLOG_TRACKING_URI", raising=False)
    settings.tracking_uri = None
    assert tracklog.get_tracking_uri() == str(ROOT / "tracklog-runs")


def test_a_store_at_the_old_default_keeps_working_with_a_notice(tmp_path) -> None:
    """A ./tracklog store made before the default moved is still the default store, with a notice on
    stderr that says why to move it and how; scripts run beside it still import the package."""
    old = tmp_path / "tracklog"
    tracklog.Client(str(old)).create_experiment("from-before")
    (tmp_path / "train.py").write_text(SCRIPT)
    for _ in range(2):
        out = _python(tmp_path, "train.py")
        assert out.returncode == 0, out.stderr
        assert out.stdout.splitlines()[0] == str(old)
        assert out.stderr.count("tracklog: notice: using the store in") == 1
        assert f"mv {LEGACY_TRACKING_URI} {DEFAULT_TRACKING_URI}" in out.stderr and "import tracklog" in out.stderr
    assert out.stdout.splitlines()[1] == "['again', 'again']"
    listed = _python(tmp_path, "-m", "tracklog.cli", "experiments", "list")
    assert listed.returncode == 0 and "from-before" in listed.stdout and "notice" in listed.stderr
    old.rename(tmp_path / "tracklog-runs")  # moved as the notice says: no notice, same runs
    out = _python(tmp_path, "train.py")
    assert out.returncode == 0 and out.stderr == "" and out.stdout.splitlines()[1] == "['again', 'again', 'again']"
