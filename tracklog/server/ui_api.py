"""The tracklog endpoints the web UI needs beyond MLflow's REST API; any script may call them.

Every read takes ``as_of`` (epoch ms): the answer is the store as it was at that moment.

    POST /api/2.0/tracklog/metrics/downsample   metric histories, min/max per bucket (exact when small)
    POST /api/2.0/tracklog/runs/table           one window of the runs table: filter, sort, columns, total
    POST /api/2.0/tracklog/runs/groups          runs grouped by one param/tag/attribute, with metric means
    POST /api/2.0/tracklog/runs/keys            the param, metric and tag keys of some experiments
    GET  /api/2.0/tracklog/runs/get             one run with params, latest metrics, children, models
    GET  /api/2.0/tracklog/experiments/list     experiments with run counts and last activity
    GET  /api/2.0/tracklog/registry/models      registered models with latest versions and aliases
    GET  /api/2.0/tracklog/registry/model       one model: versions, aliases, tags and its change history

Bodies and query strings are decoded with msgspec; errors are MLflow's ``{"error_code", "message"}``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

import msgspec

from eventlog.errors import (
    FilterSyntaxError,
    InvalidValueError,
    RegisteredModelNotFoundError,
    RunNotFoundError,
)
from query.compile import Params, compile_filter, order_expression
from query.filter import Key, parse, parse_order_by
from query.search import PROMPT_TAG
from tracklog.server.routing import Call

if TYPE_CHECKING:
    import duckdb

__all__ = ["downsample", "get_run", "list_experiments", "registry_model", "registry_models", "runs_groups", "runs_keys",
           "runs_table"]

MAX_WINDOW = 5000
MAX_BUCKETS = 20_000
_VIEW_TYPES = {"ACTIVE_ONLY": "active", "DELETED_ONLY": "deleted", "ALL": None}
# the fixed columns of a runs-table row, before the chosen param/metric/tag columns
_RUN_COLUMNS = {
    "run_id": "r.run_id", "run_name": "r.run_name", "experiment_id": "r.experiment_id", "status": "r.status",
    "user_id": "r.user_id", "start_time": "r.start_time_ms", "end_time": "r.end_time_ms",
    "lifecycle_stage": "r.lifecycle_stage", "parent_run_id": "r.tags['mlflow.parentRunId']",
    "source_name": "r.tags['mlflow.source.name']", "git_commit": "r.tags['mlflow.source.git.commit']",
}
_DEFAULT_ORDER = [(Key("attribute", "start_time"), True)]
_encoder = msgspec.json.Encoder()


# ---- request bodies ------------------------------------------------------------------------


class _Body(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    as_of: int | None = None  # epoch ms; None = now
    fresh: bool = False  # fold what was published since the last background refresh first


class DownsampleRequest(_Body):
    run_ids: list[str]
    keys: list[str]
    x_axis: Literal["step", "time", "relative"] = "step"
    x_min: float | None = None
    x_max: float | None = None
    buckets: int = 1000


class RunsTableRequest(_Body):
    experiment_ids: list[str] | None = None  # None: every experiment (then give run_ids)
    filter: str = ""
    order_by: list[str] = []
    columns: list[str] | None = None  # keys as in filters: metrics.acc, params.lr, tags.`a b`; None: a few, chosen here
    offset: int = 0
    limit: int = 100
    view_type: Literal["ACTIVE_ONLY", "DELETED_ONLY", "ALL"] = "ACTIVE_ONLY"
    run_ids: list[str] | None = None  # only these runs (compare pages)
    count: bool = True


class RunsGroupsRequest(_Body):
    group_by: str
    experiment_ids: list[str] | None = None
    filter: str = ""
    columns: list[str] = []
    view_type: Literal["ACTIVE_ONLY", "DELETED_ONLY", "ALL"] = "ACTIVE_ONLY"
    limit: int = 1000


class RunsKeysRequest(_Body):
    experiment_ids: list[str] | None = None
    run_ids: list[str] | None = None


# ---- the endpoints' work (plain functions over a cursor, so tests can call them) -----------


def _run_filter(body: RunsTableRequest | RunsGroupsRequest, params: Params) -> str:
    """The WHERE clause of a runs query: the user's filter, the experiments, the lifecycle."""
    where = [compile_filter(parse(body.filter), params)]
    if body.experiment_ids is not None:
        where.append(f"r.experiment_id IN ({', '.join(params.add(str(e)) for e in body.experiment_ids) or 'NULL'})")
    stage = _VIEW_TYPES[body.view_type]
    if stage is not None:
        where.append(f"r.lifecycle_stage = {params.add(stage)}")
    run_ids = getattr(body, "run_ids", None)
    if run_ids is not None:
        where.append(f"r.run_id IN ({', '.join(params.add(r) for r in run_ids) or 'NULL'})")
    return " AND ".join(where)


