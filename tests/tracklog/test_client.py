"""Client: MlflowClient's tracking operations."""

from __future__ import annotations

import pytest

import tracklog
from tracklog import Metric, Param, RunStatus, RunTag, ViewType
from tracklog.exceptions import (
    ExperimentAlreadyExistsError,
    ExperimentNotActiveError,
    InvalidValueError,
)


@pytest.fixture
def client(tracking_uri: str) -> tracklog.Client:
    return tracklog.Client()


def test_experiments_lifecycle(client: tracklog.Client) -> None:
    exp_id = client.create_experiment("a", tags={"owner": "me"})
    exp = client.get_experiment(exp_id)
    assert exp.name == "a" and exp.tags == {"owner": "me"} and exp.lifecycle_stage == "active"
    assert exp.artifact_location.endswith(f"/artifacts/{exp_id}")
    with pytest.raises(ExperimentAlreadyExistsError, match="Experiment 'a' already exists"):
        client.create_experiment("a")
    client.rename_experiment(exp_id, "b")
    assert client.get_experiment_by_name("a") is None
    assert client.get_experiment_by_name("b").experiment_id == exp_id
    assert client.create_experiment("a") != exp_id  # the old name is free again
    client.delete_experiment(exp_id)
    with pytest.raises(ExperimentAlreadyExistsError, match="already exists in deleted state"):
        client.create_experiment("b")
    with pytest.raises(ExperimentNotActiveError, match="must be in the 'active' state"):
        client.create_run(exp_id)
    client.restore_experiment(exp_id)
    client.set_experiment_tag(exp_id, "k", "v")
    client.delete_experiment_tag(exp_id, "owner")
    assert client.get_experiment(exp_id).tags == {"k": "v"}


def test_search_experiments_views_order_and_pages(client: tracklog.Client) -> None:
    ids = [client.create_experiment(f"e{i}") for i in range(5)]
    client.delete_experiment(ids[0])
    active = client.search_experiments()
    assert [e.experiment_id for e in active][:4] == ids[1:][::-1]  # newest first
    assert {e.experiment_id for e in client.search_experiments(view_type=ViewType.DELETED_ONLY)} == {ids[0]}
    assert len(client.search_experiments(view_type=ViewType.ALL)) == 6  # with Default
    by_name = client.search_experiments(order_by=["name ASC"], view_type=ViewType.ALL)
    assert [e.name for e in by_name] == ["Default", "e0", "e1", "e2", "e3", "e4"]
    page1 = client.search_experiments(max_results=2, order_by=["name"])
    page2 = client.search_experiments(max_results=2, order_by=["name"], page_token=page1.token)
    page3 = client.search_experiments(max_results=2, order_by=["name"], page_token=page2.token)
    assert [e.name for e in [*page1, *page2, *page3]] == ["Default", "e1", "e2", "e3", "e4"]
    assert page3.token is None
    with pytest.raises(tracklog.InvalidInputError, match="unknown key 'size'; expected an attribute"):
        client.search_experiments(order_by=["size DESC"])
    with pytest.raises(InvalidValueError, match="page_token 'garbage'"):
        client.search_experiments(page_token="garbage")


def test_run_lifecycle_through_the_client(client: tracklog.Client) -> None:
    run = client.create_run("0", tags={"mlflow.runName": "named-by-tag", "k": "v"})
    run_id = run.info.run_id
    assert run.info.status == RunStatus.RUNNING and run.info.run_name == "named-by-tag"
    assert len(run_id) == 32 and run.info.run_uuid == run_id
    client.update_run(run_id, name="renamed")
    assert client.get_run(run_id).data.tags["mlflow.runName"] == "renamed"
    client.set_terminated(run_id, "FAILED", end_time=123)
    got = client.get_run(run_id)
    assert got.info.status == RunStatus.FAILED and got.info.end_time == 123
    client.update_run(run_id, status="RUNNING")
    assert client.get_run(run_id).info.end_time is None
    with pytest.raises(InvalidValueError, match="run status must be one of"):
        client.set_terminated(run_id, "DONE")


