"""One contract for every storage backend: local folder, memory://, a real S3 server."""

from __future__ import annotations

import json
import pathlib
import threading

import fsspec
import pytest
from fsspec.implementations.memory import MemoryFileSystem

from eventlog import EventLog, StoreNotFoundError, StoreURIError, UnsupportedStoreError, open_store
from eventlog.storage import check_store_uri, is_data_path

URI_CASES = json.loads((pathlib.Path(__file__).parent.parent / "fixtures" / "store_uri_cases.json").read_text())


def test_publish_creates_once_and_never_overwrites(store_uri: str) -> None:
    store = open_store(store_uri)
    assert store.publish("events/stream=metric/date=2026-01-01/w-000000000000.parquet", b"first")
    assert not store.publish("events/stream=metric/date=2026-01-01/w-000000000000.parquet", b"second")
    assert store.read_bytes("events/stream=metric/date=2026-01-01/w-000000000000.parquet") == b"first"


def test_listing_skips_names_starting_with_underscore_or_dot(store_uri: str) -> None:
    store = open_store(store_uri)
    for path in ("events/stream=control/date=2026-01-01/a.parquet", "events/stream=control/_tmp/b.parquet",
                 "events/stream=control/date=2026-01-01/.hidden.parquet", "events/stream=control/date=2026-01-02/c.parquet"):
        store.publish(path, b"x")
    assert store.list_files("events/stream=control") == [
        "events/stream=control/date=2026-01-01/a.parquet",
        "events/stream=control/date=2026-01-02/c.parquet",
    ]
    assert store.list_files("events/stream=metric") == []


def test_exists_and_delete(store_uri: str) -> None:
    store = open_store(store_uri)
    store.publish("_claims/x/1", b"v")
    assert store.exists("_claims/x/1")
    store.delete("_claims/x/1")
    store.delete("_claims/x/1")  # deleting twice is fine
    assert not store.exists("_claims/x/1")


def test_concurrent_publishers_of_one_name_have_exactly_one_winner(store_uri: str) -> None:
    store = open_store(store_uri)
    results: list[bool] = []
    barrier = threading.Barrier(6)

    def race(i: int) -> None:
        barrier.wait()
        results.append(store.publish("_claims/race/name", str(i).encode()))

    threads = [threading.Thread(target=race, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(True) == 1
    assert store.read_bytes("_claims/race/name") in {str(i).encode() for i in range(6)}


def test_local_publish_leaves_no_staging_files(tmp_path) -> None:
    store = open_store(str(tmp_path))
    store.publish("events/a.parquet", b"1")
    store.publish("events/a.parquet", b"2")
    assert list((tmp_path / "_staging").iterdir()) == []


class _OverwritingFS(MemoryFileSystem):
    """A filesystem whose exclusive create silently overwrites, as some object stores do."""

    protocol = "overwriting"

    def _open(self, path, mode="rb", **kwargs):
        return super()._open(path, mode.replace("x", "w"), **kwargs)


def test_a_store_without_put_if_absent_is_refused_at_open() -> None:
    fsspec.register_implementation("overwriting", _OverwritingFS, clobber=True)
    with pytest.raises(UnsupportedStoreError, match="does not support put-if-absent"):
        open_store("overwriting://somewhere")


def test_unknown_protocols_and_server_urls_get_clear_errors() -> None:
    with pytest.raises(UnsupportedStoreError, match="no filesystem for 'nosuchfs'"):
        open_store("nosuchfs://bucket/x")
    with pytest.raises(UnsupportedStoreError, match="tracking server URL"):
        open_store("http://localhost:5000")


@pytest.mark.parametrize(("path", "data"), [
    ("events/stream=metric/date=2026-01-01/w-1.parquet", True),
    ("events/_staging/w-1.parquet", False),
    ("events/stream=metric/.w-1.parquet", False),
    ("_wal/w.wal", False),
])
def test_is_data_path(path: str, data: bool) -> None:
    assert is_data_path(path) is data


def test_an_unreachable_object_store_is_a_clear_storage_error(monkeypatch) -> None:
    pytest.importorskip("s3fs")
    import socket

    from eventlog import StorageError

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    with pytest.raises(StorageError, match="cannot write to the store 's3://nowhere/x'"):
        open_store("s3://nowhere/x", skip_instance_cache=True)


@pytest.mark.parametrize("uri", URI_CASES["accepted"])
def test_store_uris_that_are_meant(uri: str) -> None:
    check_store_uri(uri)


@pytest.mark.parametrize(("uri", "suggestion"), URI_CASES["refused"])
def test_a_mistyped_scheme_is_refused_with_a_suggestion(uri: str, suggestion: str | None) -> None:
    """`s3:/bucket` would be a local folder named `s3:`, `memroy://` a missing filesystem: both say what was meant."""
    with pytest.raises(StoreURIError) as caught:
        open_store(uri)
    message = str(caught.value)
    assert message.startswith(repr(uri)) and "tracklog[s3]" not in message
    if suggestion is None:
        assert "did you mean" not in message
    else:
        assert suggestion in message
    assert isinstance(caught.value, ValueError)  # bad input, as well as an unusable store


def test_a_missing_filesystem_package_names_what_to_install() -> None:
    """Only s3:// suggests tracklog's s3 extra; another protocol names its own package."""
    import importlib.util

    if importlib.util.find_spec("gcsfs") is not None:
        pytest.skip("gcsfs is installed here")
    with pytest.raises(UnsupportedStoreError, match="no filesystem for gs:// in 'gs://b/x': Please install gcsfs") as caught:
        open_store("gs://b/x")
    assert "tracklog[s3]" not in str(caught.value)


def test_opening_or_reading_a_local_store_creates_nothing(tmp_path) -> None:
    missing = tmp_path / "not" / "there"
    log = EventLog.open(str(missing))
    assert not log.exists() and log.files("metric") == [] and log.files("control") == []
    with pytest.raises(StoreNotFoundError, match=f"no tracklog store at {missing}: the folder does not exist"):
        log.require_exists()
    assert not (tmp_path / "not").exists()
    log.close()


def test_a_file_is_not_a_store(tmp_path) -> None:
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(UnsupportedStoreError, match="is a file, not a folder"):
        open_store(str(tmp_path / "notes.txt"))
