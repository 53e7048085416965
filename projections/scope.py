"""What one reader may see: the catalog's views narrowed to a moment and to some experiments and models.

A `Scope` names the experiments and registered models a reader may read (None: all of them).
`narrow` shadows every view on one catalog cursor with a TEMP view of the same name that keeps
only those rows — and, with a moment, only the events up to it (time travel). Queries on the
cursor name the views as usual and see nothing else; the persistent tables stay as they are.

Which rows belong to what:

- registry events (they carry ``registered_model_id``) to their registered model, kept when its
  current name is readable;
- other events with an ``experiment_id`` to that experiment; events of a run (``run_id``) to the
  run's experiment; events of a logged model (``model_id``) to its experiment;
- metric points to their run's experiment;
- anything else (none today) is kept.

A run or logged model that started after `narrow` ran is not in scope on that cursor: a new
cursor sees it. Hiding is the failure mode, never showing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

from projections.views import EXPERIMENTS, LATEST, LIVENESS, REGISTRY, RUNS

if TYPE_CHECKING:
    import duckdb

__all__ = ["Scope", "narrow"]


class Scope(NamedTuple):
    """The experiment ids and registered model names a reader may read; None: every one."""

    experiments: frozenset[str] | None = None
    models: frozenset[str] | None = None

    @property
    def everything(self) -> bool:
        return self.experiments is None and self.models is None


_DEFAULT_LOCATION = "(SELECT value FROM {main}._meta WHERE key = 'default_location')"

_ROW_IN_SCOPE = """CASE
    WHEN registered_model_id IS NOT NULL THEN {models}
    WHEN experiment_id IS NOT NULL THEN experiment_id IN (SELECT experiment_id FROM _scope_experiments)
    WHEN run_id IS NOT NULL THEN run_id IN (SELECT run_id FROM _scope_runs)
    WHEN model_id IS NOT NULL THEN model_id IN (SELECT model_id FROM _scope_logged_models)
    ELSE TRUE END"""


def narrow(cur: duckdb.DuckDBPyConnection, create_views: Callable[..., None], *, moment: int | None = None,
           scope: Scope | None = None) -> None:
    """Shadow the views on `cur` with TEMP views: events up to `moment` (ns) only, and only the
    rows `scope` allows. The cursor must come from the catalog's connection (``main`` holds the
    folded tables); `create_views(cur, temp=True, **sources)` builds every view over the given
    sources (the catalog's own view builder, so narrowed views are the same SQL)."""
    scope = scope or Scope()
    main = f'"{_one(cur, "SELECT current_database()")}".main'  # not plain `main`: the temp views' schema is main too
    control, metrics = ["TRUE"], ["TRUE"]
    if moment is not None:
        cur.execute("SET VARIABLE tracklog_as_of = ?", [moment])
        control.append("ts <= getvariable('tracklog_as_of')")
        metrics.append("ts <= getvariable('tracklog_as_of')")
    if scope.experiments is not None:
        _scope_tables(cur, main, scope.experiments)
        control.append(_ROW_IN_SCOPE.format(models="TRUE" if scope.models is None else _MODELS_IN_SCOPE))
        metrics.append("run_id IN (SELECT run_id FROM _scope_runs)")
    elif scope.models is not None:
        control.append(f"(registered_model_id IS NULL OR {_MODELS_IN_SCOPE})")
    if scope.models is not None:
        cur.execute("CREATE OR REPLACE TEMP TABLE _scope_model_names AS SELECT unnest(?::VARCHAR[]) AS name",
                    [sorted(scope.models)])
        cur.execute(f"CREATE OR REPLACE TEMP TABLE _scope_models AS SELECT registered_model_id FROM {main}.registered_models "
                    "WHERE name IN (SELECT name FROM _scope_model_names)")
    where = " AND ".join(control)
    cur.execute(f"CREATE OR REPLACE TEMP VIEW _control_narrow AS SELECT * FROM {main}.control WHERE {where}")
    cur.execute(f"CREATE OR REPLACE TEMP VIEW _meta_narrow AS SELECT * FROM {main}.meta WHERE {where}")
    cur.execute(f"CREATE OR REPLACE TEMP VIEW _trace_events_narrow AS SELECT * FROM {main}.trace_events WHERE {where}")
    cur.execute(f"CREATE OR REPLACE TEMP VIEW _metrics_narrow AS SELECT * FROM {main}.metric_points WHERE {' AND '.join(metrics)}")
    runs_filter = "" if scope.experiments is None else "WHERE experiment_id IN (SELECT experiment_id FROM _scope_experiments)"
    if moment is not None:  # the log cut at `moment`: the folded tables' SQL over the narrowed events
        cur.execute("CREATE OR REPLACE TEMP VIEW _latest_narrow AS " + LATEST.format(metrics="_metrics_narrow"))
        run_rows = RUNS.format(control="_control_narrow", latest="_latest_narrow", run_filter="")
        cur.execute(f"CREATE OR REPLACE TEMP VIEW _run_rows_narrow AS SELECT * FROM ({run_rows}) {runs_filter}")
        cur.execute("CREATE OR REPLACE TEMP VIEW _liveness_narrow AS "
                    + LIVENESS.format(control="_control_narrow", metrics="_metrics_narrow"))
        now = "getvariable('tracklog_as_of')"  # a run's liveness as it was then
        registry = {table: f"({sql.format(meta='_meta_narrow', registry_filter='')})" for table, sql in REGISTRY.items()}
    else:  # the folded tables are current: only filter them
        latest_filter = "" if scope.experiments is None else "WHERE run_id IN (SELECT run_id FROM _scope_runs)"
        cur.execute(f"CREATE OR REPLACE TEMP VIEW _latest_narrow AS SELECT * FROM {main}.latest {latest_filter}")
        cur.execute(f"CREATE OR REPLACE TEMP VIEW _run_rows_narrow AS SELECT * FROM {main}.run_rows {runs_filter}")
        cur.execute(f"CREATE OR REPLACE TEMP VIEW _liveness_narrow AS SELECT * FROM {main}.liveness")
        now = "epoch_us(get_current_timestamp()) * 1000"
        models = "TRUE" if scope.models is None else _MODELS_IN_SCOPE  # as `_ROW_IN_SCOPE` keeps registry events
        registry = {table: f"(SELECT * FROM {main}.{table} WHERE {models})" for table in REGISTRY}
    create_views(cur, temp=True, control="_control_narrow", meta="_meta_narrow", trace_events="_trace_events_narrow",
                 metrics="_metrics_narrow",
                 latest="_latest_narrow", run_rows="_run_rows_narrow", liveness="_liveness_narrow", now_ns=now,
                 **registry,
                 default_location=_DEFAULT_LOCATION.format(main=main))
    if scope.experiments is not None:  # experiment 0 exists without an event: filter the view itself
        experiments = EXPERIMENTS.format(meta="_meta_narrow", default_location=_DEFAULT_LOCATION.format(main=main))
        cur.execute(f"CREATE OR REPLACE TEMP VIEW experiments AS SELECT * FROM ({experiments}) "
                    "WHERE experiment_id IN (SELECT experiment_id FROM _scope_experiments)")


def _one(cur: duckdb.DuckDBPyConnection, query: str) -> str:
    return str(cur.execute(query).fetchall()[0][0])


_MODELS_IN_SCOPE = "registered_model_id IN (SELECT registered_model_id FROM _scope_models)"


def _scope_tables(cur: duckdb.DuckDBPyConnection, main: str, experiments: frozenset[str]) -> None:
    """The experiments in scope, and the runs and logged models that belong to them."""
    cur.execute("CREATE OR REPLACE TEMP TABLE _scope_experiments AS SELECT unnest(?::VARCHAR[]) AS experiment_id",
                [sorted(experiments)])
    cur.execute(f"CREATE OR REPLACE TEMP TABLE _scope_runs AS SELECT DISTINCT run_id FROM {main}.control "
                "WHERE kind = 'RunStarted' AND experiment_id IN (SELECT experiment_id FROM _scope_experiments)")
    cur.execute(f"CREATE OR REPLACE TEMP TABLE _scope_logged_models AS SELECT DISTINCT model_id FROM {main}.control "
                "WHERE kind = 'ModelLogged' AND experiment_id IN (SELECT experiment_id FROM _scope_experiments)")
