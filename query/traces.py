"""Searching traces with MLflow 3's trace filter grammar, over the catalog's ``traces`` view.

    trace.status = 'OK' and trace.execution_time_ms > 500
    attributes.timestamp_ms > 1733400000000 and tags.env = 'prod'
    trace.name = 'predict' and metadata.`mlflow.sourceRun` = 'abc…'
    span.name = 'retrieve' and span.status = 'ERROR' and feedback.correct = 'false'

Keys: ``trace.``/``attributes.`` ``status`` (``state``), ``name``, ``trace_id`` (``request_id``),
``timestamp_ms`` (``timestamp``, ``request_time``), ``execution_time_ms`` (``execution_time``,
``execution_duration``), ``client_request_id``, ``experiment_id``, ``run_id`` (the run a trace was
recorded under, or any run it was linked to), ``text`` (the content of one of its spans: name,
inputs, outputs, attributes, events; MLflow's ``span.content``); ``tags.<key>``; ``metadata.<key>``
(``request_metadata.<key>``). String keys take ``=``, ``!=``, ``LIKE``, ``ILIKE``, ``RLIKE``, ``IN``,
``NOT IN``, ``IS [NOT] NULL``.

MLflow 3's span and assessment keys (its ``SearchTraceUtils``, as its SQL store applies them):

- ``span.name``, ``span.type``, ``span.status`` (``OK``, ``ERROR``, ``UNSET``) and
  ``span.attributes.<attribute>`` with ``=``, ``!=``, ``IN``, ``NOT IN``, ``LIKE``, ``ILIKE``,
  ``RLIKE``; ``span.content`` with ``LIKE``, ``ILIKE``. A trace matches when one of its spans
  does; the span conditions of an AND (``trace.text`` among them) hold for the same span: a trace
  with a span ``foo`` (OK) and a span ``bar`` (ERROR) does not match
  ``span.name = 'foo' AND span.status = 'ERROR'``.
- ``feedback.<name>``, ``expectation.<name>`` with ``=``, ``!=``, ``LIKE``, ``ILIKE``, ``RLIKE``,
  ``IS NULL``, ``IS NOT NULL``: a trace matches when it has a valid (neither overridden nor
  deleted) assessment of that kind and name whose value compares; ``IS NULL``: it has none. Values
  compare as MLflow's, on the value's JSON: ``= 'true'`` is true (or the string ``true``),
  ``= '5'`` is 5 (or ``'5'``), ``= 'yes'`` is the string ``yes``. Each assessment condition
  stands alone (two may hold for two assessments).
- ``RLIKE`` is DuckDB's ``regexp_matches``: RE2's syntax, matching anywhere in the value.
- Values are quoted strings (lists for IN), bound as parameters, never part of the SQL.

Where tracklog differs from MLflow's SQL store: ``span.attributes.<a>`` compares the attribute's
value (a string's content, any other value's JSON) with every comparator, where MLflow matches a
pattern against the span's whole JSON (``'%"<a>"<pattern>%'``: its ``=`` never matches, and its
LIKE may match text after the attribute); ``LIKE``/``ILIKE``/``RLIKE`` on an assessment match its
JSON text or, for a string, its content (MLflow: the JSON text only, so ``'Great%'`` needs the
quote there: ``'"Great%'``); ``OR`` and parentheses (MLflow has AND only): a parenthesised group of
span conditions only holds for one span too, a span condition under an OR with other keys on its
own; ``RLIKE`` is RE2's everywhere (MLflow's is its database's); an order_by on a span or
assessment key is refused. A bad key, comparator or regular expression is a `FilterSyntaxError`
(400 ``INVALID_PARAMETER_VALUE`` from the server) naming the key and the comparators it takes.

Order by any trace key; the default is newest first (``timestamp_ms DESC``). The search is
`query.search.search`: same parser, SQL compiler and keyset paging as runs.
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
    "run_id": "_u.run_id",
    **dict.fromkeys(("timestamp_ms", "timestamp", "request_time"), "r.request_time_ms"),
    **dict.fromkeys(("execution_time_ms", "execution_time", "execution_duration"), "r.execution_time_ms"),
}
_MAPS = {"tag": "r.tags", "metadata": "r.metadata"}
_RELATED = {  # attributes with many values per trace: it matches when one of them does
    "run_id": "EXISTS (SELECT 1 FROM unnest(r.run_ids) AS _u(run_id) WHERE {})",
}
_SPAN_CONTENT = frozenset({"text"})  # MLflow's text: span.content (query.compile groups it with span.*)
TRACES = Spec("traces", "traces", TRACE_ATTRIBUTES, _COLUMNS, _MAPS, "r.trace_id",
              ((Key("attribute", "timestamp_ms"), True),), 50_000, traces=True)


def trace_params() -> Params:
    """Parameters for SQL over the ``traces`` view aliased ``r``, with the trace grammar's columns."""
    return Params(_COLUMNS, _MAPS, _RELATED, _SPAN_CONTENT)


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
