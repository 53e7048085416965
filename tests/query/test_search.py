"""search_runs: the compiled SQL selects exactly what a plain-Python reading of the filter selects —
in MLflow's order, page after page. MLflow's semantics (its sqlalchemy store): a NaN metric satisfies ``!=`` and no other
comparison, and sorts after every value and before missing ones; a backslash escapes ``%``,
``_`` and itself in LIKE patterns."""

from __future__ import annotations

import math
import random
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tracklog
from query.filter import And, Comparison, Key, Or, to_string
from tracklog import Metric, Param, RunTag, ViewType
from tracklog.entities import DatasetInput, InputTag

METRIC_KEYS = ["acc", "loss", "odd key"]
PARAM_KEYS = ["lr", "opt"]
TAG_KEYS = ["team", "mlflow.user"]
WORDS = ["a", "ab", "Ab", "b_c", "x%y", "", "adam", "sgd", "x_y", "xay", "x\\y", "x%"]


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> tuple[tracklog.Client, str, list]:
    """Forty runs with random metrics, params, tags, statuses and datasets in two experiments."""
    rng = random.Random(7)
    client = tracklog.Client(str(tmp_path_factory.mktemp("search") / "store"))
    exp = client.create_experiment("search")
    for i in range(40):
        run = client.create_run(exp if i % 4 else "0", run_name=rng.choice(WORDS) or f"run{i}", start_time=1000 + rng.randrange(20))
        run_id = run.info.run_id
        metrics = [Metric(key=k, value=rng.choice([0.0, 0.5, 1.0, -2.0, math.inf, math.nan, rng.random()]), timestamp=0,
                          step=0)
                   for k in METRIC_KEYS if rng.random() < 0.7]
        params = [Param(key=k, value=rng.choice(WORDS)) for k in PARAM_KEYS if rng.random() < 0.7]
        tags = [RunTag(key=k, value=rng.choice(WORDS)) for k in TAG_KEYS if rng.random() < 0.7]
        client.log_batch(run_id, metrics=metrics, params=params, tags=tags)
        if rng.random() < 0.3:
            client.log_inputs(run_id, [DatasetInput(
                dataset=tracklog.Dataset(name=rng.choice(["iris", "mnist"]), digest="d"),
                tags=[InputTag(key="mlflow.data.context", value=rng.choice(["training", "eval"]))])])
        client.set_terminated(run_id, rng.choice(["FINISHED", "FAILED", "KILLED"]))
        if rng.random() < 0.1:
            client.delete_run(run_id)
    client.flush()
    runs = [client.get_run(r.info.run_id) for r in client.search_runs([exp, "0"], run_view_type=ViewType.ALL, max_results=1000)]
    return client, exp, runs


def _like(pattern: str, text: str, flags: int = 0) -> bool:
    """PostgreSQL's LIKE: ``%`` any run, ``_`` any one character, a backslash escapes the next."""
    regex = re.sub(r"\\(.)|%|_|[^\\%_]+", lambda m: re.escape(m.group(1)) if m.group(1) is not None
                   else ".*" if m.group() == "%" else "." if m.group() == "_" else re.escape(m.group()), pattern)
    return re.fullmatch(regex, text, flags | re.S) is not None


def _value(run, key: Key):
    if key.entity == "metric":
        return run.data.metrics.get(key.name)
    if key.entity == "param":
        return run.data.params.get(key.name)
    if key.entity == "tag":
        return run.data.tags.get(key.name)
    if key.name in ("start_time", "end_time"):
        return getattr(run.info, key.name)
    return getattr(run.info, key.name)


def _test(op: str, value, target) -> bool:
    if op == "IS NULL":
        return value is None
    if op == "IS NOT NULL":
        return value is not None
    if value is None:
        return False
    if isinstance(value, float) and math.isnan(value):
        return op == "!="  # MLflow: NaN satisfies != and nothing else
    return {
        "=": lambda: value == target, "!=": lambda: value != target, "<": lambda: value < target,
        "<=": lambda: value <= target, ">": lambda: value > target, ">=": lambda: value >= target,
        "LIKE": lambda: _like(target, value), "ILIKE": lambda: _like(target, value, re.I),
        "IN": lambda: value in target, "NOT IN": lambda: value not in target,
    }[op]()


def evaluate(node, run) -> bool:
    """A plain-Python reading of a filter, for comparison with the compiled SQL."""
    if isinstance(node, And):
        return all(evaluate(n, run) for n in node.items)
    if isinstance(node, Or):
        return any(evaluate(n, run) for n in node.items)
    if node.key.entity == "dataset":
        field = {"name": lambda d: d.dataset.name, "digest": lambda d: d.dataset.digest,
                 "context": lambda d: next((t.value for t in d.tags if t.key == "mlflow.data.context"), None)}[node.key.name]
        return any(_test(node.op, field(d), node.value) for d in run.inputs.dataset_inputs)
    return _test(node.op, _value(run, node.key), node.value)


