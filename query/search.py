"""Every search of tracklog, in one pipeline: parse → compile → page, over the catalog's views.

`search` takes a `Spec` (the view, its attributes and their SQL, its default order), MLflow's
filter and order_by strings, and a page token; it returns one page of rows and the next token.
The searches of runs, experiments, registered models, model versions and logged models are
specs; the Python API, the REST server and the UI's endpoints all call these.

Ordering follows MLflow: the `order_by` keys (values first, then NaN, then missing values,
either direction), then the spec's default keys, then the id. Paging is keyset
(`query.paging`): the token holds the last row's sort keys.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from eventlog.errors import FilterSyntaxError, InvalidValueError
from projections.catalog import fetch_arrow
from projections.entities import ViewType
from query.compile import EXPERIMENT_COLUMNS, RUN_COLUMNS, Params, compile_filter, order_expression
from query.filter import (
    EXPERIMENT_ATTRIBUTES,
    RUN_ATTRIBUTES,
    TRACE_ENTITIES,
    And,
    Comparison,
    Key,
    Node,
    Or,
    parse,
    parse_order_by,
    to_string,
)
from query.paging import after_clause, decode_token, encode_token, signature

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

__all__ = [
    "EXPERIMENTS",
    "PROMPT_TAG",
    "LOGGED_MODELS",
    "MODELS",
    "RUNS",
    "VERSIONS",
    "Page",
    "Spec",
    "flatten",
    "lifecycle",
    "search",
    "without_prompts",
]

MODEL_ATTRIBUTES = {"name": "string", "description": "string", "creation_timestamp": "numeric",
                    "last_updated_timestamp": "numeric"}
VERSION_ATTRIBUTES = {"name": "string", "version_number": "numeric", "run_id": "string", "source_path": "string",
                      "current_stage": "string", "description": "string", "model_id": "string",
                      "creation_timestamp": "numeric", "last_updated_timestamp": "numeric"}
LOGGED_MODEL_ATTRIBUTES = {"model_id": "string", "name": "string", "model_type": "string", "status": "string",
                           "source_run_id": "string", "experiment_id": "string", "creation_timestamp": "numeric",
                           "creation_time": "numeric", "last_updated_timestamp": "numeric"}


class Spec(NamedTuple):
    """What can be searched: a view (aliased ``r``) and the grammar its filters use."""

    what: str  # "runs", "experiments"… (in messages)
    view: str
    attributes: dict[str, str]  # the filter grammar's attribute keys and their types
    columns: dict[str, str]  # attribute key -> SQL
    maps: dict[str, str]  # entity (metric, param, tag) -> its MAP column
    id_column: str
    default_order: tuple[tuple[Key, bool], ...]  # after the caller's keys (skipped if the caller names them)
    max_results: int  # the largest page a caller may ask for
    # the table under the view, with the same rows: a current, unscoped search that touches none
    # of the `live` attributes (computed by the view at query time) reads it without the view's joins
    table: str | None = None
    live: frozenset[str] = frozenset()
    traces: bool = False  # MLflow 3's trace grammar: span., feedback., expectation. keys and RLIKE


RUNS = Spec("runs", "runs", RUN_ATTRIBUTES, RUN_COLUMNS, {"metric": "r.metrics", "param": "r.params", "tag": "r.tags"},
            "r.run_id", ((Key("attribute", "start_time"), True),), 1_000_000,
            table="run_rows", live=frozenset({"status", "end_time"}))  # a crashed run's (projections.views.RUNS_LIVE)
EXPERIMENTS = Spec("experiments", "experiments", EXPERIMENT_ATTRIBUTES, EXPERIMENT_COLUMNS, {"tag": "r.tags"},
                   "r.experiment_id", ((Key("attribute", "creation_time"), True),), 1_000_000)
MODELS = Spec("registered models", "registered_models", MODEL_ATTRIBUTES,
              {"name": "r.name", "description": "r.description", "creation_timestamp": "r.creation_time_ms",
               "last_updated_timestamp": "r.last_updated_time_ms"}, {"tag": "r.tags"},
              "r.name", ((Key("attribute", "name"), False),), 200_000)
VERSIONS = Spec("model versions", "model_versions", VERSION_ATTRIBUTES,
                {"name": "r.name", "version_number": "r.version", "run_id": "r.run_id", "source_path": "r.source",
                 "current_stage": "r.current_stage", "description": "r.description", "model_id": "r.model_id",
                 "creation_timestamp": "r.creation_time_ms", "last_updated_timestamp": "r.last_updated_time_ms"},
                {"tag": "r.tags"}, "(r.name || '/' || lpad(r.version::VARCHAR, 20, '0'))",
                ((Key("attribute", "name"), False), (Key("attribute", "version_number"), True)), 200_000)
LOGGED_MODELS = Spec("logged models", "logged_models", LOGGED_MODEL_ATTRIBUTES,
                     {"model_id": "r.model_id", "name": "r.name", "model_type": "r.model_type",
                      "status": "('LOGGED_MODEL_' || r.status)", "source_run_id": "r.run_id",
                      "experiment_id": "r.experiment_id", "creation_timestamp": "r.creation_time_ms",
                      "creation_time": "r.creation_time_ms", "last_updated_timestamp": "r.last_updated_time_ms"},
                     {"metric": "r.metrics", "param": "r.params", "tag": "r.tags"}, "r.model_id",
                     ((Key("attribute", "creation_timestamp"), True),), 1_000_000)


class Page(NamedTuple):
    rows: list[tuple[Any, ...]]
    token: str | None


def lifecycle(view_type: int | ViewType, params: Params) -> str:
    """The WHERE clause of a lifecycle view type (active, deleted, all)."""
    try:
        view = ViewType(view_type)
    except ValueError:
        raise InvalidValueError(f"view type must be 1 (ACTIVE_ONLY), 2 (DELETED_ONLY) or 3 (ALL), got {view_type!r}") from None
    if view is ViewType.ALL:
        return "TRUE"
    return f"r.lifecycle_stage = {params.add('active' if view is ViewType.ACTIVE_ONLY else 'deleted')}"


def _check_max_results(max_results: Any, spec: Spec) -> None:
    if max_results is None:
        return
    if isinstance(max_results, bool) or not isinstance(max_results, int) or not 1 <= max_results <= spec.max_results:
        raise InvalidValueError(f"Invalid value {max_results!r} for parameter 'max_results' supplied: "
                                f"it must be a positive integer up to {spec.max_results}")


def _check_entities(node: Node | None, spec: Spec, text: str) -> None:
    """Only the entities the view has: attributes, its maps, and datasets for runs."""
    if node is None:
        return
    if isinstance(node, And | Or):
        for item in node.items:
            _check_entities(item, spec, text)
        return
    entity = node.key.entity
    if spec.traces and entity in TRACE_ENTITIES:
        return
    if entity != "attribute" and entity not in spec.maps and not (entity == "dataset" and spec is RUNS):
        kinds = ["attributes", *(f"{e}s" for e in spec.maps)]
        allowed = ", ".join(kinds[:-1]) + " and " + kinds[-1] if len(kinds) > 1 else kinds[0]
        raise FilterSyntaxError(text, node.key.pos, f"{spec.what} are filtered by {allowed}, not {entity}s")


def _keys(node: Node | None) -> Iterator[Key]:
    if isinstance(node, And | Or):
        for item in node.items:
            yield from _keys(item)
    elif node is not None:
        yield node.key


def _source(spec: Spec, node: Node | None, orders: list[tuple[Key, bool]], select: str, current: bool) -> str:
    """The view, or on a `current` cursor the spec's table when nothing asked for is live."""
    if not current or spec.table is None:
        return spec.view
    keys = [*_keys(node), *(key for key, _ in orders)]
    if any(k.entity == "attribute" and k.name in spec.live for k in keys):
        return spec.view
    if any(spec.columns[name] in select for name in spec.live):
        return spec.view
    return spec.table