def test_log_batch_and_metric_history(client: tracklog.Client) -> None:
    run_id = client.create_run("0").info.run_id
    client.log_batch(
        run_id,
        metrics=[Metric(key="loss", value=1.0 / (s + 1), timestamp=1000 + s, step=s) for s in (2, 0, 1)],
        params=[Param(key="lr", value="0.1")],
        tags=[RunTag(key="t", value="v")],
    )
    client.log_metric(run_id, "loss", 9.0, timestamp=5, step=1)  # same step, earlier timestamp
    history = client.get_metric_history(run_id, "loss")
    assert [(m.step, m.timestamp) for m in history] == [(0, 1000), (1, 5), (1, 1001), (2, 1002)]
    run = client.get_run(run_id)
    assert run.data.metrics == {"loss": 1.0 / 3} and run.data.params == {"lr": "0.1"} and run.data.tags["t"] == "v"


def test_metric_history_is_in_step_order_whatever_order_the_points_were_folded_in(client: tracklog.Client) -> None:
    """Points folded in several flushes, later ones at lower steps and tied steps, come back by
    (step, timestamp); an unknown run is still an error, a known run without the key is empty."""
    from tracklog.exceptions import RunNotFoundError

    run_id = client.create_run("0").info.run_id
    client.log_batch(run_id, metrics=[Metric(key="loss", value=float(s), timestamp=100 + s, step=s) for s in (5, 9)])
    client.flush()
    client.get_metric_history(run_id, "loss")  # folds the first flush
    client.log_batch(run_id, metrics=[Metric(key="loss", value=-1.0, timestamp=t, step=s) for s, t in ((9, 50), (1, 7), (5, 1))])
    client.flush()
    history = client.get_metric_history(run_id, "loss")
    assert [(m.step, m.timestamp) for m in history] == [(1, 7), (5, 1), (5, 105), (9, 50), (9, 109)]
    assert list(client.get_metric_history(run_id, "nothing")) == []
    with pytest.raises(RunNotFoundError, match="0123abcd"):
        client.get_metric_history("0123abcd", "loss")


def test_latest_metric_is_the_highest_step_not_the_last_logged(client: tracklog.Client) -> None:
    run_id = client.create_run("0").info.run_id
    client.log_metric(run_id, "m", 10.0, step=10)
    client.log_metric(run_id, "m", 5.0, step=5)
    client.flush()
    client.log_metric(run_id, "m", 7.0, step=7)
    assert client.get_run(run_id).data.metrics == {"m": 10.0}


def test_another_process_sees_published_runs(client: tracklog.Client, tracking_uri: str) -> None:
    import subprocess
    import sys

    run_id = client.create_run("0").info.run_id
    client.log_metric(run_id, "m", 1.5)
    client.flush()
    code = f"import tracklog; print(tracklog.Client({tracking_uri!r}).get_run({run_id!r}).data.metrics)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "{'m': 1.5}"


def test_search_experiments_filter(client: tracklog.Client) -> None:
    a = client.create_experiment("alpha", tags={"team": "vision"})
    b = client.create_experiment("beta", tags={"team": "nlp"})
    assert [e.experiment_id for e in client.search_experiments(filter_string="name = 'alpha'")] == [a]
    assert [e.experiment_id for e in client.search_experiments(filter_string="tags.team = 'nlp'")] == [b]
    assert {e.name for e in client.search_experiments(filter_string="name LIKE '%a' or name = 'Default'")} == {"alpha", "beta", "Default"}
    with pytest.raises(tracklog.InvalidInputError, match="experiments are filtered by attributes and tags, not metrics"):
        client.search_experiments(filter_string="metrics.acc > 1")


def test_reads_never_miss_an_event_that_a_concurrent_flush_is_publishing(client: tracklog.Client, monkeypatch) -> None:
    """A read publishes this process's pending events before it lists the store: an event appended
    before the read is seen, even when another flush lands mid-listing and the publish hook never
    told the catalog about the segment."""
    from eventlog import RunTagSet

    store = client.store
    run_id = client.create_run("0").info.run_id
    store.catalog.sync()
    store.log.writer.on_publish.clear()  # no memory of publishing: the segment must be found in the store
    listed = store.log.files

    def list_then_flush(stream):
        files = listed(stream)
        if stream == "metric":  # the listing is over: now a background flush publishes
            store.log.flush()
        return files

    monkeypatch.setattr(store.log, "files", list_then_flush)
    store.log.append(RunTagSet(run_id=run_id, key="late", value="yes"))
    assert client.get_run(run_id).data.tags["late"] == "yes"