def _column_key(text: str) -> Key:
    """``metrics.acc`` → Key, with the column's own position in errors."""
    try:
        key, descending = parse_order_by(text)
    except FilterSyntaxError as exc:
        raise InvalidValueError(f"column {text!r} is not a key like metrics.acc or params.lr: {exc}") from exc
    if descending or key.entity == "dataset":
        raise InvalidValueError(f"column {text!r} is not a key like metrics.acc, params.lr or tags.team")
    return key


def runs_table(cur: duckdb.DuckDBPyConnection, body: RunsTableRequest) -> dict[str, Any]:
    """One window of runs: fixed columns then `body.columns`, sorted, with the total count.

    Without `body.columns`, the first few metric and param keys of the latest runs are shown (the
    answer's ``columns`` says which), so a first page needs no separate request for the keys.
    """
    if not 0 < body.limit <= MAX_WINDOW or body.offset < 0:
        raise InvalidValueError(f"limit must be 1..{MAX_WINDOW} and offset ≥ 0, got limit={body.limit} offset={body.offset}")
    params = Params()
    where = _run_filter(body, params)
    orders = [parse_order_by(clause) for clause in body.order_by] + _DEFAULT_ORDER
    sort = [order_expression(key, params, desc) for key, desc in orders]
    order_sql = ", ".join(f"{o.rank}, {o.value} {'DESC' if o.desc else 'ASC'}" for o in sort)
    columns = body.columns if body.columns is not None else _default_columns(cur, body)
    extra = [order_expression(_column_key(c), params).value for c in columns]
    select = [*(f"{sql} AS {name}" for name, sql in _RUN_COLUMNS.items()), *(f"{e} AS _c{i}" for i, e in enumerate(extra))]
    # pick the window by its sort keys first; only its rows pay for the map lookups
    sql = (f"WITH page AS (SELECT r.run_id FROM runs r WHERE {where} ORDER BY {order_sql}, r.run_id "
           f"LIMIT {params.add(body.limit)} OFFSET {params.add(body.offset)}) "
           f"SELECT {', '.join(select)} FROM page JOIN runs r USING (run_id) ORDER BY {order_sql}, r.run_id")
    rows = cur.execute(sql, params.values).fetchall()
    total = None
    if body.count:
        count_params = Params()
        total = cur.execute(f"SELECT count(*) FROM runs r WHERE {_run_filter(body, count_params)}",
                            count_params.values).fetchall()[0][0]
    return {"total": total, "offset": body.offset, "columns": [*_RUN_COLUMNS, *columns],
            "rows": [[_finite(v) for v in row] for row in rows]}


DEFAULT_KEYS = 4  # metric keys, then param keys, shown when no columns are chosen
_PLAIN_KEY = re.compile(r"[A-Za-z_][\w.]*")


def _default_columns(cur: duckdb.DuckDBPyConnection, body: RunsTableRequest) -> list[str]:
    """Up to DEFAULT_KEYS metric and param keys of the 1,000 latest runs in scope, alphabetically."""
    params = Params()
    scope = ["TRUE"]
    if body.experiment_ids is not None:
        scope.append(f"experiment_id IN ({', '.join(params.add(str(e)) for e in body.experiment_ids) or 'NULL'})")
    if body.run_ids is not None:
        scope.append(f"run_id IN ({', '.join(params.add(r) for r in body.run_ids) or 'NULL'})")
    latest = f"SELECT metrics, params FROM runs WHERE {' AND '.join(scope)} ORDER BY start_time_ms DESC LIMIT 1000"
    out: list[str] = []
    for column, prefix in (("metrics", "metrics"), ("params", "params")):
        rows = cur.execute(f"SELECT DISTINCT unnest(map_keys({column})) AS k FROM ({latest}) ORDER BY k LIMIT {DEFAULT_KEYS}",
                           params.values).fetchall()
        out += [f"{prefix}.{k}" if _PLAIN_KEY.fullmatch(k) else f"{prefix}.`{k}`" for (k,) in rows]
    return out


