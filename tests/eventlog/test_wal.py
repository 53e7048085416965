"""The WAL: kill -9 loses no event whose call returned, and recovery republishes exactly once."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap

import pytest

from eventlog import EventLog, MetricLogged, RunTagSet
from eventlog.wal import WalSegment, read_records

_TRAINER = textwrap.dedent("""
    import os, sys
    from eventlog import EventLog, RunTagSet
    log = EventLog.open(sys.argv[1], flush_events=int(sys.argv[2]), flush_interval=0.05)
    out = int(sys.argv[3])
    per_call = 1 if sys.argv[4] == "log_metric" else 10
    for i in range(0, 10_000_000, per_call):
        if per_call == 1:
            log.log_metric("run", "loss", float(i), i, 0)
        elif sys.argv[4] == "log_metrics":  # one step of ten keys: point i + j is key "loss" and j dots at step i
            log.writer.log_metrics("run", {"loss" + "." * j: float(i + j) for j in range(per_call)}, i, 0)
        else:  # one call appends ten points
            steps = list(range(i, i + per_call))
            log.writer.log_batch("run", ["loss"] * per_call, [float(s) for s in steps], steps, [0] * per_call)
        if i % 500 == 0:
            log.append(RunTagSet(run_id="run", key="step", value=str(i)))
        if i % 100 == 100 - per_call:
            os.write(out, b"%d\\n" % (i + per_call))  # acknowledged: these calls returned
