"""Aggregates over traces: MLflow's trace metrics and the correlation of two trace filters.

`query_trace_metrics` answers MLflow's ``QueryTraceMetrics``: one metric of one view — traces
(``trace_count``, ``latency`` in ms, token counts from ``mlflow.trace.tokenUsage``), spans
(``span_count``, ``latency``) or assessments (``assessment_count``, ``assessment_value``) —
aggregated (COUNT, SUM, AVG, MIN, MAX, PERCENTILE) per dimension (and per time bucket), over the
traces of some experiments that match MLflow's trace filters (`query.traces`).

`filter_correlation` counts the traces matching each of two filters and both, and their
normalized pointwise mutual information (NPMI, in [-1, 1]): how much more often the two hold
together than if they were independent.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from eventlog.errors import FilterSyntaxError, InvalidValueError
from query.compile import Params, compile_filter
from query.filter import parse
from query.traces import TRACE_ATTRIBUTES, trace_params

if TYPE_CHECKING:
    import duckdb

__all__ = ["AGGREGATIONS", "MAX_POINTS", "Correlation", "MetricPoint", "filter_correlation", "npmi", "query_trace_metrics"]

MAX_POINTS = 50_000  # groups one query returns at most (as many as a trace search pages through)
AGGREGATIONS = ("COUNT", "SUM", "AVG", "PERCENTILE", "MIN", "MAX")
_NUMERIC = frozenset({"SUM", "AVG", "PERCENTILE", "MIN", "MAX", "COUNT"})
# try(): a client may send any text as the token usage; text that is not JSON counts no tokens
_TOKENS = "TRY_CAST(try(json_extract_string(r.metadata['mlflow.trace.tokenUsage'], '$.{}')) AS DOUBLE)"


class _Metric(NamedTuple):
    column: str  # SQL over the view's rows (aliased v; the trace is r)
    aggregations: frozenset[str]


class _View(NamedTuple):
    source: str  # FROM … (the trace is r, the row is v)
    time_ms: str
    metrics: dict[str, _Metric]
    dimensions: dict[str, str]


_VIEWS = {
    "TRACES": _View(
        "traces r CROSS JOIN (SELECT 1) v", "r.request_time_ms",
        {"trace_count": _Metric("r.trace_id", frozenset({"COUNT"})),
         "latency": _Metric("r.execution_time_ms", _NUMERIC),
         **{name: _Metric(_TOKENS.format(name), _NUMERIC) for name in ("input_tokens", "output_tokens", "total_tokens")}},
        {"trace_name": "r.name", "trace_status": "r.state"}),
    "SPANS": _View(
        "spans v JOIN traces r USING (trace_id)", "v.start_time_ns // 1000000",
        {"span_count": _Metric("v.span_id", frozenset({"COUNT"})), "latency": _Metric("v.duration_ms", _NUMERIC)},
        {"span_name": "v.name", "span_type": "v.span_type", "span_status": "v.status"}),
    "ASSESSMENTS": _View(
        "assessments v JOIN traces r USING (trace_id)", "v.create_time_ms",
        {"assessment_count": _Metric("v.assessment_id", frozenset({"COUNT"})),
         "assessment_value": _Metric("TRY_CAST(CASE v.value WHEN 'true' THEN '1' WHEN 'false' THEN '0' "
                                     "ELSE v.value END AS DOUBLE)", _NUMERIC)},
        {"assessment_name": "v.name", "assessment_value": "v.value"}),
}


class MetricPoint(NamedTuple):
    """One group's aggregates: `values` by aggregation name (``COUNT``, ``AVG``, ``P95.0``…)."""

    metric_name: str
    dimensions: dict[str, str]
    values: dict[str, float]


