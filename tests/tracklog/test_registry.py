"""The model registry: MLflow's API and errors, URIs, search, time travel, SQL views, concurrency."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import pytest

import tracklog
from eventlog.errors import AlreadyExistsError, InvalidInputError, NotFoundError
from query.filter import FilterSyntaxError
from tracklog.registry import (
    ModelAliasNotFoundError,
    ModelVersionNotFoundError,
    RegisteredModelAlreadyExistsError,
    RegisteredModelNotFoundError,
)


@pytest.fixture
def client(tmp_path):
    tracklog.set_tracking_uri(str(tmp_path / "store"))
    yield tracklog.Client()
    tracklog.set_tracking_uri(None)


def _versions(client, name, n, source="s3://bucket/model"):
    return [client.create_model_version(name, f"{source}/{i}", run_id=f"run{i}") for i in range(n)]


def test_registered_model_lifecycle(client) -> None:
    created = client.create_registered_model("fraud", tags={"team": "risk"}, description="first")
    assert (created.name, created.description, created.tags) == ("fraud", "first", {"team": "risk"})
    with pytest.raises(RegisteredModelAlreadyExistsError, match=r"Registered Model \(name=fraud\) already exists"):
        client.create_registered_model("fraud")
    client.update_registered_model("fraud", description="second")
    renamed = client.rename_registered_model("fraud", "fraud-v2")
    assert renamed.description == "second" and renamed.tags == {"team": "risk"}
    with pytest.raises(RegisteredModelNotFoundError, match="name=fraud not found"):
        client.get_registered_model("fraud")
    client.create_registered_model("fraud")  # the old name is free after a rename
    with pytest.raises(RegisteredModelAlreadyExistsError):
        client.rename_registered_model("fraud", "fraud-v2")
    _versions(client, "fraud-v2", 2)
    client.delete_registered_model("fraud-v2")
    with pytest.raises(RegisteredModelNotFoundError):
        client.get_model_version("fraud-v2", 1)
    client.create_registered_model("fraud-v2")  # a new model under the name: versions start again
    assert client.create_model_version("fraud-v2", "/tmp/x").version == 1


def test_versions_numbers_stages_and_latest(client) -> None:
    client.create_registered_model("m")
    assert [v.version for v in _versions(client, "m", 3)] == [1, 2, 3]
    v2 = client.get_model_version("m", "2")
    assert (v2.source, v2.run_id, v2.current_stage, v2.status) == ("s3://bucket/model/1", "run1", "None", "READY")
    client.update_model_version("m", 2, description="good")
    assert client.get_model_version("m", 2).description == "good"
    client.transition_model_version_stage("m", 1, "production")
    client.transition_model_version_stage("m", 2, "Production", archive_existing_versions=True)
    assert client.get_model_version("m", 1).current_stage == "Archived"
    latest = {v.current_stage: v.version for v in client.get_latest_versions("m")}
    assert latest == {"Archived": 1, "Production": 2, "None": 3}
    assert [v.version for v in client.get_latest_versions("m", stages=["staging"])] == []
    client.delete_model_version("m", 3)
    with pytest.raises(ModelVersionNotFoundError, match=r"Model Version \(name=m, version=3\) not found"):
        client.get_model_version("m", 3)
    assert client.create_model_version("m", "/x").version == 4  # numbers are never reused
    with pytest.raises(InvalidInputError, match="Invalid Model Version stage: 'Prod'"):
        client.transition_model_version_stage("m", 2, "Prod")
    with pytest.raises(InvalidInputError, match="must be an integer"):
        client.get_model_version("m", "two")


def test_aliases(client) -> None:
    client.create_registered_model("m")
    _versions(client, "m", 2)
    client.set_registered_model_alias("m", "champion", 1)
    client.set_registered_model_alias("m", "champion", "2")  # moved
    client.set_registered_model_alias("m", "challenger", 1)
    assert client.get_model_version_by_alias("m", "champion").version == 2
    assert client.get_registered_model("m").aliases == {"champion": 2, "challenger": 1}
    assert client.get_model_version("m", 1).aliases == ["challenger"]
    client.delete_registered_model_alias("m", "challenger")
    with pytest.raises(ModelAliasNotFoundError, match="alias challenger not found for model m"):
        client.get_model_version_by_alias("m", "challenger")
    client.delete_model_version("m", 2)  # takes its aliases with it, as MLflow does
    with pytest.raises(ModelAliasNotFoundError):
        client.get_model_version_by_alias("m", "champion")
    for bad, message in (("latest", "'latest' alias name"), ("LATEST", "reserved"), ("v3", "Version alias name"),
                         ("a b", "Invalid alias name"), ("", "cannot be empty")):
        with pytest.raises(InvalidInputError, match=message):
            client.set_registered_model_alias("m", bad, 1)
    with pytest.raises(ModelVersionNotFoundError):
        client.set_registered_model_alias("m", "x", 9)
    with pytest.raises(RegisteredModelNotFoundError):
        client.set_registered_model_alias("nope", "x", 1)


def test_tags(client) -> None:
    client.create_registered_model("m")
    _versions(client, "m", 1)
    client.set_registered_model_tag("m", "owner", "ann")
    client.set_model_version_tag("m", 1, "validated", True)
    assert client.get_registered_model("m").tags == {"owner": "ann"}
    assert client.get_model_version("m", 1).tags == {"validated": "True"}
    client.delete_model_version_tag("m", 1, "validated")
    client.delete_registered_model_tag("m", "owner")
    assert client.get_model_version("m", 1).tags == {} and client.get_registered_model("m").tags == {}
    with pytest.raises(NotFoundError, match="No tag with name: owner"):
        client.delete_registered_model_tag("m", "owner")


@pytest.mark.parametrize(("name", "message"), [("", "needs a name"), ("a/b", "cannot contain"), ("a:b", "cannot contain")])
def test_bad_model_names(client, name, message) -> None:
    with pytest.raises(InvalidInputError, match=message):
        client.create_registered_model(name)


def test_search(client) -> None:
    for name, team in (("fraud-a", "risk"), ("fraud-b", "risk"), ("churn", "growth")):
        client.create_registered_model(name, tags={"team": team})
        client.create_model_version(name, f"s3://b/{name}", run_id=f"r-{name}")
    client.create_model_version("churn", "s3://b/churn2", run_id="r-churn-2")

    def names(**kw):
        return [m.name for m in client.search_registered_models(**kw)]

    assert names(filter_string="name LIKE 'fraud%'") == ["fraud-a", "fraud-b"]
    assert names(filter_string="name ILIKE 'FRAUD-A'") == ["fraud-a"]
    assert names(filter_string="tags.team = 'growth' OR name = 'fraud-b'") == ["churn", "fraud-b"]
    assert names(order_by=["name DESC"]) == ["fraud-b", "fraud-a", "churn"]
    page = client.search_registered_models(max_results=2)
    rest = client.search_registered_models(max_results=2, page_token=page.token)
    assert [m.name for m in page] + [m.name for m in rest] == ["churn", "fraud-a", "fraud-b"] and rest.token is None

    def versions(f):
        return [(v.name, v.version) for v in client.search_model_versions(f)]

    assert versions("name = 'churn'") == [("churn", 2), ("churn", 1)]
    assert versions("name = 'churn' and version_number > 1") == [("churn", 2)]
    assert versions("run_id IN ('r-fraud-a', 'r-churn-2')") == [("churn", 2), ("fraud-a", 1)]
    assert versions("source_path LIKE '%fraud-b'") == [("fraud-b", 1)]
    with pytest.raises(FilterSyntaxError, match="unknown key 'colour'"):
        client.search_model_versions("colour = 'red'")
    with pytest.raises(FilterSyntaxError, match="col 16"):
        client.search_registered_models("name = 'x' and ")


def test_model_uris_resolve_for_loading(client, tmp_path) -> None:
    pytest.importorskip("sklearn")
    import numpy as np
    from sklearn.linear_model import LinearRegression

    from tracklog.models import sklearn as tl_sklearn

    x = np.arange(6, dtype=float).reshape(3, 2)
    with tracklog.start_run() as run:
        for scale in (1.0, 2.0):
            tl_sklearn.log_model(LinearRegression().fit(x, x.sum(axis=1) * scale), name="m", registered_model_name="reg")
    client.set_registered_model_alias("reg", "champion", 1)
    client.transition_model_version_stage("reg", 2, "Staging")

    def predicted(uri):
        return round(float(tl_sklearn.load_model(uri).predict(x[:1])[0]), 6)

    assert predicted("models:/reg/1") == 1.0 and predicted("models:/reg/2") == 2.0
    assert predicted("models:/reg@champion") == 1.0
    assert predicted("models:/reg/latest") == 2.0
    assert predicted("models:/reg/Staging") == 2.0
    version = tracklog.register_model(f"runs:/{run.info.run_id}/m", "copy")
    assert version.run_id == run.info.run_id and version.source.startswith("models:/m-")
    copied = client.copy_model_version("models:/reg@champion", "copied")
    assert copied.version == 1 and copied.model_id == client.get_model_version("reg", 1).model_id
    assert client.get_model_version_download_uri("reg", 1).endswith("/artifacts")
    with pytest.raises(ModelAliasNotFoundError):
        tl_sklearn.load_model("models:/reg@nobody")
    with pytest.raises(ModelVersionNotFoundError, match="no version in stage Production"):
        tl_sklearn.load_model("models:/reg/Production")


def test_time_travel_answers_what_the_registry_looked_like(client) -> None:
    client.create_registered_model("m")
    _versions(client, "m", 2)
    client.set_registered_model_alias("m", "champion", 1)
    time.sleep(0.01)
    between = int(time.time() * 1000)
    time.sleep(0.01)
    client.set_registered_model_alias("m", "champion", 2)
    client.delete_model_version("m", 1)
    assert client.get_model_version_by_alias("m", "champion", as_of=between).version == 1
    assert client.get_model_version_by_alias("m", "champion").version == 2
    assert client.get_model_version("m", 1, as_of=between).version == 1
    assert [v.version for v in client.search_model_versions("name = 'm'", as_of=between)] == [2, 1]
    with pytest.raises(RegisteredModelNotFoundError):
        client.get_registered_model("m", as_of=0)
    rows = tracklog.sql("SELECT alias, version FROM model_aliases", as_of=between).fetchall()
    assert rows == [("champion", 1)]
    history = tracklog.sql("SELECT kind, version, alias FROM registry_history WHERE alias = 'champion' "
                           "ORDER BY ts").fetchall()
    assert history == [("ModelAliasSet", 1, "champion"), ("ModelAliasSet", 2, "champion")]


def test_sql_views_agree_with_the_api(client) -> None:
    client.create_registered_model("a", tags={"k": "v"}, description="d")
    client.create_registered_model("b")
    _versions(client, "a", 3)
    client.rename_registered_model("b", "b2")
    _versions(client, "b2", 1)
    client.delete_model_version("a", 2)
    client.transition_model_version_stage("a", 3, "Production")
    client.set_model_version_tag("a", 1, "t", "1")
    client.set_registered_model_alias("a", "best", 3)
    client.create_registered_model("gone")
    client.delete_registered_model("gone")
    models = [(n, d, dict(t)) for n, d, t in
              tracklog.sql("SELECT name, description, tags FROM registered_models ORDER BY name").fetchall()]
    assert models == [(m.name, m.description or "", m.tags) for m in client.search_registered_models()]
    versions = [(*row[:5], dict(row[5])) for row in tracklog.sql(
        "SELECT name, version, current_stage, source, run_id, tags FROM model_versions ORDER BY name, version DESC"
    ).fetchall()]
    assert versions == [(v.name, v.version, v.current_stage, v.source, v.run_id, v.tags)
                        for v in client.search_model_versions()]
    assert tracklog.sql("SELECT name, alias, version FROM model_aliases").fetchall() == [("a", "best", 3)]
    kinds = [k for (k,) in tracklog.sql("SELECT kind FROM registry_history WHERE name = 'gone' ORDER BY ts").fetchall()]
    assert kinds == ["RegisteredModelCreated", "RegisteredModelDeleted"]


def test_eight_processes_register_at_once_get_versions_1_to_n(tmp_path) -> None:
    store = tmp_path / "store"
    script = textwrap.dedent(f"""
        import sys, tracklog
        tracklog.set_tracking_uri({str(store)!r})
        sys.stdin.readline()  # start together
        for i in range(5):
            print(tracklog.register_model("/models/p" + sys.argv[1], "shared").version, flush=True)
    """)
    procs = [subprocess.Popen([sys.executable, "-c", script, str(i)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(8)]
    time.sleep(1.5)  # let them import
    for p in procs:
        p.stdin.write("go\n")
        p.stdin.flush()
    outputs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err[-500:] for _, err in outputs]
    numbers = sorted(int(line) for out, _ in outputs for line in out.split())
    assert numbers == list(range(1, 41))
    tracklog.set_tracking_uri(str(store))
    try:
        versions = tracklog.Client().search_model_versions("name = 'shared'")
        assert sorted(v.version for v in versions) == list(range(1, 41))
        assert {v.source for v in versions} == {f"/models/p{i}" for i in range(8)}
    finally:
        tracklog.set_tracking_uri(None)


def test_registry_tables_follow_another_process_and_agree_with_the_events(client, tmp_path) -> None:
    """The registry's folded tables, read after another process moved an alias, deleted a version,
    tagged one and renamed the model, read as those events recomputed whole (``as_of`` now) do."""
    client.create_registered_model("m")
    _versions(client, "m", 3)
    client.set_registered_model_alias("m", "champion", 1)
    client.set_registered_model_alias("m", "old", 3)
    assert client.get_model_version_by_alias("m", "champion").version == 1  # this process's tables are built
    script = textwrap.dedent(f"""
        import tracklog
        tracklog.set_tracking_uri({str(tmp_path / "store")!r})
        c = tracklog.Client()
        c.set_registered_model_alias("m", "champion", 2)
        c.delete_model_version("m", 3)
        c.set_model_version_tag("m", 2, "k", "v")
        c.rename_registered_model("m", "m2")
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    found = client.get_model_version_by_alias("m2", "champion")
    assert (found.name, found.version, found.tags, found.aliases) == ("m2", 2, {"k": "v"}, ["champion"])
    with pytest.raises(RegisteredModelNotFoundError):
        client.get_registered_model("m")
    with pytest.raises(ModelAliasNotFoundError):
        client.get_model_version_by_alias("m2", "old")
    now = time.time() * 1000 + 60_000  # epoch ms: as_of recomputes from the events, the plain read uses the tables
    assert client.search_model_versions("name = 'm2'") == client.search_model_versions("name = 'm2'", as_of=now)
    assert client.get_registered_model("m2") == client.get_registered_model("m2", as_of=now)
    assert [v.version for v in client.search_model_versions("name = 'm2'")] == [2, 1]