_word = st.sampled_from(WORDS)
_leaf = st.one_of(
    st.builds(lambda k, op, v: Comparison(Key("metric", k), op, v), st.sampled_from(METRIC_KEYS),
              st.sampled_from(["=", "!=", "<", "<=", ">", ">="]), st.sampled_from([0.0, 0.5, 1.0, -2.0, 0.25])),
    st.builds(lambda e, k, op, v: Comparison(Key(e, k), op, v), st.sampled_from(["param", "tag"]),
              st.sampled_from(PARAM_KEYS + TAG_KEYS), st.sampled_from(["=", "!=", "LIKE", "ILIKE"]),
              st.sampled_from(WORDS + ["%b%", "a%", "_b", "A%", "x\\_y", "x\\%", "x\\\\y", "x_y"])),
    st.builds(lambda e, k, op: Comparison(Key(e, k), op, None), st.sampled_from(["param", "tag", "metric"]),
              st.sampled_from(METRIC_KEYS + PARAM_KEYS + TAG_KEYS), st.sampled_from(["IS NULL", "IS NOT NULL"])),
    st.builds(lambda op, v: Comparison(Key("attribute", "status"), op, tuple(v)), st.sampled_from(["IN", "NOT IN"]),
              st.lists(st.sampled_from(["FINISHED", "FAILED", "KILLED"]), min_size=1, max_size=2)),
    st.builds(lambda op, v: Comparison(Key("attribute", "run_name"), op, v), st.sampled_from(["=", "LIKE", "ILIKE", "!="]), _word),
    st.builds(lambda op, v: Comparison(Key("attribute", "start_time"), op, v), st.sampled_from(["<", ">="]),
              st.sampled_from([1005.0, 1010.0])),
    st.builds(lambda k, v: Comparison(Key("dataset", k), "=", v), st.sampled_from(["name", "context"]),
              st.sampled_from(["iris", "mnist", "training", "eval"])),
)
_tree = st.recursive(_leaf, lambda inner: st.one_of(
    st.lists(inner, min_size=2, max_size=3).map(lambda items: And(tuple(items))),
    st.lists(inner, min_size=2, max_size=3).map(lambda items: Or(tuple(items))),
), max_leaves=5)


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(_tree)
def test_compiled_sql_selects_what_python_selects(store, node) -> None:
    client, exp, runs = store
    text = to_string(node)
    got = {r.info.run_id for r in client.search_runs([exp, "0"], text, run_view_type=ViewType.ALL, max_results=1000)}
    want = {r.info.run_id for r in runs if evaluate(node, r)}
    assert got == want, text


def _sort_rank(run, key: Key):
    """MLflow's order: values, then NaN, then missing values (either direction)."""
    value = _value(run, key)
    if value is None:
        return 2, None
    if isinstance(value, float) and math.isnan(value):
        return 1, None
    return 0, value


@pytest.mark.parametrize("order", [["metrics.acc DESC"], ["metrics.loss ASC"], ["params.lr DESC", "metrics.acc ASC"],
                                   ["attributes.run_name"], ["tags.team DESC"], [], ["metrics.`odd key` DESC"],
                                   ["attributes.start_time ASC"]])
def test_order_with_missing_values_last_and_keyset_pages(store, order: list[str]) -> None:
    client, exp, runs = store
    from query.filter import parse_order_by

    def sort_key(run):
        key = []
        for clause in order:
            k, desc = parse_order_by(clause)
            rank, value = _sort_rank(run, k)
            key.append((rank, _Reverse(value) if desc and value is not None else value))
        if not any(parse_order_by(c)[0].name == "start_time" for c in order):
            key.append((0, _Reverse(run.info.start_time)))
        return [*key, run.info.run_id]

    active = [r for r in runs if r.info.lifecycle_stage == "active"]
    want = [r.info.run_id for r in sorted(active, key=sort_key)]
    got, token = [], None
    while True:
        page = client.search_runs([exp, "0"], "", order_by=order, max_results=7, page_token=token)
        got += [r.info.run_id for r in page]
        token = page.token
        if token is None:
            break
    assert got == want


class _Reverse:
    def __init__(self, value) -> None:
        self.value = value

    def __lt__(self, other) -> bool:
        return self.value > other.value

    def __eq__(self, other) -> bool:
        return self.value == other.value


