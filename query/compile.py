"""Filter nodes and order_by keys to parameterised DuckDB SQL over the ``runs`` view (alias ``r``).

Values never enter the SQL text: each becomes a named parameter (``$p0``, ``$p1``…).

>>> from query.filter import parse
>>> params = Params()
>>> compile_filter(parse("metrics.acc > 0.9 and params.lr = '0.01'"), params)
'(r.metrics[$p0] > $p1 AND r.params[$p2] = $p3)'
>>> params.values
{'p0': 'acc', 'p1': 0.9, 'p2': 'lr', 'p3': '0.01'}
"""

from __future__ import annotations

from typing import Any

from query.filter import And, Comparison, Key, Node, Or

__all__ = ["EXPERIMENT_COLUMNS", "RUN_COLUMNS", "Params", "compile_filter", "order_expression"]

RUN_COLUMNS = {
    "run_id": "r.run_id", "run_name": "r.run_name", "status": "r.status", "user_id": "r.user_id",
    "artifact_uri": "r.artifact_uri", "lifecycle_stage": "r.lifecycle_stage", "experiment_id": "r.experiment_id",
    "start_time": "r.start_time_ms", "end_time": "r.end_time_ms",
}
EXPERIMENT_COLUMNS = {
    "experiment_id": "r.experiment_id", "name": "r.name", "lifecycle_stage": "r.lifecycle_stage",
    "artifact_location": "r.artifact_location", "creation_time": "epoch_ms(r.creation_time)",
    "last_update_time": "epoch_ms(r.last_update_time)",
}
_DATASET_COLUMNS = {"name": "i.dataset_name", "digest": "i.dataset_digest", "context": "i.context"}
_MAPS = {"metric": "r.metrics", "param": "r.params", "tag": "r.tags"}


class Params:
    """Collects parameter values and hands out their placeholders; `columns` maps attributes to SQL."""

    def __init__(self, columns: dict[str, str] | None = None) -> None:
        self.values: dict[str, Any] = {}
        self.columns = RUN_COLUMNS if columns is None else columns

    def add(self, value: Any) -> str:
        name = f"p{len(self.values)}"
        self.values[name] = value
        return f"${name}"


def _operand(key: Key, params: Params) -> str:
    if key.entity in _MAPS:
        return f"{_MAPS[key.entity]}[{params.add(key.name)}]"
    if key.entity == "attribute":
        return params.columns[key.name]
    return _DATASET_COLUMNS[key.name]


def _comparison(node: Comparison, params: Params) -> str:
    operand = _operand(node.key, params)
    if node.value is None:
        text = f"{operand} {node.op}"
    elif isinstance(node.value, tuple):
        text = f"{operand} {node.op} ({', '.join(params.add(v) for v in node.value)})"
    else:
        text = f"{operand} {node.op} {params.add(node.value)}"
    if node.key.entity == "dataset":
        return f"EXISTS (SELECT 1 FROM inputs i WHERE i.run_id = r.run_id AND {text})"
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


def order_expression(key: Key, params: Params) -> tuple[str, bool]:
    """The SQL value a run sorts by, and whether it is numeric (then NaN sorts with the missing)."""
    if key.entity == "dataset":
        from query.filter import FilterSyntaxError

        raise FilterSyntaxError(f"datasets.{key.name}", 0, "runs cannot be ordered by a dataset key")
    numeric = key.entity == "metric" or key.name in ("start_time", "end_time", "creation_time", "last_update_time")
    return _operand(key, params), numeric