def test_cli(client, tmp_path) -> None:
    from click.testing import CliRunner

    from tracklog.cli import cli

    store = tracklog.get_tracking_uri()
    runner = CliRunner()

    def run(*args):
        result = runner.invoke(cli, ["models", *args, "--store", store])
        assert result.exit_code == 0, result.output
        return result.output

    assert "registered reg version 1 from" in run("register", "-m", str(tmp_path), "-n", "reg", "--tag", "a=b")
    run("register", "-m", str(tmp_path), "-n", "reg")
    assert "reg@prod -> version 2" in run("alias", "reg", "prod", "2")
    listing = run("list")
    assert "reg" in listing and "prod->2" in listing
    assert run("versions", "reg").splitlines()[2].split()[:3] == ["2", "None", "prod"]
    history = run("history", "reg")
    assert "ModelAliasSet" in history and "ModelVersionCreated" in history
    result = runner.invoke(cli, ["models", "versions", "nope", "--store", store])
    assert result.exit_code != 0 and isinstance(result.exception, RegisteredModelNotFoundError)


def test_error_classes_are_the_shared_tree() -> None:
    assert issubclass(RegisteredModelNotFoundError, NotFoundError)
    assert issubclass(RegisteredModelAlreadyExistsError, AlreadyExistsError)

