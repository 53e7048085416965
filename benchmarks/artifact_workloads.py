"""Artifact throughput: one large file uploaded to and downloaded from a run, tracklog vs MLflow.

One file of 1 GiB (256 MiB with ``--quick``; seeded pseudo-random bytes, so nothing compresses)
is written once per target, then, in a fresh store, each repeat times:

- *via the client* — ``Client.log_artifact(run_id, file, "r<i>")`` then
  ``Client.download_artifacts(run_id, "r<i>/<file>", dst)`` into an empty folder: tracklog
  streams in 8 MiB chunks, hashes (sha256) on the way and appends an ``ArtifactLogged`` event;
  MLflow (sqlite tracking store, an experiment whose artifact location is a local folder)
  goes through its ``LocalArtifactRepository``;
- *direct* — the artifact layer alone: ``tracklog.artifacts.upload``/``download`` against
  MLflow's ``LocalArtifactRepository.log_artifact``/``download_artifacts`` on a plain folder.

Each timed call starts after ``os.sync()`` (so one copy's write-back is not charged to the next);
the source file is in the page cache for both libraries alike. Repeats: 3 (2 with ``--quick``);
the median is reported as MiB/s. Every copy is checked (size; sha256 against the source on the
first repeat, and tracklog's recorded ``ArtifactLogged`` sha256) outside the timings, and
deleted before the next pair of calls. Both libraries' progress bars are off
(``TRACKLOG_PROGRESS=0``, ``MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR=false``) to keep the
harness's log readable; destination folders are created before the clock starts (MLflow
requires them to exist).
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import statistics
from pathlib import Path
from typing import Any

from benchmarks.stats import clock
from benchmarks.targets import Target
from benchmarks.workloads import Figures, Sizes, Workload

__all__ = ["ARTIFACT_WORKLOADS", "artifact_bytes"]

FULL_BYTES = 1 << 30
QUICK_BYTES = 256 << 20
REPEATS = {False: 3, True: 2}
_BLOCK = 16 << 20
MIB = float(1 << 20)
_QUIET = {"TRACKLOG_PROGRESS": "0", "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}  # both bars off


def artifact_bytes(sizes: Sizes) -> int:
    """1 GiB for the full run, 256 MiB for ``--quick``."""
    return QUICK_BYTES if sizes == Sizes.quick() else FULL_BYTES


def _make_file(path: Path, nbytes: int) -> str:
    """Write `nbytes` of seeded pseudo-random data; returns its sha256."""
    rng = random.Random(4)
    digest = hashlib.sha256()
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        left = nbytes
        while left:
            block = rng.randbytes(min(_BLOCK, left))
            digest.update(block)
            fh.write(block)
            left -= len(block)
    return digest.hexdigest()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_BLOCK):
            digest.update(chunk)
    return digest.hexdigest()


def _timed(fn: Any, *args: Any) -> tuple[float, Any]:
    for arg in args:
        if isinstance(arg, Path) and arg.name.startswith(("dl", "ddl")):
            arg.mkdir()  # MLflow wants the destination to exist; made outside the clock for both
    os.sync()  # the previous copy's dirty pages are written back before the clock starts
    start = clock()
    result = fn(*args)
    return (clock() - start) / 1e9, result


def _check(path: Path, nbytes: int, sha: str | None) -> None:
    if path.stat().st_size != nbytes:
        raise AssertionError(f"{path} has {path.stat().st_size} bytes, expected {nbytes}")
    if sha is not None and _sha256(path) != sha:
        raise AssertionError(f"{path} differs from the uploaded file (sha256)")


class _Ops:
    """The four operations of one target: upload/download via its client and direct."""

    def __init__(self, target: Target, root: Path) -> None:
        self.target = target
        self.root = root
        self.client = target.client()
        if target.library == "mlflow":
            location = (root / "mlartifacts").as_uri()
            self.experiment_id = self.client.create_experiment("artifacts-bench", artifact_location=location)
        else:
            self.experiment_id = self.client.create_experiment("artifacts-bench")
        self.run_id = self.client.create_run(self.experiment_id).info.run_id
        self.direct_root = root / "direct"
        self.direct_root.mkdir()

    def client_upload(self, src: Path, folder: str) -> None:
        self.client.log_artifact(self.run_id, str(src), folder)

    def client_download(self, rel: str, dst: Path) -> Path:
        return Path(self.client.download_artifacts(self.run_id, rel, str(dst)))

    def direct_upload(self, src: Path, folder: str) -> None:
        if self.target.library == "mlflow":
            self._repo().log_artifact(str(src), folder)
        else:
            from tracklog.artifacts import upload

            upload(src, str(self.direct_root / folder), progress=False)

    def direct_download(self, rel: str, dst: Path) -> Path:
        if self.target.library == "mlflow":
            return Path(self._repo().download_artifacts(rel, str(dst)))
        from tracklog.artifacts import download

        return download(str(self.direct_root / rel), dst, progress=False)

    def _repo(self) -> Any:
        from mlflow.store.artifact.local_artifact_repo import LocalArtifactRepository

        return LocalArtifactRepository(self.direct_root.as_uri())

    def run_root(self) -> Path:
        uri = self.client.get_run(self.run_id).info.artifact_uri
        return Path(uri.removeprefix("file://"))

    def recorded_sha(self, rel: str) -> str | None:
        """tracklog's sha256 of `rel` in the ``artifacts`` view (MLflow records none)."""
        if self.target.library != "tracklog":
            return None
        cur = self.target.api.connect()
        rows = cur.execute("SELECT sha256 FROM artifacts WHERE run_id = ? AND path = ?", [self.run_id, rel]).fetchall()
        return str(rows[0][0]) if rows else "missing"


