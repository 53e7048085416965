"""Artifacts: logging, listing, downloading and loading a run's files, on every backend."""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import tracemalloc
import uuid

import pytest

import tracklog
from tracklog import artifacts
from tracklog.entities import FileInfo
from tracklog.exceptions import (
    ArtifactNotFoundError,
    InvalidArtifactPathError,
    InvalidInputError,
    InvalidKeyError,
    InvalidValueError,
    RunNotActiveError,
    RunNotFoundError,
    StorageError,
)

CASES = json.loads((pathlib.Path(__file__).parent.parent / "fixtures" / "artifact_path_cases.json").read_text())


@pytest.fixture
def client(tracking_uri: str) -> tracklog.Client:
    return tracklog.Client()


@pytest.fixture
def run_id(client: tracklog.Client) -> str:
    return client.create_run("0").info.run_id


@pytest.fixture
def files(tmp_path: pathlib.Path) -> pathlib.Path:
    """A local folder: a.txt, data/x.bin, data/deep/y.bin."""
    root = tmp_path / "src"
    (root / "data" / "deep").mkdir(parents=True)
    (root / "a.txt").write_text("alpha")
    (root / "data" / "x.bin").write_bytes(os.urandom(3000))
    (root / "data" / "deep" / "y.bin").write_bytes(b"y" * 17)
    return root


