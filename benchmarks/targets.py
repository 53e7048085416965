"""The systems under test, behind one small interface so every workload runs the same code.

tracklog and MLflow share the fluent API (``start_run``, ``log_metric``, ``log_metrics``,
``log_params``, ``set_tags``, ``end_run``) and a client with ``log_batch``; a `Target` hands a
workload that module, a fresh store in a temporary directory, and the files in which the store
keeps metric points (to measure bytes on disk).
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

__all__ = ["MLFLOW_ARTIFACTS", "MLFLOW_MODELS", "MLFLOW_READ_SIDE", "MLFLOW_SERVER", "WRITE_SIDE", "MlflowTarget", "Target", "TracklogTarget", "default_targets"]


@contextlib.contextmanager
def _env(name: str, value: str | None) -> Iterator[None]:
    """Set (or, with None, leave alone) one environment variable for the duration of a block."""
    if value is None:
        yield
        return
    old = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old


def _files_under(path: Path) -> list[Path]:
    return [p for p in path.rglob("*") if p.is_file()] if path.exists() else []


class Target:
    """One system under test. Subclasses say how to open a store and where metric points live."""

    name: str = ""
    library: str = ""  # the module a user imports: "tracklog" or "mlflow"
    slow: bool = False  # per-call cost ~1000x tracklog's: workloads use smaller N (and scale)
    workloads: tuple[str, ...] | None = None  # None: every workload

    def __init__(self) -> None:
        self._api: ModuleType | None = None
        self.notes: list[str] = []

    @property
    def api(self) -> ModuleType:
        """The fluent module (imported on first use, so tracklog runs before MLflow is loaded)."""
        if self._api is None:
            self._api = self._import()
        return self._api

    @property
    def loaded(self) -> bool:
        return self._api is not None

    def _import(self) -> ModuleType:
        return importlib.import_module(self.library)

    def version(self) -> str:
        return str(getattr(self.api, "__version__", "unknown"))

    def runs_workload(self, workload: str) -> bool:
        return self.workloads is None or workload in self.workloads

    @contextlib.contextmanager
    def fresh_store(self) -> Iterator[Path]:
        """A new, empty store in its own temporary directory, made current; removed afterwards."""
        root = Path(tempfile.mkdtemp(prefix=f"tracklog-bench-{self.name}-"))
        try:
            self._open(root)
            yield root
        finally:
            self.end_active_runs()
            shutil.rmtree(root, ignore_errors=True)

    def _open(self, root: Path) -> None:
        raise NotImplementedError

    def end_active_runs(self) -> None:
        """After a failed call: end whatever run the fluent API still holds, ignoring errors."""
        for _ in range(10):
            if self.api.active_run() is None:
                return
            with contextlib.suppress(Exception):
                self.api.end_run()

    def metric_files(self, root: Path) -> list[Path]:
        """The files whose sizes count as this store's cost of keeping metric points."""
        raise NotImplementedError

    def metric_bytes(self, root: Path) -> int:
        return sum(p.stat().st_size for p in self.metric_files(root))

    def client(self) -> Any:
        raise NotImplementedError

    def publish(self) -> None:
        """Make everything logged so far durable and visible to other processes (timed by the
        workloads after the last ``end_run``): MLflow has written it already."""

    def metric(self, key: str, value: float, timestamp: int, step: int) -> Any:
        raise NotImplementedError

    def active_run_id(self) -> str:
        run = self.api.active_run()
        if run is None:
            raise RuntimeError(f"{self.name}: no active run")
        return str(run.info.run_id)


class TracklogTarget(Target):
    """tracklog on a local folder, with a given durability mode (default: ``wal``)."""

    library = "tracklog"

    def __init__(self, durability: str = "wal", workloads: tuple[str, ...] | None = None) -> None:
        super().__init__()
        self.durability = durability
        self.name = "tracklog" if durability == "wal" else f"tracklog[durability={durability}]"
        self.workloads = workloads

    def version(self) -> str:
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("tracklog")
        except PackageNotFoundError:
            return "unknown"

    def _open(self, root: Path) -> None:
        self.api.set_tracking_uri(str(root / "tracklog"))
        # The store (and its writer's durability mode) is opened by the first Client on the URI.
        with _env("TRACKLOG_DURABILITY", self.durability):
            self.api.Client()

    def metric_files(self, root: Path) -> list[Path]:
        return _files_under(root / "tracklog" / "events" / "stream=metric")

    def client(self) -> Any:
        return self.api.Client()

    def publish(self) -> None:
        """tracklog publishes in the background (the WAL has each event at once); `flush` waits
        for the segments, so nothing is left out of a timing or a byte count."""
        self.api.flush()

    def metric(self, key: str, value: float, timestamp: int, step: int) -> Any:
        return self.api.Metric(key=key, value=value, timestamp=timestamp, step=step)


