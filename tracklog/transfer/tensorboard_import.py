"""``tracklog import tensorboard``: TensorBoard event files into a tracklog store.

Event files are read with the ``tensorboard`` package's own record reader and protos (its
TensorFlow-free reader; TensorFlow is never needed), an optional extra: ``tracklog[tensorboard]``.

How a log folder maps onto runs:

- Every folder holding event files (``*tfevents*``) is one run, named by its path under LOGDIR
  as TensorBoard names its runs (LOGDIR's own name for LOGDIR itself); the tag
  ``tensorboard.run`` keeps TensorBoard's name and ``tensorboard.logdir`` the folder imported.
- A run folder inside another run folder is its nested run: ``mlflow.parentRunId`` names the
  nearest enclosing run folder. Folders without event files make no run (``logdir/a/train`` and
  ``logdir/a/eval`` are two top-level runs when ``logdir/a`` holds no event file).
- Scalars (``simple_value`` summaries and the ``scalars`` plugin's tensors) become metric points:
  every point, with its step and wall time (ms); a restart that wrote a step again keeps both.
- The ``hparams`` plugin: a trial's hyperparameters become params; an experiment config (the
  metric definitions and hyperparameter domains) becomes the artifact
  ``tensorboard/hparams_config.json`` and the tag ``tensorboard.hparams.metrics`` (the metric
  tags, comma-separated); a trial that ended with ``STATUS_FAILURE`` ends as ``FAILED``.
- The ``text`` plugin: each text summary becomes the artifact ``tensorboard/text/<tag>/step_<N>.md``
  (a second text at the same tag and step: ``step_<N>-2.md``; a table is written as Markdown).
- Other summaries (histograms, images, audio, graphs…) are not imported; the report says which.

Runs are written as the MLflow importer writes its entities (`tracklog.transfer._segments`):
under deterministic writer ids, with the event files' wall times, so importing again adds
nothing and an import killed halfway finishes on the next run with every event once. A run
folder whose files' names or sizes changed since (training went on: points appended to a file, a
new file) is imported again under the same run id as a new generation holding only what is new
(`tracklog.transfer._delta`): its new points, text summaries and end time; each event is in the
log once. Run ids derive from LOGDIR's absolute path and the run's path under it, so a log folder
comes into a store once: imported again into another experiment, it brings no run. A record cut
short at the end of a file (a writer stopped mid-write) is skipped with a warning; a damaged
record elsewhere (a failed checksum) stops the import with a `TransferError` naming the file.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import stat
import tempfile
from array import array
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from eventlog.errors import (
    InvalidKeyError,
    MissingDependencyError,
    SourceNotFoundError,
    TransferError,
    UnsupportedSourceError,
    ValueTooLongError,
)
from eventlog.events import (
    ArtifactLogged,
    ExperimentCreated,
    ParamLogged,
    RunEnded,
    RunStarted,
    RunTagSet,
    SourceImported,
)
from eventlog.validation import (
    MAX_PARAM_VAL_LENGTH,
    MAX_TAG_VAL_LENGTH,
    check_key,
    check_string_value,
)
from tracklog.artifacts import upload
from tracklog.tracking.local import LocalStore
from tracklog.transfer._delta import Planned, delta, point_key
from tracklog.transfer._segments import (
    IdentityWriter,
    Lineage,
    finish,
    held_events,
    held_points,
    identity,
    lineage,
    progress_bar,
    unfinished,
)
from tracklog.transfer.mlflow_import import ImportReport

__all__ = ["import_tensorboard"]

_EXPERIMENT_NAMES = "experiment-names"
_HPARAMS_CONFIG = "tensorboard/hparams_config.json"
_UNSAFE_KEY = re.compile(r"[^/\w.\- :]")
_UNSAFE_PATH = re.compile(r"[^\w.\-]")
_MAX_RECORD = 2**31  # protobuf cannot parse a bigger message: a longer record is damage
_MAX_TEXT_FOLDER = 120  # bytes: a text tag longer than this becomes a short folder name and a digest
_UNIMPORTED_EVENTS = ("graph_def", "meta_graph_def", "tagged_run_metadata")  # reported; file_version etc. are not


@dataclass
class _RunData:
    """What one run folder's event files hold, in the order the files were read."""

    keys: list[str] = field(default_factory=list)  # one per distinct tag, index = position
    # one item per scalar point; typed arrays hold a million points in 28 MB
    key_index: array[int] = field(default_factory=lambda: array("q"))
    steps: array[int] = field(default_factory=lambda: array("q"))
    walls: array[float] = field(default_factory=lambda: array("d"))
    values: array[float] = field(default_factory=lambda: array("d"))
    params: dict[str, str] = field(default_factory=dict)
    config: dict[str, Any] | None = None
    texts: list[tuple[str, int, str]] = field(default_factory=list)
    failed: bool = False
    first_wall: float | None = None
    last_wall: float | None = None
    skipped: Counter[str] = field(default_factory=Counter)
    warnings: list[str] = field(default_factory=list)