def _sha(path: pathlib.Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _local(uri: str) -> pathlib.Path:
    assert uri.startswith("file://"), uri
    return pathlib.Path(uri.removeprefix("file://"))


def _tree(root: pathlib.Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


# ---- paths --------------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "expected"), CASES["accepted"])
def test_validate_accepts_and_normalises(path: str, expected: str) -> None:
    assert artifacts.validate_artifact_path(path) == expected


@pytest.mark.parametrize(("path", "problem"), CASES["refused"])
def test_validate_refuses_paths_that_could_escape(path: str, problem: str) -> None:
    with pytest.raises(InvalidArtifactPathError) as info:
        artifacts.validate_artifact_path(path)
    assert problem in str(info.value) and repr(path) in str(info.value)
    assert isinstance(info.value, InvalidInputError)


def test_validate_none_and_non_strings() -> None:
    assert artifacts.validate_artifact_path(None) == ""
    with pytest.raises(InvalidArtifactPathError, match="must be a string, got int 5"):
        artifacts.validate_artifact_path(5)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", ["../escape", "/tmp/abs", "a\\b", "C:/x", "a//b", "%2e%2e/x"])
def test_every_entry_point_refuses_escaping_paths(client: tracklog.Client, run_id: str, files: pathlib.Path,
                                                  tmp_path: pathlib.Path, bad: str) -> None:
    """Nothing is written anywhere when a path is refused, whichever function got it."""
    before = _tree(tmp_path)
    calls = [
        lambda: client.log_artifact(run_id, files / "a.txt", bad),
        lambda: client.log_artifacts(run_id, files, bad),
        lambda: client.log_text(run_id, "x", f"{bad}/f.txt" if not bad.startswith("/") else bad),
        lambda: client.log_dict(run_id, {"a": 1}, bad),
        lambda: client.log_table(run_id, {"a": [1]}, f"{bad}.json"),
        lambda: client.list_artifacts(run_id, bad),
        lambda: client.download_artifacts(run_id, bad, str(tmp_path / "dl")),
        lambda: artifacts.download_artifacts(run_id=run_id, artifact_path=bad, dst_path=str(tmp_path / "dl")),
        lambda: artifacts.load_text(f"runs:/{run_id}/{bad}"),
    ]
    for call in calls:
        with pytest.raises(InvalidArtifactPathError, match="expected a relative path"):
            call()
    assert _tree(tmp_path) - before <= {p for p in _tree(tmp_path) if p.startswith("tracking/")}
    assert client.list_artifacts(run_id) == []


def test_the_local_api_never_follows_a_symlink_out_of_a_run(client: tracklog.Client, tmp_path: pathlib.Path) -> None:
    """Links in a run's artifact folder (to the filesystem, to another run's folder or file) are
    not listed, not downloaded, not read: the run's own files are."""
    runs = [client.create_run("0").info.run_id for _ in range(2)]
    for run_id in runs:
        client.log_text(run_id, f"{run_id}'s", "own.txt")
    a, b = runs
    a_dir, b_dir = (_local(client.get_run(r).info.artifact_uri) for r in runs)
    outside = tmp_path / "outside.txt"
    outside.write_text("secret")
    os.symlink(outside, a_dir / "leak.txt")
    os.symlink(b_dir, a_dir / "other")
    os.symlink(b_dir / "own.txt", a_dir / "theirs.txt")
    assert [f.path for f in client.list_artifacts(a)] == ["own.txt"]
    assert [f.path for f in tracklog.artifacts.list_artifacts(run_id=a)] == ["own.txt"]
    got = pathlib.Path(client.download_artifacts(a, "", str(tmp_path / "dl")))
    assert _tree(got) == {"own.txt"}
    for attempt in (lambda: client.list_artifacts(a, "other"),
                    lambda: client.download_artifacts(a, "other", str(tmp_path / "dl2")),
                    lambda: client.download_artifacts(a, "theirs.txt", str(tmp_path / "dl3")),
                    lambda: tracklog.artifacts.download_artifacts(run_id=a, artifact_path="leak.txt", dst_path=str(tmp_path)),
                    lambda: tracklog.artifacts.load_text(f"runs:/{a}/leak.txt"),
                    lambda: tracklog.artifacts.load_text(f"runs:/{a}/other/own.txt"),
                    lambda: tracklog.artifacts.download_artifacts(f"runs:/{a}/theirs.txt", dst_path=str(tmp_path / "dl4"))):
        with pytest.raises(InvalidArtifactPathError, match="symbolic link"):
            attempt()
    assert tracklog.artifacts.load_text(f"runs:/{a}/own.txt") == f"{a}'s"
    assert not any(p.name in ("leak.txt", "theirs.txt") for p in tmp_path.rglob("*") if p.parent != a_dir)


def test_download_refuses_remote_names_that_would_escape(tmp_path: pathlib.Path) -> None:
    """An object store key such as ``a/../../evil`` cannot place a file outside the download folder."""
    import fsspec

    root = f"memory://tracklog-{uuid.uuid4().hex}/art"
    fs = fsspec.filesystem("memory")
    fs.pipe(f"{root}/ok.txt", b"fine")
    fs.pipe(f"{root}/a/../../evil.txt", b"evil")
    with pytest.raises(InvalidArtifactPathError, match="'..' segment"):
        artifacts.download(root, tmp_path / "dl")
    assert not list(tmp_path.rglob("evil.txt"))


def test_upload_refuses_local_names_that_are_not_artifact_paths(client: tracklog.Client, run_id: str,
                                                                 tmp_path: pathlib.Path) -> None:
    (tmp_path / "odd").mkdir()
    (tmp_path / "odd" / "back\\slash.txt").write_text("x")
    with pytest.raises(InvalidArtifactPathError, match=r"'back\\\\slash.txt' contains a backslash"):
        client.log_artifacts(run_id, tmp_path / "odd")
    assert client.list_artifacts(run_id) == []


# ---- logging, listing, downloading ----------------------------------------------------------


def test_log_artifact_layout_matches_mlflow(client: tracklog.Client, run_id: str, files: pathlib.Path) -> None:
    """A file lands in artifact_path, a folder as artifact_path/<name>, log_artifacts puts the
    folder's contents; every one at <artifact_uri>/<path>, where MLflow would put it."""
    client.log_artifact(run_id, files / "a.txt")
    client.log_artifact(run_id, str(files / "a.txt"), "sub/dir")
    client.log_artifact(run_id, files / "data", "copies")
    client.log_artifacts(run_id, files / "data", "flat")
    root = _local(client.get_run(run_id).info.artifact_uri)
    assert _tree(root) == {
        "a.txt", "sub", "sub/dir", "sub/dir/a.txt",
        "copies", "copies/data", "copies/data/x.bin", "copies/data/deep", "copies/data/deep/y.bin",
        "flat", "flat/x.bin", "flat/deep", "flat/deep/y.bin",
    }
    assert (root / "flat" / "x.bin").read_bytes() == (files / "data" / "x.bin").read_bytes()


def test_artifacts_view_records_size_sha256_and_actor(client: tracklog.Client, run_id: str,
                                                      files: pathlib.Path, monkeypatch) -> None:
    client.log_artifacts(run_id, files, "in")
    rows = tracklog.sql("SELECT run_id, path, size, sha256, actor FROM artifacts ORDER BY path").fetchall()
    expected = sorted(("in/" + p.relative_to(files).as_posix(), p) for p in files.rglob("*") if p.is_file())
    assert [(r[0], r[1], r[2], r[3]) for r in rows] == [
        (run_id, rel, p.stat().st_size, _sha(p)) for rel, p in expected
    ]
    assert {r[4] for r in rows} == {client.store.log.writer.actor}
    events = tracklog.sql("SELECT count(*) FROM events WHERE kind = 'ArtifactLogged'").fetchall()
    assert events == [(3,)]


def test_relogging_a_path_replaces_the_file_and_its_record(client: tracklog.Client, run_id: str,
                                                           tmp_path: pathlib.Path) -> None:
    client.log_text(run_id, "first", "f.txt")
    client.log_text(run_id, "second!", "f.txt")
    assert artifacts.load_text(f"runs:/{run_id}/f.txt") == "second!"
    assert tracklog.sql("SELECT size, sha256 FROM artifacts").fetchall() == [
        (7, hashlib.sha256(b"second!").hexdigest())
    ]
    assert tracklog.sql("SELECT count(*) FROM events WHERE kind = 'ArtifactLogged'").fetchall() == [(2,)]


def test_list_artifacts(client: tracklog.Client, run_id: str, files: pathlib.Path) -> None:
    client.log_artifacts(run_id, files)
    assert client.list_artifacts(run_id) == [
        FileInfo(path="a.txt", is_dir=False, file_size=5),
        FileInfo(path="data", is_dir=True, file_size=None),
    ]
    assert client.list_artifacts(run_id, "data/") == [
        FileInfo(path="data/deep", is_dir=True, file_size=None),
        FileInfo(path="data/x.bin", is_dir=False, file_size=3000),
    ]
    assert client.list_artifacts(run_id, "nothing/here") == []
    assert client.list_artifacts(run_id, "a.txt") == []  # a file, as MLflow
    assert artifacts.list_artifacts(f"runs:/{run_id}/data") == [
        FileInfo(path="deep", is_dir=True, file_size=None), FileInfo(path="x.bin", is_dir=False, file_size=3000)
    ]
    assert artifacts.list_artifacts(run_id=run_id, artifact_path="data/deep") == [
        FileInfo(path="data/deep/y.bin", is_dir=False, file_size=17)
    ]


def test_download_artifacts(client: tracklog.Client, run_id: str, files: pathlib.Path, tmp_path: pathlib.Path) -> None:
    empty = pathlib.Path(client.download_artifacts(run_id, "", str(tmp_path / "empty")))
    assert empty.is_dir() and not list(empty.iterdir())  # nothing logged yet: an empty folder
    client.log_artifacts(run_id, files)
    dst = tmp_path / "dl"
    assert client.download_artifacts(run_id, "data/x.bin", str(dst)) == str(dst / "data" / "x.bin")
    assert (dst / "data" / "x.bin").read_bytes() == (files / "data" / "x.bin").read_bytes()
    folder = pathlib.Path(client.download_artifacts(run_id, "data"))  # a new temporary folder
    assert folder.name == "data" and _tree(folder) == {"x.bin", "deep", "deep/y.bin"}
    whole = pathlib.Path(client.download_artifacts(run_id, "", str(tmp_path / "all")))
    assert whole == tmp_path / "all" and _tree(whole) == _tree(files)
    by_uri = artifacts.download_artifacts(f"runs:/{run_id}/data/deep", dst_path=str(tmp_path / "u"))
    assert by_uri == str(tmp_path / "u" / "deep") and _tree(pathlib.Path(by_uri)) == {"y.bin"}
    by_id = artifacts.download_artifacts(run_id=run_id, artifact_path="a.txt", dst_path=str(tmp_path / "i"))
    assert pathlib.Path(by_id).read_text() == "alpha"
    with pytest.raises(ArtifactNotFoundError, match=f"run {run_id} has no artifact 'missing.txt'"):
        client.download_artifacts(run_id, "missing.txt", str(dst))
    with pytest.raises(FileNotFoundError):  # also catchable as code written for local files expects
        artifacts.download(f"runs:/{run_id}/missing.txt", dst)
    with pytest.raises(InvalidInputError, match="exactly one of artifact_uri or run_id"):
        artifacts.download_artifacts(f"runs:/{run_id}/a.txt", run_id=run_id)
    (tmp_path / "afile").write_text("x")
    with pytest.raises(InvalidInputError, match="is a file; expected a folder"):
        client.download_artifacts(run_id, "a.txt", str(tmp_path / "afile"))


def test_bad_local_input_and_bad_runs(client: tracklog.Client, run_id: str, files: pathlib.Path,
                                      tmp_path: pathlib.Path) -> None:
    missing = tmp_path / "nope.txt"
    with pytest.raises(InvalidInputError, match=f"cannot upload '{missing}': it does not exist"):
        client.log_artifact(run_id, missing)
    with pytest.raises(InvalidInputError, match="log_artifacts takes a folder, but .* is a file"):
        client.log_artifacts(run_id, files / "a.txt")
    with pytest.raises(RunNotFoundError, match="'f00d' not found"):
        client.log_artifact("f00d", files / "a.txt")
    client.delete_run(run_id)
    with pytest.raises(RunNotActiveError, match="must be in the 'active' state"):
        client.log_text(run_id, "x", "x.txt")
    with pytest.raises(InvalidValueError, match="log_text takes a str, got bytes"):
        client.log_text(run_id, b"x", "x.txt")  # type: ignore[arg-type]


# ---- streaming, atomicity, progress ---------------------------------------------------------


def _big_file(path: pathlib.Path, size: int) -> pathlib.Path:
    block = os.urandom(1 << 20)
    with open(path, "wb") as fh:
        for _ in range(size >> 20):
            fh.write(block)
    return path


def test_transfers_stream_in_chunks(tmp_path: pathlib.Path, monkeypatch) -> None:
    """Uploading and downloading a 24 MB file never holds more than about one 256 KB chunk in memory."""
    monkeypatch.setattr(artifacts, "CHUNK_SIZE", 256 << 10)
    src = _big_file(tmp_path / "big.bin", 24 << 20)
    tracemalloc.start()
    try:
        written = artifacts.upload(src, str(tmp_path / "store"))
        _, up_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        monkeypatch.delattr(os, "sendfile", raising=False)  # the Python path of a download, too
        artifacts.download(f"file://{tmp_path}/store/big.bin", tmp_path / "back")
        _, down_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert written == [("big.bin", 24 << 20, _sha(src))]
    assert (tmp_path / "back" / "big.bin").read_bytes() == src.read_bytes()
    assert up_peak < 2 << 20, up_peak
    assert down_peak < 2 << 20, down_peak


@pytest.mark.parametrize("size", [0, 1, 1023, 1024, 1025, 2049, 3072, 5 * 1024 + 7])
def test_sizes_around_the_chunk_round_trip_with_the_right_sha256(tmp_path: pathlib.Path, monkeypatch, size: int) -> None:
    """Files above two chunks are hashed on a second thread while the next chunk is copied:
    the digest and the bytes still match, at every size around a chunk boundary."""
    monkeypatch.setattr(artifacts, "CHUNK_SIZE", 1024)
    data = os.urandom(size)
    (tmp_path / "f.bin").write_bytes(data)
    for dest in (str(tmp_path / "up"), f"memory://tracklog-{uuid.uuid4().hex}/up"):
        assert artifacts.upload(tmp_path / "f.bin", dest) == [("f.bin", size, hashlib.sha256(data).hexdigest())]
        got = artifacts.download(f"{dest}/f.bin", tmp_path / uuid.uuid4().hex)
        assert got.read_bytes() == data


@pytest.mark.parametrize("backend", ["local", "memory", "s3"])
def test_a_failed_upload_leaves_nothing(tmp_path: pathlib.Path, monkeypatch, request, backend: str) -> None:
    """A transfer that fails midway leaves neither the file nor a partial one (S3: the multipart
    upload is aborted, not completed)."""
    monkeypatch.setattr(artifacts, "CHUNK_SIZE", 1 << 10)
    src = tmp_path / "f.bin"
    src.write_bytes(b"z" * 10_000)
    dest = {"local": str(tmp_path / "dest"), "memory": f"memory://tracklog-{uuid.uuid4().hex}/dest"}.get(backend)
    if dest is None:
        request.getfixturevalue("s3_endpoint")
        dest = f"s3://tracklog-tests/{uuid.uuid4().hex}/dest"
    calls = []

    def fail_midway(n: int) -> None:
        calls.append(n)
        if len(calls) == 3:
            raise OSError("disk on fire")

    monkeypatch.setattr(artifacts, "_ignore", fail_midway)
    with pytest.raises(StorageError, match=rf"cannot upload '{src}' to .*f.bin: OSError: disk on fire"):
        artifacts.upload(src, dest)
    assert artifacts.list_uri(dest) == []
    if backend == "local":
        assert not (tmp_path / "dest").exists() or not list((tmp_path / "dest").iterdir())


def test_progress_bar_only_when_asked_or_large(tmp_path: pathlib.Path, capsys, monkeypatch) -> None:
    src = tmp_path / "f.bin"
    src.write_bytes(b"p" * 5000)
    artifacts.upload(src, str(tmp_path / "quiet"))
    assert capsys.readouterr().err == ""
    artifacts.upload(src, str(tmp_path / "loud"), progress=True)
    assert "upload f.bin" in capsys.readouterr().err
    monkeypatch.setattr(artifacts, "PROGRESS_THRESHOLD", 1000)
    artifacts.download(str(tmp_path / "loud" / "f.bin"), tmp_path / "dl")
    assert "download f.bin" in capsys.readouterr().err
    monkeypatch.setenv("TRACKLOG_PROGRESS", "0")
    artifacts.download(str(tmp_path / "loud" / "f.bin"), tmp_path / "dl2")
    assert capsys.readouterr().err == ""


# ---- backends -------------------------------------------------------------------------------


def test_round_trip_on_every_backend(store_uri: str, files: pathlib.Path, tmp_path: pathlib.Path) -> None:
    """Events and artifacts in the same store: a folder, memory:// or S3."""
    client = tracklog.Client(store_uri)
    run_id = client.create_run("0").info.run_id
    root = client.get_run(run_id).info.artifact_uri
    assert root.endswith(f"/artifacts/0/{run_id}/artifacts")
    client.log_artifacts(run_id, files, "in")
    client.log_text(run_id, "note", "notes/n.txt")
    assert [f.path for f in client.list_artifacts(run_id)] == ["in", "notes"]
    assert client.list_artifacts(run_id, "in/data") == [
        FileInfo(path="in/data/deep", is_dir=True, file_size=None),
        FileInfo(path="in/data/x.bin", is_dir=False, file_size=3000),
    ]
    back = pathlib.Path(client.download_artifacts(run_id, "in", str(tmp_path / "back")))
    assert all((back / rel).read_bytes() == (files / rel).read_bytes() for rel in ("a.txt", "data/x.bin", "data/deep/y.bin"))
    assert artifacts.load_text(f"{root}/notes/n.txt") == "note"
    rows = client.connect().execute("SELECT path, size, sha256 FROM artifacts ORDER BY path").fetchall()
    assert rows[0] == ("in/a.txt", 5, _sha(files / "a.txt")) and len(rows) == 4


def test_events_local_artifacts_on_s3(s3_endpoint: str, tmp_path: pathlib.Path, files: pathlib.Path) -> None:
    """With an artifact root on S3, new experiments (and runs of experiment 0) keep their files
    there while the events stay in the local folder."""
    import boto3

    prefix = uuid.uuid4().hex
    tracklog.set_artifact_root(f"s3://tracklog-tests/{prefix}/artifacts/")
    try:
        client = tracklog.Client(str(tmp_path / "events"))
        exp_id = client.create_experiment("remote-artifacts")
        assert client.get_experiment(exp_id).artifact_location == f"s3://tracklog-tests/{prefix}/artifacts/{exp_id}"
        run_id = client.create_run(exp_id).info.run_id
        default_run = client.create_run("0").info.run_id
    finally:
        tracklog.set_artifact_root(None)
    assert client.get_run(default_run).info.artifact_uri.startswith(f"s3://tracklog-tests/{prefix}/artifacts/0/")
    client.log_artifacts(run_id, files)
    client.log_dict(run_id, {"k": [1, 2]}, "cfg/params.yaml")
    keys = sorted(o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket="tracklog-tests", Prefix=prefix)["Contents"])
    base = f"{prefix}/artifacts/{exp_id}/{run_id}/artifacts"
    assert keys == [f"{base}/a.txt", f"{base}/cfg/params.yaml", f"{base}/data/deep/y.bin", f"{base}/data/x.bin"]
    assert not (tmp_path / "events" / "artifacts").exists()
    assert artifacts.load_dict(f"s3://tracklog-tests/{base}/cfg/params.yaml") == {"k": [1, 2]}
    back = client.download_artifacts(run_id, "data", str(tmp_path / "back"))
    assert pathlib.Path(back, "x.bin").read_bytes() == (files / "data" / "x.bin").read_bytes()
    assert client.connect().execute("SELECT count(*) FROM artifacts").fetchall() == [(4,)]


def test_artifact_root_from_the_environment(tmp_path: pathlib.Path, monkeypatch) -> None:
    monkeypatch.setenv("TRACKLOG_ARTIFACT_ROOT", str(tmp_path / "elsewhere"))
    assert tracklog.get_artifact_root() == f"file://{tmp_path}/elsewhere"
    client = tracklog.Client(str(tmp_path / "events"))
    exp_id = client.create_experiment("x")
    assert client.get_experiment(exp_id).artifact_location == f"file://{tmp_path}/elsewhere/{exp_id}"
    assert client.get_experiment("0").artifact_location == f"file://{tmp_path}/events/artifacts/0"  # fixed
    monkeypatch.delenv("TRACKLOG_ARTIFACT_ROOT")
    assert tracklog.get_artifact_root() is None
    assert client.get_experiment(client.create_experiment("y")).artifact_location.startswith(f"file://{tmp_path}/events/artifacts/")


def test_generic_layer_on_memory(files: pathlib.Path, tmp_path: pathlib.Path) -> None:
    dest = f"memory://tracklog-{uuid.uuid4().hex}/up"
    written = artifacts.upload(files, dest)
    assert written == [(p.relative_to(files).as_posix(), p.stat().st_size, _sha(p))
                       for p in sorted(files.rglob("*"), key=lambda p: p.relative_to(files).as_posix()) if p.is_file()]
    assert artifacts.upload(files / "a.txt", f"{dest}/single") == [("a.txt", 5, _sha(files / "a.txt"))]
    assert [f.path for f in artifacts.list_uri(dest)] == ["a.txt", "data", "single"]
    got = artifacts.download(dest, tmp_path / "dl")
    assert got == tmp_path / "dl" / "up" and _tree(got) == _tree(files) | {"single", "single/a.txt"}
    with pytest.raises(ArtifactNotFoundError, match="no artifact at memory://"):
        artifacts.download(f"{dest}/missing", tmp_path / "dl")
    assert artifacts.list_uri(f"{dest}/missing") == []


# ---- URIs -----------------------------------------------------------------------------------


def test_resolve_artifact_uri(client: tracklog.Client, run_id: str, tmp_path: pathlib.Path, monkeypatch) -> None:
    root = client.get_run(run_id).info.artifact_uri
    assert artifacts.resolve_artifact_uri(f"runs:/{run_id}/a/b.txt") == f"{root}/a/b.txt"
    assert artifacts.resolve_artifact_uri(f"runs:/{run_id}") == root
    assert artifacts.resolve_artifact_uri("s3://b/k") == "s3://b/k"
    monkeypatch.chdir(tmp_path)
    assert artifacts.resolve_artifact_uri("rel/x") == str(tmp_path / "rel" / "x")
    with pytest.raises(InvalidInputError, match="expected runs:/<run_id>/<path>"):
        artifacts.resolve_artifact_uri("runs:/")
    with pytest.raises(RunNotFoundError):
        artifacts.resolve_artifact_uri("runs:/0123abcd/x")
    calls = []

    def model_dirs(rid: str, path: str, tracking_uri: str | None) -> str | None:
        calls.append((rid, path))
        return "memory://models/m" if path == "model" else None

    monkeypatch.setattr(artifacts, "RUNS_URI_RESOLVERS", [model_dirs, *artifacts.RUNS_URI_RESOLVERS])
    assert artifacts.resolve_artifact_uri(f"runs:/{run_id}/model") == "memory://models/m"
    assert artifacts.resolve_artifact_uri(f"runs:/{run_id}/other") == f"{root}/other"
    assert calls == [(run_id, "model"), (run_id, "other")]


def test_mlflow_reads_what_tracklog_wrote_and_back(client: tracklog.Client, run_id: str, files: pathlib.Path,
                                                    tmp_path: pathlib.Path) -> None:
    """The layout is MLflow's: its LocalArtifactRepository on the run's artifact URI sees the same
    files, and a file it writes there is listed and downloaded by tracklog."""
    pytest.importorskip("mlflow")
    from mlflow.store.artifact.local_artifact_repo import LocalArtifactRepository

    client.log_artifacts(run_id, files, "in")
    repo = LocalArtifactRepository(client.get_run(run_id).info.artifact_uri)
    assert [(f.path, f.is_dir, f.file_size) for f in repo.list_artifacts("in")] == [
        (f.path, f.is_dir, f.file_size) for f in client.list_artifacts(run_id, "in")
    ]
    (tmp_path / "m").mkdir()
    got = repo.download_artifacts("in/data/x.bin", str(tmp_path / "m"))
    assert pathlib.Path(got).read_bytes() == (files / "data" / "x.bin").read_bytes()
    repo.log_artifact(str(files / "a.txt"), "by-mlflow")
    assert client.list_artifacts(run_id, "by-mlflow") == [FileInfo(path="by-mlflow/a.txt", is_dir=False, file_size=5)]


# ---- text, dicts, figures, images, tables -------------------------------------------------


def test_log_text_and_dict(client: tracklog.Client, run_id: str) -> None:
    import yaml

    client.log_text(run_id, "héllo\n", "t/readme.md")
    client.log_dict(run_id, {"b": [1, 2], "a": {"x": "y"}}, "cfg.json")
    client.log_dict(run_id, {"b": [1, 2], "a": {"x": "y"}}, "cfg.yaml")
    client.log_dict(run_id, {"when": pathlib.Path("/p")}, "noext")  # JSON, stringified
    root = _local(client.get_run(run_id).info.artifact_uri)
    assert (root / "t" / "readme.md").read_text(encoding="utf-8") == "héllo\n"
    assert json.loads((root / "cfg.json").read_text()) == {"b": [1, 2], "a": {"x": "y"}}
    assert yaml.safe_load((root / "cfg.yaml").read_text()) == {"b": [1, 2], "a": {"x": "y"}}
    assert artifacts.load_dict(f"runs:/{run_id}/cfg.yaml") == artifacts.load_dict(f"runs:/{run_id}/cfg.json")
    assert artifacts.load_dict(f"runs:/{run_id}/noext") == {"when": "/p"}
    assert artifacts.load_text(f"runs:/{run_id}/t/readme.md") == "héllo\n"
    with pytest.raises(InvalidValueError, match="log_dict cannot write 'bad.yaml' as YAML"):
        client.log_dict(run_id, {"obj": object()}, "bad.yaml")
    with pytest.raises(InvalidValueError, match="holds a list, expected an object"):
        client.log_text(run_id, "[1]", "list.json")
        artifacts.load_dict(f"runs:/{run_id}/list.json")
    with pytest.raises(ArtifactNotFoundError, match="no artifact file at runs:/"):
        artifacts.load_text(f"runs:/{run_id}/missing.txt")
    with pytest.raises(ArtifactNotFoundError):
        artifacts.load_text(f"runs:/{run_id}/t")  # a folder


def test_log_figure_matplotlib(client: tracklog.Client, run_id: str) -> None:
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([0, 1], [2, 3])
    client.log_figure(run_id, fig, "plots/line.png")
    client.log_figure(run_id, fig, "plots/line.svg", save_kwargs={"transparent": True})
    plt.close(fig)
    root = _local(client.get_run(run_id).info.artifact_uri)
    assert (root / "plots" / "line.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"<svg" in (root / "plots" / "line.svg").read_bytes()
    with pytest.raises(InvalidValueError, match="cannot save 'plots/line.xyz'"):
        client.log_figure(run_id, fig, "plots/line.xyz")
    with pytest.raises(InvalidValueError, match="takes a matplotlib.figure.Figure or a plotly.* got dict"):
        client.log_figure(run_id, {}, "f.png")


def test_log_figure_plotly(client: tracklog.Client, run_id: str) -> None:
    go = pytest.importorskip("plotly.graph_objects", reason="plotly is not installed in this environment")
    client.log_figure(run_id, go.Figure(go.Scatter(x=[0, 1], y=[2, 3])), "plots/p.html")
    assert "plotly" in artifacts.load_text(f"runs:/{run_id}/plots/p.html")
    with pytest.raises(InvalidValueError, match="saves a plotly figure as .html"):
        client.log_figure(run_id, go.Figure(), "plots/p.txt")


def test_log_image_static(client: tracklog.Client, run_id: str) -> None:
    np = pytest.importorskip("numpy")
    from PIL import Image

    pixels = np.random.default_rng(0).integers(0, 256, size=(12, 20, 3), dtype=np.uint8)
    client.log_image(run_id, Image.fromarray(pixels), "img/pil.png")
    client.log_image(run_id, pixels, "img/np.png")
    client.log_image(run_id, np.linspace(0, 1, 20 * 12).reshape(12, 20), "img/gray.png")
    client.log_image(run_id, np.ones((4, 4, 1), dtype=bool), "img/mask.png")
    for name in ("pil", "np"):
        assert (np.asarray(artifacts.load_image(f"runs:/{run_id}/img/{name}.png")) == pixels).all()
    assert artifacts.load_image(f"runs:/{run_id}/img/gray.png").size == (20, 12)
    assert np.asarray(artifacts.load_image(f"runs:/{run_id}/img/mask.png")).max() == 255
    with pytest.warns(UserWarning, match="rescaled by min/max"):
        client.log_image(run_id, np.array([[0.0, 2.0]]), "img/scaled.png")
    with pytest.raises(InvalidValueError, match=r"integer pixels must be in \[0, 255\], found 0 to 300"):
        client.log_image(run_id, np.array([[0, 300]]), "img/bad.png")
    with pytest.raises(InvalidValueError, match=r"must be H x W or H x W x 1, 3 or 4, got shape \(2, 2, 2\)"):
        client.log_image(run_id, np.zeros((2, 2, 2)), "img/bad.png")
    with pytest.raises(InvalidValueError, match="takes a numpy.ndarray, a PIL.Image.Image or an mlflow.Image, got list"):
        client.log_image(run_id, [[0]], "img/bad.png")
    with pytest.raises(InvalidValueError, match="cannot save 'img/x.nope'"):
        client.log_image(run_id, pixels, "img/x.nope")
    with pytest.raises(InvalidValueError, match="is not an image PIL can read"):
        client.log_text(run_id, "text", "img/t.png")
        artifacts.load_image(f"runs:/{run_id}/img/t.png")


def test_log_image_time_stepped_layout(client: tracklog.Client, run_id: str) -> None:
    """MLflow's layout: images/<key with / as ~>+step+<n>+timestamp+<ms>+<uuid>.png, a
    +compressed.webp thumbnail (longer side 256), and the run tag mlflow.loggedImages."""
    np = pytest.importorskip("numpy")
    image = np.zeros((300, 512, 3), dtype=np.uint8)
    client.log_image(run_id, image, key="val/sample", step=7, timestamp=1_700_000_000_000)
    client.log_image(run_id, image, key="val/sample", step=8)
    names = [f.path for f in client.list_artifacts(run_id, "images")]
    assert len(names) == 4
    first = [n for n in names if "+step+7+" in n]
    stem = first[0].removesuffix("+compressed.webp").removesuffix(".png")
    assert stem.startswith("images/val~sample+step+7+timestamp+1700000000000+")
    assert uuid.UUID(stem.rsplit("+", 1)[1])
    assert sorted(first) == [f"{stem}+compressed.webp", f"{stem}.png"]
    assert artifacts.load_image(f"runs:/{run_id}/{stem}+compressed.webp").size == (256, 150)
    assert artifacts.load_image(f"runs:/{run_id}/{stem}.png").size == (512, 300)
    assert client.get_run(run_id).data.tags["mlflow.loggedImages"] == "True"
    with pytest.raises(InvalidInputError, match="exactly one of artifact_file .* or key"):
        client.log_image(run_id, image)
    with pytest.raises(InvalidInputError, match="exactly one of artifact_file"):
        client.log_image(run_id, image, "a.png", key="k")
    with pytest.raises(InvalidKeyError, match="key 'bad:key' may hold only"):
        client.log_image(run_id, image, key="bad:key", step=1)


def test_log_table_appends_and_load_table(client: tracklog.Client, tracking_uri: str) -> None:
    pd = pytest.importorskip("pandas")
    first, second = (client.create_run("0").info.run_id for _ in range(2))
    client.log_table(first, {"q": ["a", "b"], "score": [0.1, 0.2]}, "eval/table.json")
    client.log_table(first, pd.DataFrame({"q": ["c"], "score": [0.3]}), "eval/table.json")
    client.log_table(second, {"q": "z", "score": 1.0}, "eval/table.json")  # scalars: one row
    client.log_table(second, {"q": ["p"], "score": [0.5]}, "t.parquet")
    client.log_table(second, {"q": ["r"], "score": [0.6]}, "t.parquet")
    raw = json.loads(artifacts.load_text(f"runs:/{first}/eval/table.json"))
    assert raw["columns"] == ["q", "score"] and raw["data"] == [["a", 0.1], ["b", 0.2], ["c", 0.3]]  # MLflow's "split"
    tag = json.loads(client.get_run(first).data.tags["mlflow.loggedArtifacts"])
    assert tag == [{"path": "eval/table.json", "type": "table"}]
    both = client.load_table("0", "eval/table.json", extra_columns=["run_id"])
    assert sorted(zip(both.q, both.run_id, strict=True)) == [("a", first), ("b", first), ("c", first), ("z", second)]
    only = tracklog.load_table("eval/table.json", run_ids=[second])
    assert only.to_dict("list") == {"q": ["z"], "score": [1.0]}
    assert tracklog.load_table("t.parquet").q.tolist() == ["p", "r"]
    with pytest.raises(ArtifactNotFoundError, match="logged a table 'missing.json' with log_table"):
        tracklog.load_table("missing.json")
    with pytest.raises(InvalidArtifactPathError, match="a table is a .json or .parquet file"):
        client.log_table(first, {"a": [1]}, "t.csv")
    with pytest.raises(InvalidValueError, match="takes a dict or a pandas.DataFrame, got list"):
        client.log_table(first, [1, 2], "t.json")
    with pytest.raises(InvalidInputError, match="no run column 'nope'"):
        client.load_table("0", "eval/table.json", extra_columns=["nope"])


def test_fluent_api(tracking_uri: str, files: pathlib.Path) -> None:
    with tracklog.start_run() as run:
        tracklog.log_artifact(files / "a.txt", "x")
        tracklog.log_artifacts(files / "data", "y")
        tracklog.log_text("t", "t.txt")
        tracklog.log_dict({"a": 1}, "d.json")
        tracklog.log_table({"a": [1]}, "tab.json")
        uri = tracklog.get_artifact_uri()
        assert tracklog.get_artifact_uri("x/a.txt") == f"{uri}/x/a.txt"
    assert uri == tracklog.get_run(run.info.run_id).info.artifact_uri
    tracklog.log_text("later", "late.txt", run_id=run.info.run_id)  # to an ended run, by id
    assert tracklog.active_run() is None
    names = [f.path for f in tracklog.MlflowClient().list_artifacts(run.info.run_id)]
    assert names == ["d.json", "late.txt", "t.txt", "tab.json", "x", "y"]
    assert tracklog.load_table("tab.json").a.tolist() == [1]
    with tracklog.start_run():
        pytest.importorskip("numpy")
        import numpy as np

        tracklog.log_image(np.zeros((2, 2)), "z.png")
        tracklog.log_image(np.zeros((2, 2)), key="k", step=1)
