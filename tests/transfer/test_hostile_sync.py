"""Hostile SRC stores for `tracklog sync`: each case is a real store written by tracklog, then
damaged on disk. DEST never gets garbage: a bad file is skipped with a warning naming it (the
rest is copied once), or the sync stops with a typed error naming it; the CLI says so in one line.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import eventlog.writer
import tracklog
from eventlog import EventLog, TransferError
from eventlog.errors import CorruptFileError
from eventlog.storage import LocalStore
from tracklog.cli import main
from tracklog.transfer import sync

ROOT = Path(__file__).parents[2]


def _source(path: Path) -> str:
    """A store with one experiment, one run (a param, 5 points, an artifact), finished."""
    client = tracklog.Client(str(path))
    run = client.create_run(client.create_experiment("exp"), run_name="r")
    client.log_param(run.info.run_id, "p", "1")
    for step in range(5):
        client.log_metric(run.info.run_id, "loss", step / 10, step=step)
    (path.parent / "a.txt").write_text("hello")
    client.log_artifact(run.info.run_id, str(path.parent / "a.txt"))
    client.set_terminated(run.info.run_id)
    client.flush()
    return run.info.run_id


def _segments(store: Path, stream: str) -> list[Path]:
    return sorted(store.glob(f"events/stream={stream}/*/*.parquet"))


def _artifact_dir(store: Path) -> Path:
    return next(store.glob("artifacts/*/*/artifacts"))


def _rewrite(path: Path, change: Callable[[pa.Table], pa.Table]) -> None:
    table = change(pq.read_table(path))
    path.unlink()  # published segments are hard links: never write through one
    pq.write_table(table, path)


def _column(name: str, values: pa.Array | Callable[[int], pa.Array]) -> Callable[[pa.Table], pa.Table]:
    def change(table: pa.Table) -> pa.Table:
        array = values(table.num_rows) if callable(values) else values
        return table.set_column(table.column_names.index(name), name, array)
    return change


def _with_kind(kind: str) -> Callable[[Path], Path]:
    """The control segment holding a `kind` event."""
    return lambda store: next(p for p in _segments(store, "control") if kind in pq.read_table(p)["kind"].to_pylist())


def _metric(store: Path) -> Path:
    return _segments(store, "metric")[0]


def _garbage(path: Path) -> None:
    path.unlink()
    path.write_bytes(os.urandom(3000))


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.unlink()
    path.write_bytes(data[: len(data) // 2])


def _foreign(path: Path) -> None:
    path.unlink()
    pq.write_table(pa.table({"a": [1, 2]}), path)


# (case, which file, how it is damaged, what the warning says)
DAMAGED = [
    ("garbage bytes", _metric, _garbage, "is not a readable Parquet segment"),
    ("truncated Parquet", _metric, _truncate, "is not a readable Parquet segment"),
    ("another schema", _metric, _foreign, "is not a tracklog metric segment: it has no column(s) run_id"),
    ("writer_seq as text", _metric, lambda p: _rewrite(p, _column(
        "writer_seq", lambda n: pa.array([str(i) for i in range(n)]))), "column 'writer_seq' is string, expected int64"),
    ("NULL writer_seq", _metric, lambda p: _rewrite(p, _column("writer_seq", lambda n: pa.nulls(n, pa.int64()))),
     "column 'writer_seq' has 5 NULL(s), expected none"),
    ("NULL ts", _with_kind("RunStarted"), lambda p: _rewrite(p, _column("ts", lambda n: pa.nulls(n, pa.int64()))),
     "column 'ts' has 3 NULL(s), expected none"),
    ("NULL run_id of RunStarted", _with_kind("RunStarted"),
     lambda p: _rewrite(p, _column("run_id", lambda n: pa.nulls(n, pa.string()))),
     "a RunStarted row is missing fields: Missing required argument 'run_id'"),
    ("unknown event kind", _with_kind("ArtifactLogged"),
     lambda p: _rewrite(p, _column("kind", lambda n: pa.array(["NoSuchEvent"] * n))), "unknown event kind 'NoSuchEvent'"),
    ("writer id with ..", _metric, lambda p: _rewrite(p, _column("writer_id", lambda n: pa.array(["../../../../x"] * n))),
     "writer id '../../../../x' is not a plain name"),
    ("absolute writer id", _metric, lambda p: _rewrite(p, _column("writer_id", lambda n: pa.array(["/tmp/x"] * n))),
     "writer id '/tmp/x' is not a plain name"),
    ("FIFO named like a segment", lambda s: _metric(s).with_name("f-000000000000.parquet"), os.mkfifo,
     "is a FIFO, not a regular file"),
    ("symlink to /dev/zero named like a segment", lambda s: _metric(s).with_name("z-000000000000.parquet"),
     lambda p: os.symlink("/dev/zero", p), "is a symlink"),
]


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """`tracklog …` as the script runs it: (exit code, stdout, stderr)."""
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def _dest_is_clean(dest: Path) -> list[str]:
    """Every DEST data file is a readable segment of whole events; returns the event kinds."""
    log = EventLog.open(str(dest), durability="none")
    try:
        return sorted(type(e).__name__ for stream in ("control", "metric") for p in log.files(stream)
                      for e in log.read_events(p))
    finally:
        log.close()


@pytest.mark.parametrize(("case", "pick", "damage", "message"), DAMAGED, ids=[c[0] for c in DAMAGED])
def test_a_damaged_segment_is_skipped_with_a_warning_naming_it(tmp_path, capsys, case, pick, damage, message):
    """The rest is copied exactly once; nothing lands outside DEST; the CLI warns in one line."""
    store, dest = tmp_path / "store" / "src", tmp_path / "store" / "dest"
    _source(store)
    path = pick(store)
    damage(path)
    intact = _dest_is_clean_src(store, path)
    code, out, err = _cli(capsys, "sync", str(store), str(dest))
    assert code == 0, err
    warnings = [line for line in err.splitlines() if line]
    assert len(warnings) == 1 and warnings[0].startswith("warning: skipped ") and str(path) in warnings[0], err
    assert message in warnings[0]
    assert "Traceback" not in err
    assert _dest_is_clean(dest) == intact
    assert sorted(p.name for p in (tmp_path / "store").iterdir()) == ["a.txt", "dest", "src"]  # nothing escaped
    again = sync(str(store), str(dest))
    assert again.events == 0 and _dest_is_clean(dest) == intact  # copied once; a new process warns again
    assert any(str(path) in w for w in again.warnings)


def _dest_is_clean_src(store: Path, damaged: Path) -> list[str]:
    """The event kinds of SRC's undamaged files, plus the sync's own record."""
    log = EventLog.open(str(store), durability="none")
    try:
        kinds = [type(e).__name__ for stream in ("control", "metric") for p in log.files(stream)
                 if (store / p) != damaged for e in log.read_events(p)]
    finally:
        log.close()
    return sorted([*kinds, "SourceImported"])


def test_a_segment_with_a_writer_id_that_climbs_out_was_written_outside_dest_before(tmp_path):
    """The regression itself: a writer id is read from the rows and becomes a file name."""
    store, dest = tmp_path / "a" / "src", tmp_path / "a" / "dest"
    _source(store)
    _rewrite(_metric(store), _column("writer_id", lambda n: pa.array(["../../../../escaped"] * n)))
    report = sync(str(store), str(dest))
    assert not list(tmp_path.rglob("escaped*"))
    assert "writer id '../../../../escaped' is not a plain name" in report.warnings[0]
    with pytest.raises(eventlog.errors.InvalidValueError, match="no segment name for writer id '../x'"):
        eventlog.writer.segment_path("metric", "../x", 0, 0)


# ---- compaction commits ----------------------------------------------------------------------


def test_a_commit_that_is_not_json_stops_the_sync_naming_it(tmp_path, capsys):
    """Without its commits nobody knows which files are live: copying could duplicate events."""
    store, dest = tmp_path / "src", tmp_path / "dest"
    _source(store)
    commit = store / "_commits" / "stream=metric" / "00000000.json"
    commit.parent.mkdir(parents=True)
    commit.write_text("{not json")
    code, out, err = _cli(capsys, "sync", str(store), str(dest))
    assert code == 1 and out == ""
    assert err.startswith(f"error: {commit} is not a valid compaction commit: JSON is malformed") and err.count("\n") == 1
    assert not list(dest.glob("events/**/*.parquet"))  # DEST untouched


def test_a_huge_commit_file_is_refused_without_reading_it_whole(tmp_path):
    """A 4 GB (sparse) commit file: read up to the cap, then a typed error; in a child process
    whose address space is capped, so reading it whole fails the test instead of swapping."""
    store, dest = tmp_path / "src", tmp_path / "dest"
    _source(store)
    commit = store / "_commits" / "stream=control" / "00000000.json"
    commit.parent.mkdir(parents=True)
    with open(commit, "wb") as fh:
        fh.truncate(4 << 30)
    done = subprocess.run([sys.executable, "-c", "from tracklog.cli import main; main()", "sync", str(store), str(dest)],
                          capture_output=True, text=True, timeout=120, preexec_fn=_limit_memory,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 1, done.stderr[-2000:]
    assert done.stderr == f"error: {commit} is over 67,108,864 bytes, more than such a file ever holds\n"


def test_commits_naming_files_outside_the_store_are_never_read(tmp_path):
    """A commit may only hide files of its own store: names outside it are neither read nor
    listed, and (consumed) make no file of SRC disappear."""
    store, dest = tmp_path / "src", tmp_path / "dest"
    _source(store)
    outside = tmp_path / "outside.parquet"
    pq.write_table(pa.table({"a": [1]}), outside)
    commit = store / "_commits" / "stream=metric" / "00000000.json"
    commit.parent.mkdir(parents=True)
    commit.write_text(json.dumps({"number": 0, "consumed": ["../outside.parquet", "/etc/passwd"],
                                  "produced": [str(outside), "../outside.parquet", "/etc/passwd"]}))
    report = sync(str(store), str(dest))
    assert report.warnings == []
    assert _dest_is_clean(dest) == _dest_is_clean_src(store, Path())


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (1_500_000_000, 1_500_000_000))


# ---- artifacts ----------------------------------------------------------------------------------


def test_symlinks_fifos_and_foreign_bytes_in_the_artifacts_are_not_copied(tmp_path, capsys):
    """A symlink (to a file or a folder outside SRC, or dangling) is not followed, a FIFO not
    opened (it would block for ever), and a file whose bytes are not what its run recorded is
    not copied: each with a warning naming it; the intact artifact comes over."""
    store, dest = tmp_path / "src", tmp_path / "dest"
    _source(store)
    folder = _artifact_dir(store)
    secret = tmp_path / "secret.txt"
    secret.write_text("not yours")
    os.symlink(secret, folder / "leak.txt")
    os.symlink(tmp_path, folder / "outside")
    os.symlink(tmp_path / "nowhere", folder / "dangling.txt")
    os.mkfifo(folder / "pipe")
    code = ("import sys; from tracklog.cli import main; main(sys.argv[1:])")
    done = subprocess.run([sys.executable, "-c", code, "sync", str(store), str(dest)], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr[-2000:]
    copied = sorted(p.relative_to(dest).as_posix() for p in dest.glob("artifacts/**/*") if not p.is_dir())
    assert [c.rsplit("/", 1)[-1] for c in copied] == ["a.txt"]
    assert (dest / copied[0]).read_text() == "hello"
    warned = done.stderr.splitlines()
    assert len(warned) == 3, done.stderr
    for name, why in (("leak.txt", "is a symlink"), ("dangling.txt", "is a symlink"),
                      ("pipe", "is a FIFO, not a regular file")):
        assert any(line.startswith("warning: artifact ") and f"{name} not copied" in line and why in line
                   for line in warned), done.stderr


def test_an_artifact_whose_bytes_differ_from_what_its_run_recorded_is_not_copied(tmp_path):
    store, dest = tmp_path / "src", tmp_path / "dest"
    _source(store)
    path = _artifact_dir(store) / "a.txt"
    path.unlink()
    path.write_text("HELLO")
    report = sync(str(store), str(dest))
    assert report.artifacts == 0
    assert report.warnings == [
        f"artifact {store}/{path.relative_to(store).as_posix()} not copied: it has 5 bytes with sha256 "
        f"{hashlib.sha256(b'HELLO').hexdigest()}, but its run recorded 5 bytes with sha256 "
        f"{hashlib.sha256(b'hello').hexdigest()}"]
    assert not list(dest.glob("artifacts/**/a.txt")) and not list(dest.glob("_staging/*"))


def test_artifact_names_with_dotdot_in_an_object_store_source_are_not_copied(tmp_path):
    """An object store's keys may hold ``..``: such a name would land outside a local DEST."""
    fs = fsspec.filesystem("memory")
    fs.pipe("/hostile-src/artifacts/1/r/artifacts/ok.txt", b"ok")
    fs.pipe("/hostile-src/artifacts/x.txt", b"escape")
    fs.store["/hostile-src/artifacts/../../escaped.txt"] = fs.store.pop("/hostile-src/artifacts/x.txt")
    try:
        report = sync("memory://hostile-src", str(tmp_path / "a" / "dest"))
    finally:
        fs.rm("/hostile-src", recursive=True)
    assert report.artifacts == 1 and not list(tmp_path.rglob("escaped.txt"))
    assert report.warnings == ["artifact memory://hostile-src/artifacts/../../escaped.txt not copied: artifact path "
                               "'artifacts/../../escaped.txt' has a '..' segment; expected a relative path with '/' "
                               "between names that stays inside the run's artifact folder"]


