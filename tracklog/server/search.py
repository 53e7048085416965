"""Searches over the in-memory fold: MLflow's filter, order and paging, with the caller's own writes.

The server answers ``runs/search`` and ``experiments/search`` from `TrackingState` rather than
the DuckDB catalog, so a search sees a write that returned a moment ago (MLflow's clients count
on it). Filters are parsed by `query.filter` and evaluated by `query.evaluate` — the evaluator a
test holds equal to the SQL compiler — and ordering follows `query.search`: the `order_by` keys
with missing (and NaN) values last in either direction, then the default keys. Page tokens hold
an offset and a signature of the search they belong to.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from eventlog.errors import InvalidValueError
from projections import TrackingState, ViewType
from projections.tracking import ExperimentState, RunState
from query.evaluate import predicate
from query.filter import (
    EXPERIMENT_ATTRIBUTES,
    And,
    Comparison,
    Key,
    Node,
    Or,
    parse,
    parse_order_by,
)

__all__ = ["page", "search_experiments", "search_runs", "sorted_by"]

T = TypeVar("T")
Lookup = Callable[[T, Key], Any]


def _signature(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:12]


def page(items: list[T], max_results: int, page_token: str, *signature: Any) -> tuple[list[T], str]:
    """One page of `items` and the token of the next ('' on the last page)."""
    if isinstance(max_results, bool) or max_results < 1:
        raise InvalidValueError(f"max_results must be a positive integer, got {max_results!r}")
    sig = _signature(*signature)
    offset = 0
    if page_token:
        try:
            data = json.loads(base64.urlsafe_b64decode(page_token.encode()))
            offset, token_sig = int(data["o"]), data["s"]
        except (ValueError, KeyError, TypeError):
            raise InvalidValueError(f"page_token {page_token[:16]!r} is not a token this server returned") from None
        if token_sig != sig:
            raise InvalidValueError("page_token belongs to a different search (filter, order or scope changed)")
    end = offset + max_results
    token = base64.urlsafe_b64encode(json.dumps({"o": end, "s": sig}).encode()).decode() if end < len(items) else ""
    return items[offset:end], token


def matcher(node: Node | None, lookup: Lookup[T], many: Callable[[T, Key], list[Any]] | None = None) -> Callable[[T], bool]:
    """A predicate over items; `many` gives the several values of a multi-valued key (datasets),
    of which one matching is enough (as SQL's ``EXISTS``)."""
    if node is None:
        return lambda item: True
    if isinstance(node, Comparison):
        test = predicate(node)
        key = node.key
        if many is not None and key.entity == "dataset":
            values = many
            return lambda item: any(test(_constant(v)) for v in values(item, key))
        return lambda item: test(lambda k: lookup(item, k))
    parts = [matcher(n, lookup, many) for n in node.items]
    if isinstance(node, And):
        return lambda item: all(p(item) for p in parts)
    assert isinstance(node, Or)
    return lambda item: any(p(item) for p in parts)


def _constant(value: Any) -> Callable[[Key], Any]:
    return lambda key: value


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _by(lookup: Lookup[T], key: Key) -> Callable[[T], Any]:
    return lambda item: lookup(item, key)


def sorted_by(items: Iterable[T], orders: Sequence[tuple[Key, bool]], lookup: Lookup[T]) -> list[T]:
    """Stable multi-key sort; missing and NaN values last whichever the direction."""
    out = list(items)
    for key, desc in reversed(orders):
        present = [i for i in out if not _missing(lookup(i, key))]
        absent = [i for i in out if _missing(lookup(i, key))]
        present.sort(key=_by(lookup, key), reverse=desc)
        out = present + absent
    return out


# ---- runs ---------------------------------------------------------------------------------------


def run_value(run: RunState, key: Key) -> Any:
    """What a filter or order key reads from a run (None when it has none)."""
    entity, name = key.entity, key.name
    if entity == "metric":
        held = run.latest.get(name)
        return None if held is None else held[1]
    if entity == "param":
        return run.param_value(name)
    if entity == "tag":
        tag = run.tags.get(name)
        return None if tag is None else tag.value
    if name == "run_name":
        return run.run_name.value
    if name in ("status", "lifecycle_stage"):
        return str(getattr(run, "status" if name == "status" else "lifecycle").value)
    if name == "end_time":
        return run.end_time.value
    if name == "run_id":
        return run.run_id
    return getattr(run, name)  # user_id, artifact_uri, experiment_id, start_time


def _dataset_values(run: RunState, key: Key) -> list[Any]:
    field = {"name": "dataset_name", "digest": "dataset_digest", "context": "context"}[key.name]
    return [getattr(e, field) for e in run.inputs.values()]


_RUN_DEFAULT_ORDER = [(Key("attribute", "start_time"), True), (Key("attribute", "run_id"), False)]


def search_runs(state: TrackingState, experiment_ids: Sequence[str], filter_string: str, view: ViewType,
                max_results: int, order_by: Sequence[str], page_token: str) -> tuple[list[RunState], str]:
    """One page of the runs of `experiment_ids` matching the filter, in MLflow's order."""
    match = matcher(parse(filter_string), run_value, _dataset_values)
    orders = [parse_order_by(clause) for clause in order_by]
    for key, _ in orders:
        if key.entity == "dataset":
            raise InvalidValueError(f"runs cannot be ordered by datasets.{key.name}")
    wanted = {str(e) for e in experiment_ids}
    found = [r for r in state.runs.values()
             if r.started and r.experiment_id in wanted and view.admits(r.lifecycle.value) and match(r)]
    ordered = sorted_by(found, orders + _RUN_DEFAULT_ORDER, run_value)
    return page(ordered, max_results, page_token, filter_string, list(order_by), sorted(wanted), int(view))


# ---- experiments ---------------------------------------------------------------------------------


def experiment_value(exp: ExperimentState, key: Key) -> Any:
    if key.entity == "tag":
        tag = exp.tags.get(key.name)
        return None if tag is None else tag.value
    if key.entity != "attribute":
        raise InvalidValueError(f"experiments are filtered by attributes and tags, not {key.entity}s")
    name = key.name
    if name == "name":
        return exp.name.value
    if name == "lifecycle_stage":
        return str(exp.lifecycle.value)
    if name == "last_update_time":
        return exp.last_update // 1_000_000 if exp.last_update else exp.creation_time
    return getattr(exp, name)  # experiment_id, artifact_location, creation_time


_EXPERIMENT_DEFAULT_ORDER = [(Key("attribute", "creation_time"), True), (Key("attribute", "experiment_id"), False)]


def search_experiments(state: TrackingState, filter_string: str, view: ViewType, max_results: int,
                       order_by: Sequence[str], page_token: str,
                       allowed: Callable[[str], bool] | None = None) -> tuple[list[ExperimentState], str]:
    node = parse(filter_string, EXPERIMENT_ATTRIBUTES)
    _only_attributes_and_tags(node)
    match = matcher(node, experiment_value)
    orders = [parse_order_by(c, EXPERIMENT_ATTRIBUTES) for c in order_by]
    found = [e for e in state.experiments.values()
             if e.created and view.admits(e.lifecycle.value) and (allowed is None or allowed(e.experiment_id)) and match(e)]
    ordered = sorted_by(found, orders + _EXPERIMENT_DEFAULT_ORDER, experiment_value)
    return page(ordered, max_results, page_token, filter_string, list(order_by), int(view))


def _only_attributes_and_tags(node: Node | None) -> None:
    if node is None:
        return
    if isinstance(node, And | Or):
        for item in node.items:
            _only_attributes_and_tags(item)
    elif node.key.entity not in ("attribute", "tag"):
        raise InvalidValueError(f"experiments are filtered by attributes and tags, not {node.key.entity}s")
