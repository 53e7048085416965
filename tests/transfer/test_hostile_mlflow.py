"""Hostile MLflow ``mlruns`` sources for `tracklog import mlflow`: a folder written by MLflow,
then damaged. The import stops with one line naming the file (or the experiment whose files
MLflow could not parse), exit code 1, no traceback; or warns and imports the rest."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.transfer.conftest import mlflow_env

ROOT = Path(__file__).parents[2]
_MAKE = """
import sys
from mlflow import MlflowClient
client = MlflowClient(sys.argv[1])
run = client.create_run(client.create_experiment("hostile"))
client.log_param(run.info.run_id, "p", "1")
for step in range(3):
    client.log_metric(run.info.run_id, "loss", step / 2, step=step)
with open("art.txt", "w") as fh:
    fh.write("art")
client.log_artifact(run.info.run_id, "art.txt")
client.set_terminated(run.info.run_id)
"""


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("mlflow-pristine")
    subprocess.run([sys.executable, "-c", _MAKE, str(folder / "mlruns")], cwd=folder, env=mlflow_env(folder),
                   check=True, capture_output=True, timeout=300)
    return folder / "mlruns"


def _run_folder(mlruns: Path) -> Path:
    return next(p.parent for p in mlruns.glob("*/*/meta.yaml"))


def _set_meta(meta: Path, key: str, value: str) -> None:
    lines = [f"{key}: {value}" if line.startswith(f"{key}:") else line for line in meta.read_text().splitlines()]
    meta.write_text("\n".join(lines) + "\n")


def _append(path: Path, data: bytes) -> None:
    with open(path, "ab") as fh:
        fh.write(data)


def _symlink_run_elsewhere(run: Path) -> None:
    elsewhere = run.parents[2] / "elsewhere"
    run.rename(elsewhere)
    os.symlink(elsewhere, run)


# (case, damage of the run folder, the one line the CLI prints)
CASES = [
    ("run meta.yaml is not YAML", lambda run: (run / "meta.yaml").write_text("{{{: [\n"),
     "error: the MLflow source {src} cannot be read (the runs of experiment {exp}): ParserError: "),
    ("experiment meta.yaml is not YAML", lambda run: (run.parent / "meta.yaml").write_text("name: [unclosed\n"),
     "error: the MLflow source {src} cannot be read (its experiments): ParserError: "),
    ("run meta.yaml of 3 GB", lambda run: os.truncate(run / "meta.yaml", 3 << 30),
     "error: the MLflow folder {src} is not imported: {run}/meta.yaml has 3,221,225,472 bytes, over the 1,048,576"),
    ("a run status of the wrong type", lambda run: _set_meta(run / "meta.yaml", "status", "banana"),
     "error: the MLflow source {src} cannot be read (the runs of experiment {exp}): Exception: Could not get string "
     "corresponding to run status banana"),
    ("a garbage line in a metric file", lambda run: _append(run / "metrics" / "loss", b"not a metric line\n"),
     "error: the MLflow source {src} cannot be read (the runs of experiment {exp}): MlflowException: Metric 'loss' is "
     "malformed"),
    ("bytes that are not UTF-8 in a metric file", lambda run: _append(run / "metrics" / "loss", b"\xff\xfe\n"),
     "error: the MLflow source {src} cannot be read (the runs of experiment {exp}): UnicodeDecodeError: "),
    ("a run folder symlinked elsewhere", _symlink_run_elsewhere,
     "error: the MLflow folder {src} is not imported: {run} is a symlink to "),
    ("an artifact symlinked outside", lambda run: os.symlink("/etc/hostname", run / "artifacts" / "leak"),
     "error: the MLflow folder {src} is not imported: {run}/artifacts/leak is a symlink to /etc/hostname, outside it"),
    ("a FIFO among the artifacts", lambda run: os.mkfifo(run / "artifacts" / "pipe"),
     "error: the MLflow folder {src} is not imported: {run}/artifacts/pipe is not a regular file"),
    ("an artifact location with ..", lambda run: _set_meta(run / "meta.yaml", "artifact_uri",
                                                            f"{run}/artifacts/../../../../../../../../etc"),
     "warning: artifacts of {run_id} not copied: their location {run}/artifacts/../../../../../../../../etc has a '..' "
     "segment"),
]


@pytest.mark.parametrize(("case", "damage", "expected"), CASES, ids=[c[0] for c in CASES])
def test_a_damaged_mlruns_folder(tmp_path, pristine, case, damage, expected):
    import shutil

    mlruns = tmp_path / "mlruns"
    shutil.copytree(pristine, mlruns, symlinks=True)
    run = _run_folder(mlruns)
    exp, run_id = run.parent.name, run.name
    damage(run)
    store = tmp_path / "store"
    done = subprocess.run([sys.executable, "-c", "from tracklog.cli import main; main()", "import", "mlflow",
                           str(mlruns), "--store", str(store)], capture_output=True, text=True, timeout=120,
                          env={**mlflow_env(tmp_path), "PYTHONPATH": str(ROOT)})
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    line = expected.format(src=mlruns, exp=exp, run=run, run_id=run_id)
    assert done.stderr.startswith(line), done.stderr[-3000:]
    if line.startswith("error:"):
        assert done.returncode == 1 and done.stderr.count("\n") == 1 and done.stdout == ""
        assert not list(store.glob("events/stream=control/*/*.parquet")) or "cannot be read" in line
    else:
        assert done.returncode == 0 and "1 run(s)" in done.stdout and "0 artifact file(s)" in done.stdout