def test_pages_stay_stable_while_runs_are_added(tmp_path) -> None:
    client = tracklog.Client(str(tmp_path))
    ids = []
    for i in range(6):
        run_id = client.create_run("0", start_time=100 + i).info.run_id
        client.log_metric(run_id, "m", float(i))
        ids.append(run_id)
    first = client.search_runs(["0"], "", order_by=["metrics.m DESC"], max_results=3)
    newcomer = client.create_run("0", start_time=1).info.run_id
    client.log_metric(newcomer, "m", 100.0)  # sorts first: must not shift the second page
    second = client.search_runs(["0"], "", order_by=["metrics.m DESC"], max_results=3, page_token=first.token)
    assert [r.info.run_id for r in [*first, *second]] == ids[::-1]
    with pytest.raises(tracklog.InvalidInputError, match="belongs to a different search"):
        client.search_runs(["0"], "metrics.m > 0", order_by=["metrics.m DESC"], page_token=first.token)
    with pytest.raises(tracklog.InvalidInputError, match="not a token this API returned"):
        client.search_runs(["0"], "", page_token="bm9wZQ==")


def test_fluent_search_runs_output_formats(tracking_uri: str) -> None:
    tracklog.set_experiment("formats")
    for i in range(3):
        with tracklog.start_run(run_name=f"r{i}"):
            tracklog.log_params({"lr": i})
            tracklog.log_metric("acc", i / 10)
    df = tracklog.search_runs(order_by=["metrics.acc DESC"])
    assert list(df.columns[:6]) == ["run_id", "experiment_id", "status", "artifact_uri", "start_time", "end_time"]
    assert "metrics.acc" in df.columns and "params.lr" in df.columns and "tags.mlflow.runName" in df.columns
    assert list(df["metrics.acc"]) == [0.2, 0.1, 0.0]
    assert str(df["start_time"].dtype).startswith("datetime64") and "UTC" in str(df["start_time"].dtype)
    runs = tracklog.search_runs(filter_string="params.lr = '1'", output_format="list")
    assert [r.info.run_name for r in runs] == ["r1"]
    assert tracklog.search_runs(output_format="arrow").num_rows == 3
    pl = pytest.importorskip("polars")
    assert isinstance(tracklog.search_runs(output_format="polars"), pl.DataFrame)
    assert len(tracklog.search_runs(experiment_names=["formats"])) == 3
    assert len(tracklog.search_runs(experiment_ids=["0"])) == 0
    assert len(tracklog.search_runs(search_all_experiments=True)) == 3
    with pytest.raises(tracklog.InvalidInputError, match="output_format must be"):
        tracklog.search_runs(output_format="xml")


def test_search_sees_the_processs_own_unflushed_runs(tracking_uri: str) -> None:
    with tracklog.start_run() as run:
        tracklog.log_metric("fresh", 1.0)
        found = tracklog.search_runs(filter_string="metrics.fresh = 1", output_format="list")
        assert [r.info.run_id for r in found] == [run.info.run_id]


def test_nan_metrics_satisfy_only_not_equal_and_sort_after_values(tmp_path) -> None:
    """MLflow's sqlalchemy store: NaN is stored apart from values; only != matches it; it sorts
    after every number and before runs without the metric, ascending and descending alike."""
    client = tracklog.Client(str(tmp_path))
    ids = {}
    for name, value in (("one", 1.0), ("nan", math.nan), ("big", 1e300), ("neg", -5.0)):
        ids[name] = client.create_run("0", run_name=name).info.run_id
        client.log_metric(ids[name], "m", value)
    ids["none"] = client.create_run("0", run_name="none").info.run_id

    def names(filter_string: str, order: list[str] | None = None) -> list[str]:
        return [r.info.run_name for r in client.search_runs(["0"], filter_string, order_by=order)]

    for op in ("=", "<", "<=", ">", ">="):
        assert "nan" not in names(f"metrics.m {op} 0.5") and "nan" not in names(f"metrics.m {op} -1e308"), op
    assert sorted(names("metrics.m != 0.5")) == ["big", "nan", "neg", "one"]
    assert names("metrics.m >= -1e308", ["metrics.m DESC"]) == ["big", "one", "neg"]
    assert names("", ["metrics.m DESC"]) == ["big", "one", "neg", "nan", "none"]
    assert names("", ["metrics.m ASC"]) == ["neg", "one", "big", "nan", "none"]


@pytest.mark.parametrize(("pattern", "matches"), [
    ("x\\_y", ["x_y"]),  # an escaped underscore is itself, not any character
    ("x_y", ["x%y", "x\\y", "x_y", "xay"]),
    ("x\\%y", ["x%y"]),
    ("x\\\\y", ["x\\y"]),  # an escaped backslash
    ("%\\%", ["50%"]),
])
def test_like_backslash_escapes_wildcards_and_itself(tmp_path, pattern: str, matches: list[str]) -> None:
    client = tracklog.Client(str(tmp_path))
    for value in ("x_y", "xay", "x%y", "x\\y", "50%"):
        client.set_tag(client.create_run("0").info.run_id, "t", value)
    for op in ("LIKE", "ILIKE"):
        found = sorted(r.data.tags["t"] for r in client.search_runs(["0"], f"tags.t {op} '{pattern}'"))
        assert found == sorted(matches), (op, pattern)
