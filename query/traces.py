"""Searching traces with MLflow 3's trace filter grammar, over the catalog's ``traces`` view.

    trace.status = 'OK' and trace.execution_time_ms > 500
    attributes.timestamp_ms > 1733400000000 and tags.env = 'prod'
    trace.name = 'predict' and metadata.`mlflow.sourceRun` = 'abc…'

Keys: ``trace.``/``attributes.`` ``status`` (``state``), ``name``, ``trace_id`` (``request_id``),
``timestamp_ms`` (``timestamp``, ``request_time``), ``execution_time_ms`` (``execution_time``,
``execution_duration``), ``client_request_id``, ``experiment_id``, ``run_id`` (the run a trace was
recorded under, or any run it was linked to), ``text`` (the content of any of its spans: name,
inputs, outputs, attributes, events; for LIKE/ILIKE); ``tags.<key>``; ``metadata.<key>``
(``request_metadata.<key>``). Order by any of them; the default is newest
first (``timestamp_ms DESC``). The search is `query.search.search`: same parser, SQL compiler
and keyset paging as runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from query.compile import Params
from query.filter import Key
from query.search import Page, Spec, search

if TYPE_CHECKING:
    import duckdb

__all__ = ["TRACES", "TRACE_ATTRIBUTES", "search_trace_ids", "trace_params"]

_NUMERIC = {"timestamp_ms", "timestamp", "request_time", "execution_time_ms", "execution_time", "execution_duration"}
TRACE_ATTRIBUTES = {name: "numeric" if name in _NUMERIC else "string" for name in (
    "trace_id", "request_id", "name", "status", "state", "client_request_id", "experiment_id", "run_id", "text",
    *_NUMERIC)}
_COLUMNS = {
    "trace_id": "r.trace_id", "request_id": "r.trace_id", "name": "r.name", "status": "r.state", "state": "r.state",
    "client_request_id": "r.client_request_id", "experiment_id": "r.experiment_id",
    "run_id": "_u.run_id", "text": "concat_ws(' ', s.name, s.inputs, s.outputs, s.attributes, s.events)",
    **dict.fromkeys(("timestamp_ms", "timestamp", "request_time"), "r.request_time_ms"),
    **dict.fromkeys(("execution_time_ms", "execution_time", "execution_duration"), "r.execution_time_ms"),
}
_MAPS = {"tag": "r.tags", "metadata": "r.metadata"}
_RELATED = {  # attributes with many values per trace: it matches when one of them does
    "run_id": "EXISTS (SELECT 1 FROM unnest(r.run_ids) AS _u(run_id) WHERE {})",
    "text": "EXISTS (SELECT 1 FROM spans s WHERE s.trace_id = r.trace_id AND {})",
}
TRACES = Spec("traces", "traces", TRACE_ATTRIBUTES, _COLUMNS, _MAPS, "r.trace_id",
              ((Key("attribute", "timestamp_ms"), True),), 50_000)


def trace_params() -> Params:
    """Parameters for SQL over the ``traces`` view aliased ``r``, with the trace grammar's columns."""
    return Params(_COLUMNS, _MAPS, _RELATED)


def search_trace_ids(cur: duckdb.DuckDBPyConnection, experiment_ids: Sequence[str] | None, filter_string: str | None,
                     max_results: int | None, order_by: Sequence[str] | None, page_token: str | None) -> Page:
    """One page of the ids of the traces matching `filter_string` in these experiments (None: all),
    ordered by `order_by`, and the next page's token."""
    params = trace_params()
    where = []
    if experiment_ids is not None:
        where.append(f"r.experiment_id IN (SELECT unnest({params.add([str(e) for e in experiment_ids])}::VARCHAR[]))")
    return search(cur, TRACES, "r.trace_id", filter_string, order_by, max_results, page_token, where=where,
                  params=params, scope=sorted(experiment_ids) if experiment_ids is not None else None)