def runs_groups(cur: duckdb.DuckDBPyConnection, body: RunsGroupsRequest) -> dict[str, Any]:
    """Runs grouped by the value of `body.group_by`: count, latest start, mean of each metric column."""
    params = Params()
    group_sql = order_expression(_column_key(body.group_by), params).value
    metric_cols = [(c, order_expression(k, params).value) for c in body.columns if (k := _column_key(c)).entity == "metric"]
    aggregates = "".join(f", avg({e}) FILTER (WHERE NOT isnan({e}))" for _, e in metric_cols)
    where = _run_filter(body, params)
    sql = (f"SELECT {group_sql}::VARCHAR AS g, count(*) AS n, max(r.start_time_ms) AS last{aggregates} "
           f"FROM runs r WHERE {where} GROUP BY g ORDER BY n DESC, g NULLS LAST LIMIT {params.add(body.limit)}")
    rows = cur.execute(sql, params.values).fetchall()
    return {"group_by": body.group_by, "groups": [
        {"value": g, "count": n, "last_start_time": last,
         "means": {c: _finite(v) for (c, _), v in zip(metric_cols, rest, strict=True)}}
        for g, n, last, *rest in rows
    ]}


def runs_keys(cur: duckdb.DuckDBPyConnection, body: RunsKeysRequest) -> dict[str, list[str]]:
    """Every param, metric and tag key of the active runs of some experiments, or of some runs
    (the column chooser, the charts' key list)."""
    if body.run_ids is not None:
        where, ids = "run_id IN (SELECT unnest($ids))", list(body.run_ids)
    else:
        where, ids = "experiment_id IN (SELECT unnest($ids)) AND lifecycle_stage = 'active'", [str(e) for e in body.experiment_ids or ()]
    out: dict[str, list[str]] = {}
    for column in ("params", "metrics", "tags"):
        rows = cur.execute(
            f"SELECT DISTINCT unnest(map_keys({column})) AS k FROM runs WHERE {where} ORDER BY k", {"ids": ids}
        ).fetchall()
        out[column] = [k for (k,) in rows]
    return out


def get_run(cur: duckdb.DuckDBPyConnection, run_id: str) -> dict[str, Any]:
    """One run as the run page shows it: info, params, latest metrics (with steps), tags, inputs,
    child runs, logged models and the registered versions made from it."""
    found = cur.execute(
        "SELECT run_id, experiment_id, run_name, user_id, status, start_time_ms, end_time_ms, lifecycle_stage, "
        "artifact_uri, tags, inputs FROM runs WHERE run_id = ?", [run_id]
    ).fetchall()
    if not found:
        raise RunNotFoundError(f"Run with id={run_id!r} not found")
    rid, exp, name, user, status, start, end, stage, uri, tags, inputs = found[0]
    info = {"run_id": rid, "run_uuid": rid, "experiment_id": exp, "run_name": name, "user_id": user or "",
            "status": status, "start_time": start, "end_time": end, "lifecycle_stage": stage, "artifact_uri": uri or ""}
    return {
        "info": info,
        "params": _records(cur, "SELECT key, value FROM params WHERE run_id = ? ORDER BY key", [rid]),
        "metrics": _records(cur, "SELECT key, value, step, timestamp FROM latest_metrics WHERE run_id = ? ORDER BY key", [rid]),
        "tags": [{"key": k, "value": v} for k, v in sorted(dict(tags).items())],
        "inputs": inputs or [],
        "children": _records(cur, "SELECT run_id, run_name, status, start_time_ms AS start_time FROM runs "
                                  "WHERE tags['mlflow.parentRunId'] = ? ORDER BY start_time_ms", [rid]),
        "logged_models": _records(cur, "SELECT model_id, name, artifact_location, flavors, epoch_ms(logged_at) AS logged_at "
                                       "FROM logged_models WHERE run_id = ? ORDER BY logged_at", [rid]),
        "model_versions": _records(cur, "SELECT name, version, current_stage FROM model_versions "
                                        "WHERE run_id = ? ORDER BY name, version", [rid]),
    }