def import_tensorboard(logdir: str, store: str, *, experiment: str | None = None,
                       progress: bool | None = None) -> ImportReport:
    """Import the TensorBoard log folder `logdir` into the tracklog store `store`.

    Args:
        logdir: a local folder with event files in it or in folders below it.
        store: the tracklog store (a folder or fsspec URL).
        experiment: the experiment the runs go into, created if the store has none of that name
            (default: the name of `logdir`'s folder).
        progress: show a progress bar (None: when stderr is a terminal).

    Returns:
        An `ImportReport` of what was new.

    Raises:
        MissingDependencyError: the ``tensorboard`` package is not installed.
        SourceNotFoundError: `logdir` is not a folder, or holds no event file.
        UnsupportedSourceError: `logdir` is a URL, or `store` a tracking server.
        TransferError: an event file with a damaged record (the message names the file).
    """
    if store.startswith(("http://", "https://")):
        raise UnsupportedSourceError(
            f"import writes into a tracklog store (a folder or bucket), not through a tracking server ({store})")
    root = _logdir(logdir)
    runs = _run_folders(root)
    name = experiment or os.path.basename(root)
    importer = _Importer(root, LocalStore.open(store), progress=progress)
    return importer.run(name, runs)


def _logdir(logdir: str) -> str:
    if "://" in logdir and not logdir.startswith("file://"):
        raise UnsupportedSourceError(
            f"{logdir!r} is not a local folder: tracklog imports TensorBoard logs from a folder on this machine")
    path = os.path.abspath(os.path.expanduser(logdir.removeprefix("file://")))
    if not os.path.isdir(path):
        raise SourceNotFoundError(f"no TensorBoard log folder at {logdir!r}: {path} is not a folder")
    return path


def _regular(path: str) -> bool:
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:  # a dangling symlink or a symlink loop
        return False


def _run_folders(root: str) -> dict[str, list[str]]:
    """Run folders (relative to `root`, ``.`` for itself) and their event files, in name order."""
    io_wrapper = _tensorboard().io_wrapper
    found: dict[str, list[str]] = {}
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        events = sorted(f for f in files if io_wrapper.IsSummaryEventsFile(os.path.join(folder, f))
                        and _regular(os.path.join(folder, f)))
        if events:
            found[os.path.relpath(folder, root)] = [os.path.join(folder, f) for f in events]
    if not found:
        raise SourceNotFoundError(f"no TensorBoard event files (events.out.tfevents.*) in {root} or any folder below it")
    return found


class _Tensorboard:
    """The parts of the ``tensorboard`` package the importer uses, imported once."""

    def __init__(self) -> None:
        try:
            from google.protobuf.message import DecodeError
            from tensorboard.backend.event_processing import io_wrapper
            from tensorboard.compat.proto import event_pb2
            from tensorboard.compat.tensorflow_stub import errors
            from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import PyRecordReader_New
            from tensorboard.plugins.hparams import api_pb2
            from tensorboard.plugins.hparams import metadata as hparams_metadata
            from tensorboard.plugins.hparams.error import HParamsError
            from tensorboard.util import tensor_util
        except ImportError as exc:
            raise MissingDependencyError(
                "reading TensorBoard event files needs the tensorboard package: "
                "pip install 'tracklog[tensorboard]'") from exc
        self.io_wrapper = io_wrapper
        self.event_pb2 = event_pb2
        self.errors = errors
        self.record_reader = PyRecordReader_New
        self.api_pb2 = api_pb2
        self.hparams = hparams_metadata
        self.tensor_util = tensor_util
        self.decode_error = DecodeError
        self.hparams_errors = (HParamsError, DecodeError)


