"""Hostile TensorBoard log folders: crafted records get a typed error or a warning naming them,
never a traceback, a hang, or memory in proportion to a number read from the file."""

from __future__ import annotations

import os
import resource
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2, tensor_shape_pb2, types_pb2
from tensorboard.plugins.text import summary_v2 as text_summary
from tensorboard.summary.writer.event_file_writer import EventFileWriter
from tensorboard.summary.writer.record_writer import masked_crc32c

import tracklog
from eventlog import TransferError
from tracklog.transfer import import_tensorboard


def _write(folder: Path, *summaries: summary_pb2.Summary) -> Path:
    writer = EventFileWriter(str(folder))
    for step, summary in enumerate(summaries):
        writer.add_event(event_pb2.Event(wall_time=1_700_000_000.0 + step, step=step, summary=summary))
    writer.close()
    return next(folder.glob("events.out.tfevents.*"))


def _scalar(tag: str, value: float) -> summary_pb2.Summary:
    return summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, simple_value=value)])


def _tensor(tag: str, plugin: str, **fields) -> summary_pb2.Summary:
    metadata = summary_pb2.SummaryMetadata(plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name=plugin))
    return summary_pb2.Summary(value=[summary_pb2.Summary.Value(
        tag=tag, tensor=tensor_pb2.TensorProto(**fields), metadata=metadata)])


def _shape(*sizes: int) -> tensor_shape_pb2.TensorShapeProto:
    return tensor_shape_pb2.TensorShapeProto(dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=s) for s in sizes])


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (1_500_000_000, 1_500_000_000))


def test_record_length_of_2_to_the_60_is_a_transfer_error_naming_the_file(tmp_path):
    """A record header (with a valid checksum) claiming 2^60 bytes is damage, not an allocation."""
    logs = tmp_path / "logs"
    logs.mkdir()
    path = _write(logs, _scalar("loss", 1.0))
    header = struct.pack("<Q", 2**60)
    with open(path, "ab") as fh:
        fh.write(header + struct.pack("<I", masked_crc32c(header)) + b"x" * 100)
    with pytest.raises(TransferError, match=rf"{path.name} is damaged at byte \d+: a record claims 1152921504606846976"):
        import_tensorboard(str(logs), str(tmp_path / "store"), progress=False)


def test_tensor_shapes_bigger_than_their_record_are_skipped_with_a_warning(tmp_path):
    """One value with the shape [10**9] (TensorBoard's reader would repeat it 10**9 times), a
    content of the wrong size and an unknown dtype are skipped; the good scalar comes over.
    Runs in a child process whose address space is capped, so a regression fails, not swaps."""
    logs = tmp_path / "logs"
    logs.mkdir()
    _write(logs,
           _tensor("big_scalar", "scalars", dtype=types_pb2.DT_FLOAT, tensor_shape=_shape(10**9), float_val=[1.0]),
           _tensor("big_text", "text", dtype=types_pb2.DT_STRING, tensor_shape=_shape(10**9), string_val=[b"x"]),
           _tensor("odd_content", "text", dtype=types_pb2.DT_FLOAT, tensor_shape=_shape(3), tensor_content=b"abcde"),
           _tensor("no_dtype", "scalars", dtype=9999, float_val=[1.0, 2.0]),
           _scalar("loss", 0.5))
    code = ("import sys, json; from tracklog.transfer import import_tensorboard;"
            "r = import_tensorboard(sys.argv[1], sys.argv[2], progress=False);"
            "print(json.dumps([r.metric_points, r.warnings]))")
    done = subprocess.run([sys.executable, "-c", code, str(logs), str(tmp_path / "store")], capture_output=True,
                          text=True, timeout=120, preexec_fn=_limit_memory, env={**os.environ})
    assert done.returncode == 0, done.stderr[-2000:]
    points, warnings = __import__("json").loads(done.stdout)
    assert points == 1
    text = "\n".join(warnings)
    assert "'big_scalar' at step 0 was skipped: shape [1000000000] (1000000000 values) where a scalar" in text
    assert "'big_text' at step 1 was skipped: shape [1000000000] (1000000000 values) but 1 value(s)" in text
    assert "'odd_content' at step 2 was skipped: a tensor TensorBoard cannot read either" in text
    assert "'no_dtype' at step 3 was skipped" in text


def test_a_text_tag_too_long_for_a_file_name_becomes_a_short_artifact_path(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    _write(logs, text_summary.text_pb("a" * 300, "hello"), text_summary.text_pb("../" * 50 + "b" * 300, "bye"),
           _scalar("m" * 300, 1.0))
    report = import_tensorboard(str(logs), str(tmp_path / "store"), progress=False)
    assert report.artifacts == 2 and report.metric_points == 1
    client = tracklog.Client(str(tmp_path / "store"))
    (run,) = client.search_runs(client.search_experiments()[0].experiment_id)
    paths = sorted(a.path for a in client.list_artifacts(run.info.run_id, "tensorboard/text"))
    assert all(len(p.encode()) < 100 and ".." not in p for p in paths), paths
    assert list(run.data.metrics) == ["m" * 250]


def test_a_fifo_or_a_symlink_loop_named_like_an_event_file_is_not_read(tmp_path):
    """Reading a FIFO would block the import forever; a symlink loop is no file."""
    logs = tmp_path / "logs"
    logs.mkdir()
    _write(logs, _scalar("loss", 1.0))
    os.mkfifo(logs / "events.out.tfevents.1.fifo")
    os.symlink(logs / "events.out.tfevents.2.loop", logs / "events.out.tfevents.2.loop")
    os.symlink(logs, logs / "again")
    code = ("import sys; from tracklog.transfer import import_tensorboard;"
            "print(import_tensorboard(sys.argv[1], sys.argv[2], progress=False).metric_points)")
    done = subprocess.run([sys.executable, "-c", code, str(logs), str(tmp_path / "store")], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "1"