def _aggregate(kind: str, percentile: float | None, column: str) -> tuple[str, str]:
    """(the value's name, its SQL)."""
    if kind == "PERCENTILE":
        if percentile is None or not 0 <= percentile <= 100:
            raise InvalidValueError(f"a PERCENTILE aggregation needs percentile_value in [0, 100], got {percentile!r}")
        return f"P{float(percentile)}", f"quantile_cont({column}, {float(percentile) / 100!r})"
    if percentile is not None:
        raise InvalidValueError(f"percentile_value is for PERCENTILE aggregations only, got it with {kind}")
    return kind, f"{'count' if kind == 'COUNT' else kind.lower()}({column})"


def _where(view: _View, experiment_ids: Sequence[str], filters: Sequence[str], start_ms: int | None,
           end_ms: int | None, params: Params) -> str:
    clauses = [f"r.experiment_id IN (SELECT unnest({params.add([str(e) for e in experiment_ids])}::VARCHAR[]))"]
    clauses += [_condition(f, "filter", params) for f in filters if f and f.strip()]
    if start_ms is not None:
        clauses.append(f"{view.time_ms} >= {params.add(int(start_ms))}")
    if end_ms is not None:
        clauses.append(f"{view.time_ms} < {params.add(int(end_ms))}")
    return " AND ".join(clauses)


def query_trace_metrics(cur: duckdb.DuckDBPyConnection, experiment_ids: Sequence[str], view_type: str,
                        metric_name: str, aggregations: Sequence[tuple[str, float | None]],
                        dimensions: Sequence[str] = (), filters: Sequence[str] = (),
                        time_interval_seconds: int | None = None, start_time_ms: int | None = None,
                        end_time_ms: int | None = None, max_results: int = 1000) -> list[MetricPoint]:
    """One metric aggregated per group of `dimensions` (and per time bucket of
    `time_interval_seconds`, dimension ``time_bucket``, its start in ISO 8601), groups in order.

    Raises:
        InvalidValueError: an unknown view, metric, aggregation or dimension (the message lists
            the known ones), or a filter that does not parse.
    """
    view = _VIEWS.get(view_type)
    if view is None:
        raise InvalidValueError(f"view_type must be one of {sorted(_VIEWS)}, got {view_type!r}")
    metric = view.metrics.get(metric_name)
    if metric is None:
        raise InvalidValueError(f"metric_name of {view_type} must be one of {sorted(view.metrics)}, got {metric_name!r}")
    if not aggregations:
        raise InvalidValueError("query_trace_metrics needs at least one aggregation")
    if not 0 < max_results <= MAX_POINTS:
        raise InvalidValueError(f"max_results must be 1 to {MAX_POINTS}, got {max_results}")
    for kind, _ in aggregations:
        if kind not in metric.aggregations:
            raise InvalidValueError(f"aggregation {kind!r} does not apply to {metric_name}; "
                                    f"it takes {sorted(metric.aggregations)}")
    unknown = [d for d in dimensions if d not in view.dimensions]
    if unknown:
        raise InvalidValueError(f"dimension(s) {unknown} do not apply to {view_type}; it has {sorted(view.dimensions)}")
    params = trace_params()
    groups: list[tuple[str, str]] = []
    if time_interval_seconds:
        if time_interval_seconds < 0:
            raise InvalidValueError(f"time_interval_seconds must be positive, got {time_interval_seconds}")
        size = params.add(int(time_interval_seconds) * 1000)
        groups.append(("time_bucket", f"({view.time_ms}) // {size} * {size}"))
    groups += [(d, view.dimensions[d]) for d in dimensions]
    values = [_aggregate(kind, percentile, metric.column) for kind, percentile in aggregations]
    where = _where(view, experiment_ids, filters, start_time_ms, end_time_ms, params)
    where += "".join(f" AND {sql} IS NOT NULL" for _, sql in [("", metric.column), *groups])
    select = ", ".join([*(sql for _, sql in groups), *(sql for _, sql in values)])
    group_by = f" GROUP BY {', '.join(str(i + 1) for i in range(len(groups)))} ORDER BY " \
               f"{', '.join(str(i + 1) for i in range(len(groups)))}" if groups else ""
    rows = cur.execute(f"SELECT {select} FROM {view.source} WHERE {where}{group_by} LIMIT {params.add(int(max_results))}",
                       params.values).fetchall()
    return [_point(metric_name, groups, values, row) for row in rows if any(v is not None for v in row[len(groups):])]