@functools.cache
def _tensorboard() -> _Tensorboard:
    return _Tensorboard()


# ---- reading event files ------------------------------------------------------------------------


def _records(path: str, warnings: list[str]) -> Iterator[bytes]:
    """The records of one event file, through TensorBoard's own (TensorFlow-free) record reader."""
    tb = _tensorboard()
    try:
        reader = tb.record_reader(path.encode(), 0, b"", None)
    except (OSError, tb.errors.OpError) as exc:
        raise TransferError(f"cannot open the event file {path}: {exc}") from exc
    reader.file_handle.close()
    reader.file_handle = _BoundedFile(path)
    count = 0
    try:
        while True:
            try:
                reader.GetNext()
            except tb.errors.OutOfRangeError:
                return
            except tb.errors.DataLossError as exc:
                if "truncated" not in str(exc):
                    raise TransferError(f"the event file {path} is damaged at record {count + 1} ({exc}); "
                                        "move it out of the log folder to import the rest") from exc
                warnings.append(f"{path}: the last record is cut short (its writer stopped mid-write?); "
                                f"the {count} record(s) before it were imported")
                return
            count += 1
            yield reader.record()
    finally:
        reader.file_handle.close()


class _BoundedFile:
    """An event file whose reads never ask for more than it holds: a record length read from
    the file is untrusted (2^60 would make Python allocate it before reading)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.fh = open(path, "rb")  # noqa: SIM115 - closed by _records
        self.size = os.fstat(self.fh.fileno()).st_size

    def read(self, n: int) -> bytes:
        if n > _MAX_RECORD:
            raise TransferError(f"the event file {self.path} is damaged at byte {self.fh.tell()}: a record claims "
                                f"{n} bytes (more than any TensorBoard event); move it out of the log folder "
                                "to import the rest")
        return self.fh.read(max(0, min(n, self.size - self.fh.tell())))

    def close(self) -> None:
        self.fh.close()


def _read_run(files: list[str]) -> _RunData:
    """Every summary of one run folder's event files that the import keeps."""
    tb = _tensorboard()
    data = _RunData()
    plugins: dict[str, str] = {}  # a tag's plugin: TF 2 writes the metadata with a tag's first value only
    tags: dict[str, int] = {}
    parse = tb.event_pb2.Event.FromString
    for path in files:
        for record in _records(path, data.warnings):
            try:
                event = parse(record)
            except tb.decode_error as exc:
                raise TransferError(f"the event file {path} holds a record that is not a TensorBoard event: {exc}") from exc
            wall = event.wall_time
            if data.first_wall is None or wall < data.first_wall:
                data.first_wall = wall
            if data.last_wall is None or wall > data.last_wall:
                data.last_wall = wall
            what = event.WhichOneof("what")
            if what in _UNIMPORTED_EVENTS:
                data.skipped[what] += 1
            if what != "summary":
                continue
            for value in event.summary.value:
                _summary_value(data, value, event.step, wall, plugins, tags)
    return data


def _summary_value(data: _RunData, value: Any, step: int, wall: float, plugins: dict[str, str],
                   tags: dict[str, int]) -> None:
    tag = value.tag
    kind = value.WhichOneof("value")
    if value.HasField("metadata") and value.metadata.plugin_data.plugin_name:
        plugins[tag] = value.metadata.plugin_data.plugin_name
    plugin = plugins.get(tag, "")
    if kind == "tensor" and plugin in ("scalars", "text") and not _sane_tensor(data, value, step, plugin):
        return
    number = value.simple_value if kind == "simple_value" else _scalar(value.tensor) if plugin == "scalars" else None
    if number is not None:
        index = tags.setdefault(tag, len(tags))
        if index == len(data.keys):
            data.keys.append(tag)
        data.key_index.append(index)
        data.steps.append(step)
        data.walls.append(wall)
        data.values.append(number)
    elif plugin == "hparams" and value.HasField("metadata"):
        _hparams(data, tag, value.metadata.plugin_data.content)
    elif plugin == "text" and kind == "tensor":
        data.texts.append((tag, step, _markdown(_tensor(value))))
    else:
        data.skipped[plugin or kind or "empty"] += 1


