"""Filter nodes and order_by keys to parameterised DuckDB SQL over one view (alias ``r``).

Values never enter the SQL text: each becomes a named parameter (``$p0``, ``$p1``…). The
semantics are MLflow's (its sqlalchemy store), which the tests hold it to with a plain-Python
reading of each filter (`tests/query/test_search.py`):

- a missing value satisfies only ``IS NULL`` (``!=`` and ``NOT IN`` never match it);
- a NaN metric satisfies ``!=`` and no other comparison (MLflow stores NaN apart from values);
- ``LIKE``/``ILIKE`` patterns take ``%`` and ``_`` as wildcards and a backslash as their escape
  (PostgreSQL's default: ``'x\\_y'`` matches only ``x_y``);
- ordering puts, in either direction, values first, then NaN, then missing values;
- ``RLIKE`` (trace search) is DuckDB's ``regexp_matches``: RE2's syntax, matching anywhere.

Trace search's span conditions (``span.*``, and ``trace.text``, which is a span's content, as in
MLflow) go into one ``EXISTS`` over the ``spans`` view per AND: they hold for the same span. A
``feedback.*``/``expectation.*`` condition is an ``EXISTS`` of its own over the valid assessments.

>>> from query.filter import parse
>>> params = Params()
>>> compile_filter(parse("metrics.acc > 0.9 and params.lr = '0.01'"), params)
'((r.metrics[$p0] > $p1 AND NOT isnan(r.metrics[$p0])) AND r.params[$p2] = $p3)'
>>> params.values
{'p0': 'acc', 'p1': 0.9, 'p2': 'lr', 'p3': '0.01'}
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

from eventlog.errors import FilterSyntaxError
from query.filter import NULL_OPS, And, Comparison, Key, Node, Or

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
# trace search: a span of the trace (the traces view aliased r), the spans view aliased _s
SPAN_CONTENT = "concat_ws(' ', _s.name, _s.inputs, _s.outputs, _s.attributes, _s.events)"
_SPAN_COLUMNS = {"name": "_s.name", "type": "_s.span_type", "status": "_s.status", "content": SPAN_CONTENT}
_SPANS = "EXISTS (SELECT 1 FROM spans _s WHERE _s.trace_id = r.trace_id AND {})"
# a JSON text as text to compare: a JSON string is its content, anything else its JSON (true, 5, [1,2])
_JSON_TEXT = "CASE WHEN try(json_type({0})) = 'VARCHAR' THEN json_extract_string({0}, '$') ELSE {0}::VARCHAR END"


class Params:
    """Collects parameter values and hands out their placeholders; `columns` maps attributes to
    SQL, `maps` the entities (metric, param, tag) the view has as MAP columns, `related` the
    attributes that hold many values per row: an ``EXISTS (…)`` with ``{}`` where the comparison
    goes (a row matches when one of its values does), the attribute's column naming the value;
    `span_content` the attributes that are the content of one of a trace's spans (``text``)."""

    def __init__(self, columns: dict[str, str] | None = None, maps: dict[str, str] | None = None,
                 related: dict[str, str] | None = None, span_content: frozenset[str] = frozenset()) -> None:
        self.values: dict[str, Any] = {}
        self.columns = RUN_COLUMNS if columns is None else columns
        self.maps = _MAPS if maps is None else maps
        self.related = related or {}
        self.span_content = span_content

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


def _is_span(key: Key, params: Params) -> bool:
    return key.entity == "span" or (key.entity == "attribute" and key.name in params.span_content)


def _span_only(node: Node, params: Params) -> bool:
    """Whether every comparison of `node` is on a span (so all of it can hold for one span)."""
    if isinstance(node, Comparison):
        return _is_span(node.key, params)
    return all(_span_only(item, params) for item in node.items)


def _span_operand(key: Key, params: Params) -> str:
    """A span's field (over ``spans _s``); ``attributes.<a>`` is that attribute's value as text."""
    if key.entity == "attribute":
        return SPAN_CONTENT
    if key.name.startswith("attributes."):  # a JSON pointer: ~ and / escaped
        pointer = "/" + key.name.removeprefix("attributes.").replace("~", "~0").replace("/", "~1")
        return _JSON_TEXT.format(f"try(json_extract(_s.attributes, {params.add(pointer)}))")
    return _SPAN_COLUMNS[key.name]


def _test(operand: str, op: str, value: Any, params: Params) -> str:
    """`operand` compared with `value` (bound) by `op`."""
    if value is None:
        return f"{operand} {op}"
    if isinstance(value, tuple):
        return f"{operand} {op} ({', '.join(params.add(v) for v in value)})"
    if op in ("LIKE", "ILIKE"):
        return f"{operand} {op} {params.add(value)} ESCAPE '\\'"
    if op == "RLIKE":
        return f"regexp_matches({operand}, {params.add(value)})"
    return f"{operand} {op} {params.add(value)}"