""")


def _train_and_kill(uri: str, flush_events: int, kill_after: int, call: str = "log_metric") -> int:
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen([sys.executable, "-c", _TRAINER, uri, str(flush_events), str(write_fd), call], pass_fds=(write_fd,))
    os.close(write_fd)
    acked = 0
    buf = b""
    with os.fdopen(read_fd, "rb", buffering=0) as pipe:
        while acked < kill_after:
            chunk = pipe.read(4096)
            if not chunk:
                raise AssertionError(f"trainer exited early with {proc.wait()}")
            buf += chunk
            lines = buf.split(b"\n")
            buf = lines[-1]
            if len(lines) > 1:
                acked = int(lines[-2])
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        rest = pipe.read()
    lines = (buf + rest).split(b"\n")
    done = [int(x) for x in lines if x.strip()]
    return max([acked, *done])


def _check_exactly_once(uri: str, acked: int) -> None:
    log = EventLog.open(uri)  # opening recovers the dead writer's WAL
    metrics = [e for e in log.scan("metric") if isinstance(e, MetricLogged)]
    ids = [(e.writer_id, e.writer_seq) for e in metrics]
    assert len(ids) == len(set(ids)), "an event was published twice"
    steps = sorted(e.step + e.key.count(".") for e in metrics)  # the point's index (see _TRAINER)
    assert steps[:acked] == list(range(acked)), "an acknowledged event was lost"
    assert steps == list(range(len(steps))), "a gap or duplicate among the steps"
    tags = [e for e in log.scan("control") if isinstance(e, RunTagSet)]
    assert len({(e.writer_id, e.writer_seq) for e in tags}) == len(tags)
    assert len(tags) >= (acked - 1) // 500 + 1
    seqs = sorted(e.writer_seq for e in [*metrics, *tags])
    assert seqs == list(range(len(seqs))), "writer_seq must stay gapless across recovery"
    assert [f for f in os.listdir(log.writer.wal_dir) if f.endswith(".wal") and f.split("-")[0] != log.writer.writer_id[:8]] == []
    log.close()


@pytest.mark.parametrize("call", ["log_metric", "log_metrics", "log_batch"])
@pytest.mark.parametrize("flush_events", [1_000, 100_000])
def test_sigkill_mid_training_loses_nothing_that_returned(tmp_path, flush_events: int, call: str) -> None:
    uri = str(tmp_path / "store")
    acked = _train_and_kill(uri, flush_events, kill_after=random.randint(5_000, 40_000), call=call)
    _check_exactly_once(uri, acked)


def test_sigkill_on_s3_recovers_from_the_local_wal(store_uri: str, tmp_path, monkeypatch) -> None:
    if not store_uri.startswith("s3://"):
        pytest.skip("the S3 case; the local one is above")
    monkeypatch.setenv("TRACKLOG_CACHE_DIR", str(tmp_path / "cache"))
    acked = _train_and_kill(store_uri, 2_000, kill_after=8_000)
    _check_exactly_once(store_uri, acked)


def test_recovery_by_two_processes_at_once_publishes_once(tmp_path) -> None:
    uri = str(tmp_path / "store")
    acked = _train_and_kill(uri, 100_000, kill_after=20_000)
    orphans = len([f for f in os.listdir(tmp_path / "store" / "_wal") if f.endswith(".wal")])
    assert orphans >= 1
    # open() itself recovers, and recover() reports anything left: the sum counts each WAL once
    code = ("import sys; from eventlog.writer import recover_wal; from eventlog.storage import open_store; "
            "print(recover_wal(open_store(sys.argv[1]), sys.argv[1] + '/_wal'))")
    procs = [subprocess.Popen([sys.executable, "-c", code, uri], stdout=subprocess.PIPE, text=True) for _ in range(3)]
    recovered = [int(p.communicate(timeout=120)[0]) for p in procs]
    assert sum(recovered) == orphans, "a WAL segment was claimed twice, or not at all"
    _check_exactly_once(uri, acked)


def test_a_torn_record_is_dropped_and_the_rest_kept(tmp_path) -> None:
    wal = WalSegment(str(tmp_path), "w", 0, {"writer_id": "w", "actor": "a", "first_seq": 0}, fsync=False)
    for i in range(10):
        wal.append_metric(i, 1000 + i, "run", "k", float(i), i, 0)
    end = wal._off
    wal.close()
    path = str(tmp_path / "w-000000000000.wal")
    with open(path, "r+b") as fh:  # cut the last record short, as a crash mid-write would
        fh.seek(end - 1)
        fh.write(b"\x00")
    header, records = read_records(path)
    assert header["writer_id"] == "w"
    assert [r[4] for r in records] == [float(i) for i in range(9)]


def test_a_live_writers_wal_is_not_recovered_by_others(tmp_path) -> None:
    uri = str(tmp_path)
    live = EventLog.open(uri, flush_interval=3600)
    live.log_metric("r", "k", 1.0, 0, 0)
    other = EventLog.open(uri)
    assert other.recover() == 0
    assert list(other.scan("metric")) == []
    live.close()
    assert len(list(other.scan("metric"))) == 1


def test_the_wal_grows_past_its_first_mapping(tmp_path) -> None:
    log = EventLog.open(str(tmp_path), flush_interval=3600, flush_events=10**9)
    n = 120_000  # 50 bytes a record: beyond the first 4 MiB
    for i in range(n):
        log.log_metric("r", "k", float(i), i, 0)
    wal_path = log.writer._batch.records.path
    _, records = read_records(wal_path)
    assert len(records) == n
    log.close()
    assert not os.path.exists(wal_path)


def test_a_wal_segment_appears_only_locked_and_with_its_header(tmp_path, monkeypatch) -> None:
    """Regression: recovery took the lock of a segment created but not yet locked by a live writer."""
    import fcntl

    from eventlog.wal import claim_orphans

    seen_during_creation: list[list[str]] = []
    real_flock = fcntl.flock

    def spying_flock(fd, op):
        seen_during_creation.append(sorted(os.listdir(tmp_path)))
        return real_flock(fd, op)

    monkeypatch.setattr(fcntl, "flock", spying_flock)
    wal = WalSegment(str(tmp_path), "w", 0, {"writer_id": "w", "actor": "a", "first_seq": 0}, fsync=False)
    monkeypatch.setattr(fcntl, "flock", real_flock)
    assert not any(name.endswith(".wal") for name in seen_during_creation[0]), "visible to recovery before it was locked"
    assert list(claim_orphans(str(tmp_path))) == [], "a live writer's segment must not be claimable"
    header, records = read_records(wal.path)
    assert header["writer_id"] == "w" and records == []
    wal.close()