def _sane_tensor(data: _RunData, value: Any, step: int, plugin: str) -> bool:
    """Whether `value`'s tensor can be read in memory bounded by its record: its shape is
    untrusted (one value and the shape [10**9] would make TensorBoard's reader repeat it)."""
    tensor = value.tensor
    dims = [d.size for d in tensor.tensor_shape.dim]
    elements = 1
    for size in dims:
        elements *= max(size, 0)
    held = max(len(tensor.string_val), len(tensor.float_val), len(tensor.double_val), len(tensor.int_val),
               len(tensor.int64_val), len(tensor.half_val), len(tensor.bool_val), 1)
    problem = None
    if any(size < 0 for size in dims):
        problem = f"a negative dimension in its shape {dims}"
    elif plugin == "scalars" and elements != 1:
        problem = f"shape {dims} ({elements} values) where a scalar was expected"
    elif not tensor.tensor_content and elements > held:
        problem = f"shape {dims} ({elements} values) but {held} value(s) in the record"
    else:
        try:
            _tensorboard().tensor_util.make_ndarray(tensor)
        except (TypeError, ValueError) as exc:
            problem = f"a tensor TensorBoard cannot read either ({exc})"
    if problem is not None:
        data.skipped[f"{plugin} (unreadable)"] += 1
        data.warnings.append(f"the {plugin} summary {value.tag!r} at step {step} was skipped: {problem}")
    return problem is None


def _scalar(tensor: Any) -> float | None:
    """A scalar tensor's number: TF 2 writes a float's in `float_val` (read at once), others
    through TensorBoard's `make_ndarray`."""
    if len(tensor.float_val) == 1 and not tensor.tensor_shape.dim:
        return float(tensor.float_val[0])
    array = _tensorboard().tensor_util.make_ndarray(tensor)
    return float(array.item()) if array.size == 1 else None


def _tensor(value: Any) -> Any:
    return _tensorboard().tensor_util.make_ndarray(value.tensor)


def _markdown(array: Any) -> str:
    """A text summary's tensor as Markdown: a string as it is, a list as paragraphs, a 2-D array
    as a table whose first row is the header."""
    if array.ndim == 0:
        return _text(array.item())
    if array.ndim == 1:
        return "\n\n".join(_text(cell) for cell in array)
    rows = [[_text(cell) for cell in row] for row in array.reshape(array.shape[0], -1)]
    rows.insert(1, ["---"] * len(rows[0]))
    return "\n".join("| " + " | ".join(row) + " |" for row in rows)


def _text(cell: Any) -> str:
    return cell.decode("utf-8", errors="replace") if isinstance(cell, bytes) else str(cell)


def _hparams(data: _RunData, tag: str, content: bytes) -> None:
    try:
        _hparams_data(data, tag, content)
    except _tensorboard().hparams_errors as exc:
        data.warnings.append(f"an hparams summary {tag!r} that TensorBoard cannot read either was skipped: {exc}")


def _hparams_data(data: _RunData, tag: str, content: bytes) -> None:
    tb = _tensorboard()
    if tag == tb.hparams.SESSION_START_INFO_TAG:
        info = tb.hparams.parse_session_start_info_plugin_data(content)
        for name in sorted(info.hparams):
            value = _hparam_value(info.hparams[name])
            if data.params.setdefault(name, value) != value:
                data.warnings.append(f"hyperparameter {name!r} given twice ({data.params[name]!r}, then {value!r}): "
                                     "the first is kept")
    elif tag == tb.hparams.EXPERIMENT_TAG:
        from google.protobuf import json_format

        experiment = tb.hparams.parse_experiment_plugin_data(content)
        data.config = json_format.MessageToDict(experiment)
    elif tag == tb.hparams.SESSION_END_INFO_TAG:
        end = tb.hparams.parse_session_end_info_plugin_data(content)
        data.failed = end.status == tb.api_pb2.STATUS_FAILURE