def list_experiments(cur: duckdb.DuckDBPyConnection, view_type: str) -> dict[str, Any]:
    """Experiments, newest first, with their run counts and last activity (latest run event)."""
    stage = _VIEW_TYPES.get(view_type, "active")
    rows = _records(
        cur,
        "WITH counts AS (SELECT experiment_id, count(*) FILTER (WHERE lifecycle_stage = 'active') AS run_count, "
        "count(*) FILTER (WHERE status = 'RUNNING' AND lifecycle_stage = 'active') AS running, "
        "max(greatest(start_time_ms, coalesce(end_time_ms, 0))) AS last_run FROM runs GROUP BY experiment_id) "
        "SELECT e.experiment_id, e.name, e.lifecycle_stage, e.artifact_location, e.tags, "
        "epoch_ms(e.creation_time) AS creation_time, "
        "greatest(epoch_ms(e.last_update_time), coalesce(c.last_run, 0)) AS last_activity, "
        "coalesce(c.run_count, 0) AS run_count, coalesce(c.running, 0) AS running "
        "FROM experiments e LEFT JOIN counts c USING (experiment_id) "
        "WHERE $stage IS NULL OR e.lifecycle_stage = $stage ORDER BY e.creation_time DESC, e.experiment_id",
        {"stage": stage},
    )
    for row in rows:
        row["tags"] = dict(row["tags"])
    return {"experiments": rows}