def _orders(spec: Spec, order_by: Sequence[str] | None) -> list[tuple[Key, bool]]:
    orders = [parse_order_by(clause, spec.attributes, traces=spec.traces) for clause in order_by or []]
    seen: set[tuple[str, str]] = set()
    for key, _ in orders:
        if (key.entity, key.name) in seen:
            raise InvalidValueError(f"`order_by` contains duplicate fields: {list(order_by or [])}")
        if key.entity != "attribute" and key.entity not in spec.maps:
            raise InvalidValueError(f"{spec.what} cannot be ordered by {key.entity} keys ({key.entity}s.{key.name})")
        seen.add((key.entity, key.name))
    return orders + [(k, d) for k, d in spec.default_order if (k.entity, k.name) not in seen]


def search(
    cur: duckdb.DuckDBPyConnection,
    spec: Spec,
    select: str,
    filter_string: str | None = None,
    order_by: Sequence[str] | None = None,
    max_results: int | None = 1000,
    page_token: str | None = None,
    *,
    where: Sequence[str] = (),
    params: Params | None = None,
    scope: Any = None,
    current: bool = False,
) -> Page:
    """One page of the rows of `spec`'s view matching a filter, as tuples of `select` (SQL over
    ``r``); `max_results` None means every row.

    `where` adds conditions (with their values already in `params`); `scope` is what else
    defines the search for its page token (the experiments, the view type…). `current`: `cur` sees
    the catalog as it is now, with no scope (its views are the catalog's own), so `spec.table` may
    stand in for the view.
    """
    _check_max_results(max_results, spec)
    node = parse(filter_string, spec.attributes, traces=spec.traces)
    _check_entities(node, spec, filter_string or "")
    orders = _orders(spec, order_by)
    params = params or Params(spec.columns, spec.maps)
    clauses = [c for c in (compile_filter(node, params), *where) if c != "TRUE"] or ["TRUE"]
    sort = [order_expression(key, params, desc) for key, desc in orders]
    sig = signature(spec.what, filter_string or "", [f"{k.entity}.{k.name} {d}" for k, d in orders], scope)
    if page_token:
        clauses.append(after_clause(decode_token(page_token, sig), sort, spec.id_column, params.add))
    order_sql = ", ".join(f"{o.rank}, {o.value} {'DESC' if o.desc else 'ASC'}" for o in sort)
    keys = ", ".join(f"{o.rank} AS _r{i}, {o.value} AS _v{i}" for i, o in enumerate(sort))
    limit = "" if max_results is None else f" LIMIT {params.add(max_results + 1)}"
    source = _source(spec, node, orders, select, current)
    sql = (f"SELECT {select}, {keys}, {spec.id_column} AS _id FROM {source} r WHERE {' AND '.join(clauses)} "
           f"ORDER BY {order_sql}, {spec.id_column}{limit}")
    rows = cur.execute(sql, params.values).fetchall()
    token = None
    if max_results is not None and len(rows) > max_results:
        rows = rows[:max_results]
        last = rows[-1][-(2 * len(sort) + 1):]
        token = encode_token(sig, [*([last[2 * i], last[2 * i + 1]] for i in range(len(sort))), last[-1]])
    width = len(rows[0]) - 2 * len(sort) - 1 if rows else 0
    return Page([row[:width] for row in rows], token)