def _hparam_value(value: Any) -> str:
    """A hyperparameter as a param string: a whole number without ``.0``, as TensorBoard shows it."""
    kind = value.WhichOneof("kind")
    if kind == "number_value":
        number = value.number_value
        return str(int(number)) if number.is_integer() else repr(number)
    if kind == "bool_value":
        return str(value.bool_value)
    if kind == "string_value":
        return str(value.string_value)
    return ""


# ---- writing runs -------------------------------------------------------------------------------


class _Importer:
    def __init__(self, root: str, dest: LocalStore, *, progress: bool | None) -> None:
        self.root = root
        self.key = "file://" + root
        self.dest = dest
        self.log = dest.log
        self.progress = progress
        self.report = ImportReport(source=root)
        self.importer = self.log.writer.actor
        self._cursor: Any = None

    def run(self, name: str, runs: dict[str, list[str]]) -> ImportReport:
        experiment_id, location = self._experiment(name, runs)
        lines = {rel: lineage(self.log, identity(self.key, "run", rel)) for rel in runs}
        todo = {rel: files for rel, files in runs.items() if lines[rel].state != _state(files)}
        self.report.runs_skipped = len(runs) - len(todo)
        bar = progress_bar(total=sum(os.path.getsize(f) for files in todo.values() for f in files), desc="tensorboard",
                           unit="B", progress=self.progress, unit_scale=True)
        try:
            for rel, files in todo.items():
                self._run(rel, files, lines[rel], _parent(rel, runs), experiment_id, location)
                bar.update(sum(os.path.getsize(f) for f in files))
                bar.set_postfix(runs=self.report.runs, points=f"{self.report.metric_points:,}")
        finally:
            bar.close()
        self._record()
        return self.report

    def _record(self) -> None:
        r = self.report
        # nothing new: a second import adds nothing, not even its record (a rerun that finds a
        # killed import's segments published still completed its runs: that is recorded)
        if not (r.segments or r.runs or r.experiments):
            return
        self.log.append(SourceImported(source=self.root, source_kind="tensorboard", experiments=r.experiments,
                                       runs=r.runs, metric_points=r.metric_points, artifacts=r.artifacts))
        self.log.flush()

    # ---- the experiment -------------------------------------------------------------------

    def _experiment(self, name: str, runs: dict[str, list[str]]) -> tuple[str, str]:
        """The id and artifact location of the experiment `name`, created (at the earliest
        wall time of the log folder) if the store has none of that name."""
        holder = "0" if name == "Default" else self.log.read_claim(_EXPERIMENT_NAMES, name)
        if holder is None:
            holder = self.log.claim(_EXPERIMENT_NAMES, name, self._free_id(name))
        if self.log.read_claim("experiment-ids", holder) != self._id_marker(holder):
            return holder, self.dest.get_experiment(holder).artifact_location
        location = f"{self.dest.artifact_root}/{holder}"
        writer = unfinished(self.log, identity(self.key, "experiment", name))
        if writer is not None:
            first = min(_first_wall(files) for files in runs.values())
            writer.add(ExperimentCreated(experiment_id=holder, name=name, artifact_location=location),
                       _ms(first) if first != float("inf") else 0, self.importer)
            self._finish(writer)
            self.report.experiments += 1
        return holder, location

    def _id_marker(self, experiment_id: str) -> str:
        return f"{experiment_id} imported from {self.key}"

    def _free_id(self, name: str) -> str:
        """A new numeric experiment id for `name`, claimed for this import (the store's own ids look alike)."""
        digest = int(hashlib.sha256(f"{self.key}\x1f{name}".encode()).hexdigest(), 16)
        for attempt in range(1000):
            candidate = str((digest + attempt) % 10**15 + 10**15)
            if self.log.claim("experiment-ids", candidate, self._id_marker(candidate)) == self._id_marker(candidate):
                return candidate
        raise TransferError("no free experiment id for the import")  # pragma: no cover

    # ---- one run --------------------------------------------------------------------------

    def _run(self, rel: str, files: list[str], line: Lineage, parent: str | None, experiment_id: str,
             location: str) -> None:
        """Import the run folder `rel`, or what it gained since the last import of it."""
        data = _read_run(files)
        self.report.warnings.extend(data.warnings)
        if data.skipped:
            kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(data.skipped.items()))
            self.report.warnings.append(f"run {rel!r}: summaries not imported (no tracklog counterpart): {kinds}")
        run_id = self._run_id(rel)
        state = _state(files)
        held = held_events(self._catalog(), line.writers) if line.writers else []
        writer = line.writer(self.log.store, state)
        for item in delta(self._planned(rel, run_id, parent, data, experiment_id, location), held, self.importer):
            writer.add(*item)
        added = len(writer.control)
        writer.flush_control()
        points = self._metrics(writer, run_id, rel, data,
                               held_points(self._catalog(), line.writers) if line.writers else None)
        self.report.metric_points += points
        self.report.segments += line.finish(self.log, writer, state)
        if added or points:
            self.report.runs += 1
        else:
            self.report.runs_skipped += 1

    def _planned(self, rel: str, run_id: str, parent: str | None, data: _RunData, experiment_id: str,
                 location: str) -> list[Planned]:
        """The events that make the run from nothing (its text summaries uploaded as artifacts)."""
        start, end = _ms(data.first_wall or 0), _ms(data.last_wall or 0)
        artifact_uri = f"{location.rstrip('/')}/{run_id}/artifacts"
        name = os.path.basename(self.root) if rel == "." else rel
        planned = [Planned(RunStarted(run_id=run_id, experiment_id=experiment_id, run_name=name, start_time=start,
                                      artifact_uri=artifact_uri), start, self.importer)]
        planned += [Planned(RunTagSet(run_id=run_id, key=key, value=value), start, self.importer)
                    for key, value in self._tags(rel, parent, data)]
        planned += [Planned(ParamLogged(run_id=run_id, key=key, value=value), start, self.importer)
                    for key, value in sorted(data.params.items())
                    if self._valid(rel, "param", key, value, MAX_PARAM_VAL_LENGTH)]
        planned += [Planned(ArtifactLogged(run_id=run_id, path=path, size=size, sha256=sha), end, self.importer)
                    for path, size, sha in self._artifacts(data, artifact_uri)]
        planned.append(Planned(RunEnded(run_id=run_id, status="FAILED" if data.failed else "FINISHED", end_time=end),
                               end, self.importer))
        return planned

    def _catalog(self) -> Any:
        """A cursor on the store's catalog, listed once (the earlier imports' events are there)."""
        if self._cursor is None:
            self._cursor = self.dest.cursor()
        return self._cursor

    def _run_id(self, rel: str) -> str:
        return identity(self.key, "run-id", rel).replace("-", "")

    def _tags(self, rel: str, parent: str | None, data: _RunData) -> list[tuple[str, str]]:
        tags = [("tensorboard.logdir", self.root), ("tensorboard.run", rel)]
        if parent is not None:
            tags.append(("mlflow.parentRunId", self._run_id(parent)))
        if data.config is not None:
            metrics = ",".join(m.get("name", {}).get("tag", "") for m in data.config.get("metricInfos", []))
            if self._valid(rel, "tag", "tensorboard.hparams.metrics", metrics, MAX_TAG_VAL_LENGTH):
                tags.append(("tensorboard.hparams.metrics", metrics))
        return sorted(tags)

    def _valid(self, rel: str, what: str, key: str, value: str, limit: int) -> bool:
        try:
            check_key(f"{what} key", key)
            check_string_value(f"{what} value", key, value, limit)
        except (InvalidKeyError, ValueTooLongError) as exc:
            self.report.warnings.append(f"run {rel!r}: {what} not imported: {exc}")
            return False
        return True

    def _artifacts(self, data: _RunData, artifact_uri: str) -> list[tuple[str, int, str]]:
        """The run's text summaries and hparams config, written as files and uploaded."""
        if not data.texts and data.config is None:
            return []
        with tempfile.TemporaryDirectory(prefix="tracklog-import-") as tmp:
            if data.config is not None:
                _write(os.path.join(tmp, _HPARAMS_CONFIG), json.dumps(data.config, indent=2, sort_keys=True))
            for path, text in _text_files(data.texts):
                _write(os.path.join(tmp, path), text)
            written = upload(tmp, artifact_uri, progress=False)
        self.report.artifacts += len(written)
        return sorted(written)

    def _metrics(self, writer: IdentityWriter, run_id: str, rel: str, data: _RunData,
                 held: set[tuple[str, int, int, Any]] | None) -> int:
        """Every scalar point, ordered by (key, step, wall time, value), but those in `held`
        (the points earlier imports of the run brought)."""
        import numpy as np
        import pyarrow as pa

        if not data.values:
            return 0
        names = [self._metric_key(rel, tag) for tag in data.keys]
        order = np.argsort(np.argsort(names, kind="stable"), kind="stable")  # tag index -> rank of its name
        ranks = order[np.asarray(data.key_index, dtype=np.int64)]
        steps = np.asarray(data.steps, dtype=np.int64)
        times = np.rint(np.asarray(data.walls, dtype=np.float64) * 1000).astype(np.int64)
        values = np.asarray(data.values, dtype=np.float64)
        sort = np.lexsort((values, times, steps, ranks))
        dictionary = pa.array(sorted(names), pa.string())
        keys = pa.DictionaryArray.from_arrays(pa.array(ranks[sort].astype(np.int32)), dictionary).cast(pa.string())
        values, steps, times = values[sort], steps[sort], times[sort]
        if held:
            new = np.fromiter((point_key(*p) not in held for p in zip(keys.to_pylist(), steps.tolist(), times.tolist(),
                                                                     values.tolist(), strict=True)), bool, len(values))
            keys, values, steps, times = keys.filter(pa.array(new)), values[new], steps[new], times[new]
        if not len(values):
            return 0
        return writer.add_metrics(run_id, keys, values, steps, times, self.importer)

    def _metric_key(self, rel: str, tag: str) -> str:
        """`tag` as a metric key: characters MLflow refuses in keys become ``_``."""
        try:
            return check_key("metric key", tag)
        except (InvalidKeyError, ValueTooLongError):
            key = "/".join(p for p in _UNSAFE_KEY.sub("_", tag).split("/") if p not in ("", ".", "..")) or "_"
            self.report.warnings.append(f"run {rel!r}: scalar tag {tag!r} imported as metric {key!r}")
            return key[:250].rstrip("/") or "_"

    # ---- identities -----------------------------------------------------------------------

    def _finish(self, writer: IdentityWriter) -> None:
        self.report.segments += finish(self.log, writer)


