"""Filter nodes and order_by keys to parameterised DuckDB SQL over one view (alias ``r``).

Values never enter the SQL text: each becomes a named parameter (``$p0``, ``$p1``…). The
semantics are MLflow's (its sqlalchemy store), which the tests hold it to with a plain-Python
reading of each filter (`tests/query/test_search.py`):

- a missing value satisfies only ``IS NULL`` (``!=`` and ``NOT IN`` never match it);
- a NaN metric satisfies ``!=`` and no other comparison (MLflow stores NaN apart from values);
- ``LIKE``/``ILIKE`` patterns take ``%`` and ``_`` as wildcards and a backslash as their escape
  (PostgreSQL's default: ``'x\\_y'`` matches only ``x_y``);
- ordering puts, in either direction, values first, then NaN, then missing values.

>>> from query.filter import parse
>>> params = Params()
>>> compile_filter(parse("metrics.acc > 0.9 and params.lr = '0.01'"), params)
'((r.metrics[$p0] > $p1 AND NOT isnan(r.metrics[$p0])) AND r.params[$p2] = $p3)'
>>> params.values
{'p0': 'acc', 'p1': 0.9, 'p2': 'lr', 'p3': '0.01'}
"""

from __future__ import annotations

from typing import Any, NamedTuple

from eventlog.errors import FilterSyntaxError
from query.filter import And, Comparison, Key, Node, Or

__all__ = ["EXPERIMENT_COLUMNS", "RUN_COLUMNS", "Order", "Params", "compile_filter", "order_expression"]

RUN_COLUMNS = {
    "run_id": "r.run_id", "run_name": "r.run_name", "status": "r.status", "user_id": "r.user_id",
    "artifact_uri": "r.artifact_uri", "lifecycle_stage": "r.lifecycle_stage", "experiment_id": "r.experiment_id",
    "start_time": "r.start_time_ms", "end_time": "r.end_time_ms",
}
EXPERIMENT_COLUMNS = {
    "experiment_id": "r.experiment_id", "name": "r.name", "lifecycle_stage": "r.lifecycle_stage",
    "artifact_location": "r.artifact_location", "creation_time": "r.creation_time_ms",
    "last_update_time": "r.last_update_time_ms",
}
_DATASET_COLUMNS = {"name": "i.dataset_name", "digest": "i.dataset_digest", "context": "i.context"}
_MAPS = {"metric": "r.metrics", "param": "r.params", "tag": "r.tags"}


class Params:
    """Collects parameter values and hands out their placeholders; `columns` maps attributes to
    SQL, `maps` the entities (metric, param, tag) the view has as MAP columns, `related` the
    attributes that hold many values per row: an ``EXISTS (…)`` with ``{}`` where the comparison
    goes (a row matches when one of its values does), the attribute's column naming the value."""

    def __init__(self, columns: dict[str, str] | None = None, maps: dict[str, str] | None = None,
                 related: dict[str, str] | None = None) -> None:
        self.values: dict[str, Any] = {}
        self.columns = RUN_COLUMNS if columns is None else columns
        self.maps = _MAPS if maps is None else maps
        self.related = related or {}

    def add(self, value: Any) -> str:
        name = f"p{len(self.values)}"
        self.values[name] = value
        return f"${name}"


def _operand(key: Key, params: Params) -> str:
    if key.entity in params.maps:
        return f"{params.maps[key.entity]}[{params.add(key.name)}]"
    if key.entity == "attribute" and key.name in params.columns:
        return params.columns[key.name]
    if key.entity == "dataset":
        return _DATASET_COLUMNS[key.name]
    raise FilterSyntaxError(f"{key.entity}.{key.name}", 0, f"{key.entity} keys do not apply here")


def _comparison(node: Comparison, params: Params) -> str:
    operand = _operand(node.key, params)
    op = node.op
    if node.value is None:
        text = f"{operand} {op}"
    elif isinstance(node.value, tuple):
        text = f"{operand} {op} ({', '.join(params.add(v) for v in node.value)})"
    elif op in ("LIKE", "ILIKE"):
        text = f"{operand} {op} {params.add(node.value)} ESCAPE '\\'"
    else:
        text = f"{operand} {op} {params.add(node.value)}"
        if node.key.entity == "metric":  # NaN satisfies != only
            text = f"({text} OR isnan({operand}))" if op == "!=" else f"({text} AND NOT isnan({operand}))"
    if node.key.entity == "dataset":
        return f"EXISTS (SELECT 1 FROM inputs i WHERE i.run_id = r.run_id AND {text})"
    if node.key.entity == "attribute" and node.key.name in params.related:
        return params.related[node.key.name].format(text)
    return text


def compile_filter(node: Node | None, params: Params) -> str:
    """SQL for a WHERE clause (``TRUE`` for no filter); values go into `params`."""
    if node is None:
        return "TRUE"
    if isinstance(node, Comparison):
        return _comparison(node, params)
    joiner = " AND " if isinstance(node, And) else " OR "
    assert isinstance(node, And | Or)
    return "(" + joiner.join(compile_filter(item, params) for item in node.items) + ")"


class Order(NamedTuple):
    """One sort key: `rank` (0 a value, 1 NaN, 2 missing) orders before `value`, in `desc` order."""

    rank: str
    value: str
    desc: bool


def order_expression(key: Key, params: Params, desc: bool = False) -> Order:
    """How a row sorts by `key`: MLflow's ranks (values, then NaN, then missing), then the value."""
    if key.entity == "dataset":
        raise FilterSyntaxError(f"datasets.{key.name}", 0, "runs cannot be ordered by a dataset key")
    if key.entity == "attribute" and key.name in params.related:
        raise FilterSyntaxError(key.name, 0, f"{key.name} holds many values per row: it filters, it cannot order")
    value = _operand(key, params)
    if key.entity == "metric":
        rank = f"(CASE WHEN {value} IS NULL THEN 2 WHEN isnan({value}) THEN 1 ELSE 0 END)"
    else:
        rank = f"(CASE WHEN {value} IS NULL THEN 2 ELSE 0 END)"
    return Order(rank, value, desc)