def test_a_large_artifact_is_streamed_not_read_whole(tmp_path):
    """Peak memory of a sync copying a 256 MB artifact stays within 64 MB of one copying none."""
    def peak(store: Path) -> int:
        code = ("import resource, sys; from tracklog.transfer import sync; sync(sys.argv[1], sys.argv[2]);"
                "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
        done = subprocess.run([sys.executable, "-c", code, str(store), str(store) + "-dest"], capture_output=True,
                              text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True)
        return int(done.stdout) * 1024

    small, big = tmp_path / "small", tmp_path / "big"
    _source(small)
    _source(big)
    with open(_artifact_dir(big) / "big.bin", "wb") as fh:
        fh.truncate(256 << 20)
    assert peak(big) - peak(small) < 64 << 20
    assert os.path.getsize(next((tmp_path / "big-dest").glob("artifacts/**/big.bin"))) == 256 << 20


# ---- writer id collisions ------------------------------------------------------------------------


def test_a_writer_id_collision_stops_the_sync_and_changes_nothing(tmp_path, monkeypatch, capsys):
    """Two stores whose writers shared an id hold different events under the same identities:
    copying would silently drop SRC's (DEST "has" them). The sync stops before publishing."""
    monkeypatch.setattr(eventlog.writer, "uuid7", lambda: "0190aaaa-0000-7000-8000-000000000001")
    src, dest = tmp_path / "src", tmp_path / "dest"
    for store, name in ((src, "mine"), (dest, "theirs")):
        client = tracklog.Client(str(store))
        run = client.create_run(client.create_experiment(name))
        client.log_metric(run.info.run_id, "m", 1.0, step=0)
        client.set_terminated(run.info.run_id)
        client.flush()
    monkeypatch.undo()
    before = {p: p.read_bytes() for root in (src, dest) for p in root.rglob("*") if p.is_file() and "_cache" not in p.parts}
    code, out, err = _cli(capsys, "sync", str(src), str(dest))
    assert code == 1 and out == "" and err.count("\n") == 1
    assert err.startswith(f"error: writer id collision: {src}/events/stream=control/")
    assert "has event 0190aaaa-0000-7000-8000-000000000001#0 at ts" in err and "two writers shared an id" in err
    after = {p: p.read_bytes() for root in (src, dest) for p in root.rglob("*") if p.is_file() and "_cache" not in p.parts
             and "_claims" not in p.parts and "_wal" not in p.parts}
    assert after == {p: d for p, d in before.items() if "_claims" not in p.parts and "_wal" not in p.parts}
    with pytest.raises(TransferError, match="writer id collision"):
        sync(str(src), str(dest))


def test_local_store_reads_refuse_fifos_and_symlinks(tmp_path):
    (tmp_path / "s").mkdir()
    store = LocalStore(str(tmp_path / "s"))
    os.mkfifo(tmp_path / "s" / "fifo")
    os.symlink("/etc/hostname", tmp_path / "s" / "link")
    with pytest.raises(CorruptFileError, match="fifo is a FIFO, not a regular file"):
        store.read_bytes("fifo")
    with pytest.raises(CorruptFileError, match="link is a symlink"):
        store.read_bytes("link")
    with pytest.raises(CorruptFileError, match="would name a file outside the store"):
        store.publish("../x", b"x")