def registry_models(cur: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """Registered models for the UI's list: prompts (MLflow's ``mlflow.prompt.is_prompt`` tag) are
    not models, and stay out as in MLflow's registry search."""
    models = _records(
        cur,
        "SELECT m.name, m.description, epoch_ms(m.creation_time) AS creation_time, "
        "epoch_ms(m.last_updated_time) AS last_updated_time, m.tags, "
        "(SELECT max(version) FROM model_versions v WHERE v.name = m.name) AS latest_version, "
        "(SELECT count(*) FROM model_versions v WHERE v.name = m.name) AS version_count, "
        "(SELECT list({'alias': a.alias, 'version': a.version} ORDER BY a.alias) FROM model_aliases a "
        " WHERE a.name = m.name) AS aliases "
        "FROM registered_models m WHERE m.tags[?] IS DISTINCT FROM 'true' ORDER BY m.name", [PROMPT_TAG],
    )
    for m in models:
        m["tags"], m["aliases"] = dict(m["tags"]), m["aliases"] or []
    return {"registered_models": models}


def registry_model(cur: duckdb.DuckDBPyConnection, name: str) -> dict[str, Any]:
    found = _records(cur, "SELECT name, description, epoch_ms(creation_time) AS creation_time, "
                          "epoch_ms(last_updated_time) AS last_updated_time, tags, registered_model_id "
                          "FROM registered_models WHERE name = ?", [name])
    if not found:
        raise RegisteredModelNotFoundError(f"Registered Model with name={name!r} not found")
    model = found[0]
    model["tags"] = dict(model["tags"])
    versions = _records(cur, "SELECT version, current_stage, description, source, run_id, model_id, user_id, status, "
                             "epoch_ms(creation_time) AS creation_time, epoch_ms(last_updated_time) AS last_updated_time, tags "
                             "FROM model_versions WHERE name = ? ORDER BY version DESC", [name])
    for v in versions:
        v["tags"] = dict(v["tags"])
    aliases = _records(cur, "SELECT alias, version, epoch_ms(set_at) AS set_at FROM model_aliases WHERE name = ? ORDER BY alias", [name])
    history = _records(cur, "SELECT ts // 1000000 AS time, kind, actor, name, version, alias, stage, key, value, "
                            "description, old_name FROM registry_history WHERE registered_model_id = ? "
                            "ORDER BY ts DESC, writer_seq DESC LIMIT 2000", [model.pop("registered_model_id")])
    return {"registered_model": model, "versions": versions, "aliases": aliases, "history": history}


def downsample(cur: duckdb.DuckDBPyConnection, body: DownsampleRequest) -> dict[str, Any]:
    """Histories of `keys` × `run_ids` over an x range: raw points where a series has at most
    2×`buckets` of them in range, else the minimum and maximum point of each of `buckets`
    equal-width buckets (in x order), so spikes are never hidden.

    Every scan groups by a small integer per series rather than by the run and key strings.
    Relative time counts from each run's first point among the keys asked for.
    """
    if not body.run_ids or not body.keys:
        return {"x_axis": body.x_axis, "x_min": None, "x_max": None, "series": []}
    buckets = max(10, min(body.buckets, MAX_BUCKETS))
    q = _SeriesQuery(body)
    return _in_one_scan(cur, q, buckets) or _in_two_scans(cur, q, buckets)


def _in_one_scan(cur: duckdb.DuckDBPyConnection, q: _SeriesQuery, buckets: int) -> dict[str, Any] | None:
    """A first chart (by step, whole range, now) in one scan: the latest points give the last
    step, the range starts at step 0, and the buckets carry their counts. None when the guess
    was wrong (steps below 0, or starting far above it): the caller scans twice instead."""
    body = q.body
    if body.x_axis != "step" or body.x_min is not None or body.x_max is not None or body.as_of is not None:
        return None
    last = cur.execute(f"SELECT max(step) FROM latest_metrics WHERE {q.where.replace(' AND isfinite(value)', '')}",
                       q.params.values).fetchall()[0][0]
    if last is None or last < 0:
        return None
    lo, hi = 0, int(last)
    rows = cur.execute(_BUCKETS_COUNTED.format(points=q.points(None), lo=0.0, width=float(hi / buckets or 1.0), n=buckets),
                       q.params.values).fetchall()
    stats: dict[int, tuple[int, Any, Any]] = {}
    for s, _b, _xl, _yl, _xh, _yh, n, mn, mx in rows:
        seen = stats.get(s, (0, mn, mx))
        stats[s] = (seen[0] + n, min(seen[1], mn), max(seen[2], mx))
    if not stats or max(v[2] for v in stats.values()) > hi or min(v[1] for v in stats.values()) > hi / 10:
        return None
    exact = sorted(s for s, v in stats.items() if v[0] <= 2 * buckets)
    points: dict[int, tuple[list[Any], list[Any]]] = {s: ([], []) for s in stats}
    _collect_extremes(points, [r[:6] for r in rows if r[0] not in exact])
    if exact:
        _collect(points, cur.execute(f"SELECT s, x, y FROM ({q.points(None, only=exact)}) ORDER BY s, x, t",
                                     q.params.values).fetchall())
    return _answer(q, buckets, {s: v[0] for s, v in stats.items()}, exact, points, lo, hi)


def _in_two_scans(cur: duckdb.DuckDBPyConnection, q: _SeriesQuery, buckets: int) -> dict[str, Any]:
    """Counts and ranges first, then the points of the small series and the buckets of the big ones."""
    body = q.body
    offsets = q.offsets(cur) if body.x_axis == "relative" and (body.x_min is not None or body.x_max is not None) else None
    stats = {s: (n, lo, hi, first) for s, n, lo, hi, first in cur.execute(
        f"SELECT s, count(*), min(x), max(x), min(t) FROM ({q.points(offsets)}) GROUP BY s", q.params.values).fetchall()}
    if not stats:
        return {"x_axis": body.x_axis, "x_min": body.x_min, "x_max": body.x_max, "series": []}
    if body.x_axis == "relative" and offsets is None:  # unzoomed: the first points came with the counts
        offsets = q.run_offsets({s: v[3] for s, v in stats.items()})
        stats = {s: (n, lo - offsets[s // q.nkeys], hi - offsets[s // q.nkeys], t) for s, (n, lo, hi, t) in stats.items()}
    lo = body.x_min if body.x_min is not None else min(v[1] for v in stats.values())
    hi = body.x_max if body.x_max is not None else max(v[2] for v in stats.values())
    exact = sorted(s for s, v in stats.items() if v[0] <= 2 * buckets)
    big = sorted(s for s in stats if s not in exact)
    points: dict[int, tuple[list[Any], list[Any]]] = {s: ([], []) for s in stats}
    if exact:
        _collect(points, cur.execute(f"SELECT s, x, y FROM ({q.points(offsets, only=exact)}) ORDER BY s, x, t",
                                     q.params.values).fetchall())
    if big:
        width = (hi - lo) / buckets or 1.0
        rows = cur.execute(_BUCKETS.format(points=q.points(offsets, only=big), lo=float(lo), width=float(width), n=buckets),
                           q.params.values).fetchall()
        _collect_extremes(points, rows)
    return _answer(q, buckets, {s: v[0] for s, v in stats.items()}, exact, points, lo, hi)


def _answer(q: _SeriesQuery, buckets: int, counts: dict[int, int], exact: list[int],
            points: dict[int, tuple[list[Any], list[Any]]], lo: Any, hi: Any) -> dict[str, Any]:
    body = q.body
    series = [{"run_id": body.run_ids[s // q.nkeys], "key": body.keys[s % q.nkeys], "exact": s in exact,
               "count": counts[s], "x": points[s][0], "y": points[s][1]} for s in sorted(counts)]
    return {"x_axis": body.x_axis, "x_min": lo, "x_max": hi, "buckets": buckets, "series": series}


class _SeriesQuery:
    """The SQL of one downsampling request: every point of the chosen runs and keys as rows of
    (s, x, y, t), where s = run index × number of keys + key index."""

    def __init__(self, body: DownsampleRequest) -> None:
        self.body = body
        self.params = Params()
        self.runs = [self.params.add(r) for r in body.run_ids]
        self.keys = [self.params.add(k) for k in body.keys]
        self.nkeys = len(self.keys)
        self.run_index = "CASE run_id " + " ".join(f"WHEN {p} THEN {i}" for i, p in enumerate(self.runs)) + " END"
        key_index = "CASE key " + " ".join(f"WHEN {p} THEN {i}" for i, p in enumerate(self.keys)) + " END"
        self.series = f"({self.run_index}) * {self.nkeys} + ({key_index})" if self.nkeys > 1 else f"({self.run_index})"
        self.where = (f"run_id IN ({', '.join(self.runs)}) AND key IN ({', '.join(self.keys)}) AND isfinite(value)")

    def points(self, offsets: dict[int, int] | None, only: list[int] | None = None) -> str:
        """The points (s, x, y, t) in the x range; `only` some series (filtered on the run and key
        columns where it can be, so the scan skips the rest)."""
        x = {"step": "step", "time": "timestamp", "relative": "timestamp"}[self.body.x_axis]
        if offsets is not None:  # numbers we computed, never caller text
            x = "timestamp - (CASE " + " ".join(f"WHEN run_id = {self.runs[r]} THEN {int(o)}" for r, o in offsets.items()) + " END)"
        where = self.where
        bounds = []
        if only is not None:
            runs, keys = sorted({i // self.nkeys for i in only}), sorted({i % self.nkeys for i in only})
            where = (f"run_id IN ({', '.join(self.runs[r] for r in runs)}) AND key IN ({', '.join(self.keys[k] for k in keys)}) "
                     "AND isfinite(value)")
            if len(runs) * len(keys) > len(only):  # the runs x keys square holds series not asked for
                bounds.append(f"s IN ({', '.join(map(str, only))})")
        sql = f"SELECT {self.series} AS s, {x} AS x, value AS y, timestamp AS t FROM metrics WHERE {where}"
        if self.body.x_axis == "relative" and offsets is None:
            return sql  # the first pass of an unzoomed relative request: ranges are shifted afterwards
        bounds += [f"x >= {float(self.body.x_min)}"] if self.body.x_min is not None else []
        bounds += [f"x <= {float(self.body.x_max)}"] if self.body.x_max is not None else []
        return f"SELECT * FROM ({sql}) WHERE {' AND '.join(bounds)}" if bounds else sql

    def offsets(self, cur: duckdb.DuckDBPyConnection) -> dict[int, int]:
        """Each run's first timestamp among the chosen keys (relative time starts there)."""
        rows = cur.execute(f"SELECT {self.run_index} AS r, min(timestamp) FROM metrics WHERE {self.where} GROUP BY r",
                           self.params.values).fetchall()
        return {int(r): int(t) for r, t in rows}

    def run_offsets(self, first: dict[int, int]) -> dict[int, int]:
        out: dict[int, int] = {}
        for s, t in first.items():
            r = s // self.nkeys
            out[r] = min(out.get(r, t), t)
        return out


# each bucket's minimum and maximum point
_BUCKETS = """
SELECT s, least(floor((x - {lo}) / {width}), {n} - 1)::BIGINT AS b,
       arg_min(x, y) AS x_lo, min(y) AS y_lo, arg_max(x, y) AS x_hi, max(y) AS y_hi
FROM ({points}) GROUP BY ALL ORDER BY s, b
"""


_BUCKETS_COUNTED = """
SELECT s, least(floor((x - {lo}) / {width}), {n} - 1)::BIGINT AS b,
       arg_min(x, y) AS x_lo, min(y) AS y_lo, arg_max(x, y) AS x_hi, max(y) AS y_hi, count(*), min(x), max(x)
FROM ({points}) GROUP BY ALL ORDER BY s, b
"""


def _collect_extremes(points: dict[int, tuple[list[Any], list[Any]]], rows: list[tuple[Any, ...]]) -> None:
    """A bucket's two extremes in x order (one point if they are the same point)."""
    for s, _b, x_lo, y_lo, x_hi, y_hi in rows:
        xs, ys = points[s]
        if x_lo == x_hi and y_lo == y_hi:
            xs.append(x_lo)
            ys.append(y_lo)
        elif x_lo <= x_hi:
            xs += (x_lo, x_hi)
            ys += (y_lo, y_hi)
        else:
            xs += (x_hi, x_lo)
            ys += (y_hi, y_lo)


def _collect(points: dict[int, tuple[list[Any], list[Any]]], rows: list[tuple[Any, ...]]) -> None:
    for s, xv, yv in rows:
        xs, ys = points[s]
        xs.append(xv)
        ys.append(yv)


def _records(cur: duckdb.DuckDBPyConnection, sql: str, args: Any) -> list[dict[str, Any]]:
    result = cur.execute(sql, args)
    names = [d[0] for d in result.description or ()]
    return [dict(zip(names, (_finite(v) for v in row), strict=True)) for row in result.fetchall()]


def _finite(value: Any) -> Any:
    """JSON has no NaN or infinity: MLflow's REST API sends them as strings, and so do we."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return value


# ---- the route table's handlers ----------------------------------------------------------------


class RunRef(_Body):
    run_id: str


class ExperimentsRef(_Body):
    view_type: Literal["ACTIVE_ONLY", "DELETED_ONLY", "ALL"] = "ACTIVE_ONLY"


class ModelRef(_Body):
    name: str


def _reads(work: Callable[[duckdb.DuckDBPyConnection, Any], Any]) -> Callable[[Call, Any], Any]:
    """A handler running `work` on a catalog cursor (as of ``body.as_of``; ``fresh`` folds what
    other processes published since the last background fold first)."""

    def handler(call: Call, body: Any) -> Any:
        call.require("ui", "", "READ")
        # the caller's scope: a hidden experiment's runs, metrics and models are not in the views
        cur = call.store.cursor(body.as_of, fresh=body.fresh, scope=call.read_scope())
        try:
            return work(cur, body)
        finally:
            cur.close()

    handler.__name__ = handler.__qualname__ = work.__name__
    return handler


ui_downsample = _reads(downsample)
ui_runs_table = _reads(runs_table)
ui_runs_groups = _reads(runs_groups)
ui_runs_keys = _reads(runs_keys)
ui_run = _reads(lambda cur, body: get_run(cur, body.run_id))
ui_experiments = _reads(lambda cur, body: list_experiments(cur, body.view_type))
ui_registry_models = _reads(lambda cur, body: registry_models(cur))
ui_registry_model = _reads(lambda cur, body: registry_model(cur, body.name))