def _point(metric_name: str, groups: list[tuple[str, str]], values: list[tuple[str, str]], row: tuple[Any, ...]) -> MetricPoint:
    dims = {}
    for (name, _), value in zip(groups, row, strict=False):
        dims[name] = datetime.fromtimestamp(value / 1000, tz=UTC).isoformat() if name == "time_bucket" else str(value)
    found = {name: float(v) for (name, _), v in zip(values, row[len(groups):], strict=True) if v is not None}
    return MetricPoint(metric_name, dims, found)


# ---- correlation of two filters -----------------------------------------------------------


class Correlation(NamedTuple):
    """Counts of traces matching each filter and both, of all (matching the base filter); NPMI
    (NaN where undefined: a filter matched nothing) and NPMI smoothed (add 0.5 to each cell)."""

    total_count: int
    filter1_count: int
    filter2_count: int
    joint_count: int
    npmi: float
    npmi_smoothed: float


def _condition(text: str, what: str, params: Params, traces: bool = False) -> str:
    """SQL of a trace filter; `traces`: search_traces' whole grammar (span., feedback.,
    expectation. keys), which MLflow's filter correlation takes (its trace metrics' filters
    have a grammar of their own, where span.name filters spans: not taken here)."""
    try:
        return compile_filter(parse(text, TRACE_ATTRIBUTES, traces=traces), params)
    except FilterSyntaxError as exc:
        raise InvalidValueError(f"Invalid {what} {text!r}: {exc}") from exc


def filter_correlation(cur: duckdb.DuckDBPyConnection, experiment_ids: Sequence[str], filter1: str, filter2: str,
                       base_filter: str | None = None) -> Correlation:
    """How two trace filters co-occur over the traces of these experiments (that match `base_filter`)."""
    params = trace_params()
    first = _condition(filter1, "filter_string1", params, traces=True)
    second = _condition(filter2, "filter_string2", params, traces=True)
    base = _condition(base_filter, "base_filter", params, traces=True) if base_filter else "TRUE"
    experiments = f"r.experiment_id IN (SELECT unnest({params.add([str(e) for e in experiment_ids])}::VARCHAR[]))"
    total, n1, n2, joint = cur.execute(
        f"SELECT count(*), count(*) FILTER (WHERE {first}), count(*) FILTER (WHERE {second}), "
        f"count(*) FILTER (WHERE ({first}) AND ({second})) FROM traces r WHERE {experiments} AND {base}",
        params.values).fetchone() or (0, 0, 0, 0)
    return Correlation(total, n1, n2, joint, *npmi(joint, n1, n2, total))


def npmi(joint: int, n1: int, n2: int, total: int) -> tuple[float, float]:
    """(NPMI, NPMI with 0.5 added to each cell of the 2×2 table) of two events' counts.

    >>> npmi(6, 6, 6, 6)[0], npmi(0, 3, 3, 6)[0]
    (1.0, -1.0)
    """
    if total <= 0 or n1 == 0 or n2 == 0:
        return math.nan, math.nan
    cells = (joint, n1 - joint, n2 - joint, total - n1 - n2 + joint)
    if min(cells) < 0:
        return math.nan, math.nan
    raw = -1.0 if joint == 0 else _npmi(*cells, 0.0)
    return raw, _npmi(*cells, 0.5)


def _npmi(both: float, only1: float, only2: float, neither: float, prior: float) -> float:
    both, only1, only2, neither = (c + prior for c in (both, only1, only2, neither))
    if only1 == only2 == neither == 0:
        return 1.0  # always together
    n = both + only1 + only2 + neither
    p_both, p1, p2 = both / n, (both + only1) / n, (both + only2) / n
    if p_both <= 0:
        return math.nan
    if p_both == 1:
        return 1.0
    return math.log(p_both / (p1 * p2)) / -math.log(p_both)