class MlflowTarget(Target):
    """MLflow with one of its own tracking stores: ``sqlite`` (recommended) or ``file``."""

    library = "mlflow"
    slow = True

    def __init__(self, backend: str, workloads: tuple[str, ...] | None = None) -> None:
        super().__init__()
        if backend not in ("sqlite", "file"):
            raise ValueError(f"backend must be 'sqlite' or 'file', got {backend!r}")
        self.backend = backend
        self.name = f"mlflow-{backend}"
        self.workloads = workloads

    def _import(self) -> ModuleType:
        module = importlib.import_module("mlflow")
        for name in ("mlflow", "alembic"):  # schema migrations log at INFO for every new db
            logging.getLogger(name).setLevel(logging.WARNING)
        return module

    def uri(self, root: Path) -> str:
        return f"sqlite:///{root}/mlflow.db" if self.backend == "sqlite" else f"file:{root}/mlruns"

    def check_available(self) -> None:
        """MLflow 3 refuses the file store unless opted in; record that, then opt in."""
        if self.backend != "file":
            return
        probe = Path(tempfile.mkdtemp(prefix="tracklog-bench-probe-"))
        try:
            with _env("MLFLOW_ALLOW_FILE_STORE", "false"):
                self.api.MlflowClient(tracking_uri=self.uri(probe)).search_experiments(max_results=1)
            self.notes.append("MLflow's file store opened without opt-in")
        except Exception as exc:  # MlflowException: "in maintenance mode"
            self.notes.append(
                f"MLflow {self.version()} refuses the file store by default "
                f"({type(exc).__name__}: {str(exc).split('. ')[0]}); measured with "
                "MLFLOW_ALLOW_FILE_STORE=true"
            )
            os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
        finally:
            shutil.rmtree(probe, ignore_errors=True)

    def _open(self, root: Path) -> None:
        uri = self.uri(root)
        self.api.set_tracking_uri(uri)
        # Create the store now (sqlite runs its schema migrations here), outside any timing.
        self.api.MlflowClient(tracking_uri=uri).search_experiments(max_results=1)

    def metric_files(self, root: Path) -> list[Path]:
        if self.backend == "sqlite":  # the db plus any -wal/-journal side files
            return [p for p in root.glob("mlflow.db*") if p.is_file()]
        return [p for p in _files_under(root / "mlruns") if "metrics" in p.relative_to(root).parts]

    def client(self) -> Any:
        return self.api.MlflowClient()

    def metric(self, key: str, value: float, timestamp: int, step: int) -> Any:
        return self.api.entities.Metric(key=key, value=value, timestamp=timestamp, step=step)


WRITE_SIDE = ("log_metric", "log_metrics", "runs", "storage", "import")
MLFLOW_READ_SIDE = ("search", "history")  # fold and compact have no MLflow counterpart
MLFLOW_ARTIFACTS = ("artifacts",)  # MLflow's LocalArtifactRepository, compared once
MLFLOW_MODELS = ("serving", "registry")  # compared with MLflow once (it does not depend on the tracking store)
MLFLOW_SERVER = ("tracking_server",)  # tracklog server vs mlflow server, on sqlite (its recommended store)


def default_targets() -> list[Target]:
    """tracklog first (so it is measured before MLflow is imported), then MLflow's stores.

    The read side is compared with MLflow's sqlite store (the recommended one); ``history`` with
    the file store too (issue 16's baseline for it).
    """
    return [
        TracklogTarget("wal"),
        TracklogTarget("none", workloads=("log_metric",)),
        MlflowTarget("sqlite", workloads=WRITE_SIDE + MLFLOW_READ_SIDE + MLFLOW_ARTIFACTS + MLFLOW_MODELS + MLFLOW_SERVER),
        MlflowTarget("file", workloads=WRITE_SIDE + ("history",)),  # issue 16 compares history with the file store
    ]