def _assessment(node: Comparison, params: Params) -> str:
    """Whether the trace has a valid (neither overridden nor deleted) feedback or expectation of
    this name whose value compares, as MLflow's SQL store: on its JSON text, where = and !=
    also take a JSON string by its content (``'yes'`` is the string yes, ``'true'`` true or the
    string true, ``'5'`` 5 or the string 5); LIKE, ILIKE and RLIKE match the JSON text or a
    string's content. IS NULL: the trace has none."""
    exists = (f"EXISTS (SELECT 1 FROM assessments _a WHERE _a.trace_id = r.trace_id AND _a.kind = "
              f"{params.add(node.key.entity)} AND _a.name = {params.add(node.key.name)} AND _a.valid")
    if node.op in NULL_OPS:
        return f"NOT {exists})" if node.op == "IS NULL" else f"{exists})"
    raw, text = "_a.value", _JSON_TEXT.format("_a.value")
    if node.op in ("=", "!="):
        value = params.add(node.value)
        same = f"({raw} = {value} OR coalesce({text} = {value}, FALSE))"
        return f"{exists} AND {'NOT ' if node.op == '!=' else ''}{same})"
    return f"{exists} AND ({_test(raw, node.op, node.value, params)} OR {_test(text, node.op, node.value, params)}))"


def _comparison(node: Comparison, params: Params) -> str:
    if node.key.entity in ("feedback", "expectation"):
        return _assessment(node, params)
    if _is_span(node.key, params):  # inside the EXISTS of its span conditions (compile_filter)
        return _test(_span_operand(node.key, params), node.op, node.value, params)
    operand = _operand(node.key, params)
    op = node.op
    text = _test(operand, op, node.value, params)
    if node.key.entity == "metric" and isinstance(node.value, float):  # NaN satisfies != only
        text = f"({text} OR isnan({operand}))" if op == "!=" else f"({text} AND NOT isnan({operand}))"
    if node.key.entity == "dataset":
        return f"EXISTS (SELECT 1 FROM inputs i WHERE i.run_id = r.run_id AND {text})"
    if node.key.entity == "attribute" and node.key.name in params.related:
        return params.related[node.key.name].format(text)
    return text


def compile_filter(node: Node | None, params: Params) -> str:
    """SQL for a WHERE clause (``TRUE`` for no filter); values go into `params`.

    The span conditions of an AND (``span.name = 'a' AND span.status = 'ERROR'``, or a
    parenthesised group of span conditions only) are one ``EXISTS`` over the trace's spans: they
    hold for the same span, as MLflow's SQL store applies them."""
    if node is None:
        return "TRUE"
    if _span_only(node, params):
        return _SPANS.format(_plain(node, params))
    if isinstance(node, Comparison):
        return _comparison(node, params)
    if isinstance(node, Or):
        return "(" + " OR ".join(compile_filter(item, params) for item in node.items) + ")"
    items = list(_conjuncts(node))
    spans = tuple(item for item in items if _span_only(item, params))
    parts = [compile_filter(item, params) for item in items if not _span_only(item, params)]
    if spans:  # all of them in one EXISTS: the same span
        parts.append(_SPANS.format(_plain(spans[0] if len(spans) == 1 else And(spans), params)))
    return "(" + " AND ".join(parts) + ")"


def _conjuncts(node: And) -> Iterator[Node]:
    """The items of an AND, the items of ANDs within it spliced in."""
    for item in node.items:
        if isinstance(item, And):
            yield from _conjuncts(item)
        else:
            yield item


def _plain(node: Node, params: Params) -> str:
    """SQL for `node` with no grouping of span conditions (inside their EXISTS)."""
    if isinstance(node, Comparison):
        return _comparison(node, params)
    joiner = " AND " if isinstance(node, And) else " OR "
    return "(" + joiner.join(_plain(item, params) for item in node.items) + ")"


class Order(NamedTuple):
    """One sort key: `rank` (0 a value, 1 NaN, 2 missing) orders before `value`, in `desc` order."""

    rank: str
    value: str
    desc: bool


def order_expression(key: Key, params: Params, desc: bool = False) -> Order:
    """How a row sorts by `key`: MLflow's ranks (values, then NaN, then missing), then the value."""
    if key.entity == "dataset":
        raise FilterSyntaxError(f"datasets.{key.name}", 0, "runs cannot be ordered by a dataset key")
    if key.entity == "attribute" and (key.name in params.related or key.name in params.span_content):
        raise FilterSyntaxError(key.name, 0, f"{key.name} holds many values per row: it filters, it cannot order")
    value = _operand(key, params)
    if key.entity == "metric":
        rank = f"(CASE WHEN {value} IS NULL THEN 2 WHEN isnan({value}) THEN 1 ELSE 0 END)"
    else:
        rank = f"(CASE WHEN {value} IS NULL THEN 2 ELSE 0 END)"
    return Order(rank, value, desc)