def artifacts(target: Target, sizes: Sizes) -> Figures:
    """Upload and download throughput of one large file, via the client and direct."""
    nbytes = artifact_bytes(sizes)
    repeats = REPEATS[nbytes == QUICK_BYTES]
    saved = {name: os.environ.get(name) for name in _QUIET}
    os.environ.update(_QUIET)
    try:
        with target.fresh_store() as root:
            src = root / "src" / "blob.bin"
            sha = _make_file(src, nbytes)
            ops = _Ops(target, root)
            times: dict[str, list[float]] = {k: [] for k in ("upload", "download", "direct_upload", "direct_download")}
            for i in range(repeats):
                _one_repeat(ops, src, nbytes, sha if i == 0 else None, i, times)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    figures: Figures = {"file_mib": nbytes / MIB, "repeats": repeats}
    for name, samples in times.items():
        median = statistics.median(samples)
        figures[f"{name}_s"] = median
        figures[f"{name}_mib_s"] = nbytes / MIB / median
        figures[f"{name}_all_s"] = samples
    return figures


def _one_repeat(ops: _Ops, src: Path, nbytes: int, sha: str | None, i: int, times: dict[str, list[float]]) -> None:
    """Client upload and download, then direct; each pair's copies are deleted before the next
    pair, so every timed call finds the same files on disk (this VM's copies slow down as
    gigabytes of fresh files pile up)."""
    rel = f"r{i}/{src.name}"
    seconds, _ = _timed(ops.client_upload, src, f"r{i}")
    times["upload"].append(seconds)
    recorded = ops.recorded_sha(rel)
    if recorded is not None and sha is not None and recorded != sha:
        raise AssertionError(f"tracklog recorded sha256 {recorded} for {rel}, expected {sha}")
    seconds, got = _timed(ops.client_download, rel, ops.root / f"dl{i}")
    times["download"].append(seconds)
    _check(got, nbytes, sha)
    _remove(ops.run_root() / f"r{i}", ops.root / f"dl{i}")
    seconds, _ = _timed(ops.direct_upload, src, f"d{i}")
    times["direct_upload"].append(seconds)
    seconds, got = _timed(ops.direct_download, f"d{i}/{src.name}", ops.root / f"ddl{i}")
    times["direct_download"].append(seconds)
    _check(got, nbytes, sha)
    _remove(ops.direct_root / f"d{i}", ops.root / f"ddl{i}")


def _remove(*paths: Path) -> None:
    for path in paths:
        shutil.rmtree(path, ignore_errors=True)


ARTIFACT_WORKLOADS: dict[str, Workload] = {"artifacts": artifacts}