def flatten(cur: duckdb.DuckDBPyConnection, run_ids: list[str]) -> pa.Table:
    """MLflow's pandas layout of these runs, in this order: run_id … end_time (UTC), then
    ``metrics.<k>``, ``params.<k>``, ``tags.<k>``."""
    cur.execute("CREATE OR REPLACE TEMP TABLE _page AS SELECT r.*, t.i AS _i FROM runs r "
                "JOIN (SELECT unnest($ids) AS run_id, generate_subscripts($ids, 1) AS i) t USING (run_id)", {"ids": run_ids})
    try:
        keys = {}
        for column in ("metrics", "params", "tags"):
            found = cur.execute(f"SELECT DISTINCT unnest(map_keys({column})) AS k FROM _page ORDER BY k").fetchall()
            keys[column] = [k for (k,) in found]
        params = Params()
        select = ["run_id", "experiment_id", "status", "artifact_uri",
                  "timezone('UTC', start_time)", "timezone('UTC', end_time)"]
        names = ["run_id", "experiment_id", "status", "artifact_uri", "start_time", "end_time"]
        for column, found_keys in keys.items():
            select += [f"{column}[{params.add(name)}]" for name in found_keys]
            names += [f"{column}.{name}" for name in found_keys]
        table = fetch_arrow(cur, f"SELECT {', '.join(select)} FROM _page ORDER BY _i", params.values)
        return table.rename_columns(names)
    finally:
        cur.execute("DROP TABLE IF EXISTS _page")


PROMPT_TAG = "mlflow.prompt.is_prompt"


def without_prompts(filter_string: str | None, spec: Spec) -> str:
    """MLflow's registry rule: prompts (models tagged ``mlflow.prompt.is_prompt = 'true'``) are
    left out of a search unless its filter asks for them; the filter rewritten to say so."""
    node = parse(filter_string, spec.attributes)
    items = list(node.items) if isinstance(node, And) else [node] if node is not None else []
    prompts = False
    kept: list[Node] = []
    for item in items:
        if isinstance(item, Comparison) and item.key.entity == "tag" and item.key.name == PROMPT_TAG:
            value = str(item.value).lower()
            prompts = (item.op == "=" and value == "true") or (item.op == "!=" and value == "false")
        else:
            kept.append(item)
    rule = f"tags.`{PROMPT_TAG}` = 'true'" if prompts else f"(tags.`{PROMPT_TAG}` IS NULL or tags.`{PROMPT_TAG}` != 'true')"
    rest = to_string(And(tuple(kept)) if len(kept) > 1 else kept[0] if kept else None)
    return f"({rest}) and {rule}" if rest else rule