# ---- helpers -------------------------------------------------------------------------------------


def _state(files: list[str]) -> str:
    """A run folder's state: its event files' names and sizes (event files only grow)."""
    state = [(os.path.basename(f), os.path.getsize(f)) for f in files]
    return hashlib.sha256(repr(state).encode()).hexdigest()[:16]


def _parent(rel: str, runs: dict[str, list[str]]) -> str | None:
    """The nearest run folder enclosing `rel` (LOGDIR itself is ``.``)."""
    if rel == ".":
        return None
    folder = os.path.dirname(rel)
    while folder:
        if folder in runs:
            return folder
        folder = os.path.dirname(folder)
    return "." if "." in runs else None


def _first_wall(files: list[str]) -> float:
    """The wall time of the first record of the run's first non-empty event file (its
    ``file_version`` event): when the run began."""
    for path in files:
        for record in _records(path, []):
            return float(_tensorboard().event_pb2.Event.FromString(record).wall_time)
    return float("inf")


def _text_files(texts: list[tuple[str, int, str]]) -> Iterator[tuple[str, str]]:
    seen: Counter[str] = Counter()
    for tag, step, text in texts:
        folder = "/".join(_UNSAFE_PATH.sub("_", p) for p in tag.split("/") if p not in ("", ".", "..")) or "_"
        if len(folder.encode()) > _MAX_TEXT_FOLDER:  # file systems refuse names over 255 bytes
            digest = hashlib.sha256(tag.encode("utf-8", "surrogatepass")).hexdigest()[:16]
            folder = _UNSAFE_PATH.sub("_", folder)[:40] + "-" + digest
        base = f"tensorboard/text/{folder}/step_{step}"
        seen[base] += 1
        yield (f"{base}.md" if seen[base] == 1 else f"{base}-{seen[base]}.md"), text


def _write(path: str, text: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)


def _ms(seconds: float) -> int:
    return int(round(seconds * 1000))