def test_search_results_follow_changes_to_cached_runs(tmp_path) -> None:
    """search_runs reuses Run entities between calls, and never a stale one."""
    from tracklog import Client

    client = Client(str(tmp_path))
    run_id = client.create_run("0").info.run_id
    client.log_metric(run_id, "acc", 0.5)
    first = client.search_runs(["0"])
    assert first[0].data.metrics == {"acc": 0.5}
    assert client.search_runs(["0"])[0] is first[0]  # cached: same entity
    client.log_metric(run_id, "acc", 0.9, step=1)
    client.set_tag(run_id, "t", "x")
    again = client.search_runs(["0"])[0]
    assert again.data.metrics == {"acc": 0.9} and again.data.tags["t"] == "x"
    other = client.create_run("0").info.run_id
    assert {r.info.run_id for r in client.search_runs(["0"])} == {run_id, other}
    # a second process's change is seen too
    import subprocess
    import sys

    subprocess.run([sys.executable, "-c", f"import tracklog; c = tracklog.Client({str(tmp_path)!r}); "
                    f"c.set_tag({run_id!r}, 't', 'from-elsewhere'); c.flush()"], check=True, timeout=60)
    assert next(r for r in client.search_runs(["0"]) if r.info.run_id == run_id).data.tags["t"] == "from-elsewhere"


def test_bounded_cache_forgets_the_oldest() -> None:
    from projections.catalog import BoundedCache

    cache = BoundedCache(2)
    for key in "abc":
        cache[key] = key
    assert list(cache) == ["b", "c"]


def test_reads_of_a_store_that_is_not_there_raise_and_create_nothing(tmp_path) -> None:
    """Reading never creates a store: searches and SQL raise StoreNotFoundError naming the folder,
    lookups raise their not-found error saying there is no store; the first write creates it."""
    from tracklog.exceptions import RunNotFoundError, StoreNotFoundError

    missing = str(tmp_path / "no" / "store")
    client = tracklog.Client(missing)
    reads = {
        "search_runs": lambda: client.search_runs(["0"]),
        "search_experiments": lambda: client.search_experiments(),
        "get_metric_history": lambda: client.get_metric_history("0123abcd", "loss"),
        "search_registered_models": lambda: client.search_registered_models(),
        "search_model_versions": lambda: client.search_model_versions(),
        "sql": lambda: tracklog.sql("SELECT 1", uri=missing),
        "connect": lambda: tracklog.connect(missing),
    }
    for name, read in reads.items():
        with pytest.raises(StoreNotFoundError, match=f"no tracklog store at {missing}: the folder does not exist"):
            read()
            pytest.fail(f"{name} read a missing store")
    with pytest.raises(RunNotFoundError, match="where there is no tracklog store"):
        client.get_run("0123abcd")
    assert client.get_experiment_by_name("x") is None  # MLflow's "get it, else create it" idiom keeps working
    assert not (tmp_path / "no").exists()
    exp_id = client.create_experiment("x")
    assert [e.name for e in client.search_experiments()] == ["x", "Default"] and client.get_experiment_by_name("x").experiment_id == exp_id


def test_a_mistyped_tracking_uri_is_refused_where_it_is_set(tmp_path, monkeypatch) -> None:
    from tracklog.exceptions import StoreURIError

    monkeypatch.chdir(tmp_path)
    with pytest.raises(StoreURIError, match=r"did you mean s3://bucket/x\?"):
        tracklog.set_tracking_uri("s3:/bucket/x")
    with pytest.raises(StoreURIError, match=r"did you mean memory://x\?"):
        tracklog.Client("memroy://x")
    assert list(tmp_path.iterdir()) == []


def test_search_runs_scopes_to_one_or_several_experiments(client: tracklog.Client) -> None:
    """One experiment id and a list of them select exactly those experiments' runs, page tokens included."""
    a, b, c = (client.create_experiment(name) for name in ("a", "b", "c"))
    runs = {exp: [client.create_run(exp).info.run_id for _ in range(2)] for exp in (a, b, c)}
    assert {r.info.run_id for r in client.search_runs(b)} == set(runs[b])
    assert {r.info.run_id for r in client.search_runs([a, c])} == set(runs[a] + runs[c])
    first = client.search_runs([b], max_results=1)
    rest = client.search_runs([b], max_results=1, page_token=first.token)
    assert {first[0].info.run_id, rest[0].info.run_id} == set(runs[b]) and rest.token is None
