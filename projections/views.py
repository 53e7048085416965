"""The read models in SQL: every conflict rule of tracklog is written here, once.

The catalog (`projections.catalog`) keeps three tables of folded events — ``control`` (every
control event), ``meta`` (the control events of experiments, logged models and the registry: a
small table, so their views never scan the runs' events) and ``metric_points`` — plus the
tables it maintains incrementally from them: ``latest`` (the latest point per run and key),
``run_rows`` (one row per run, rebuilt for the runs each fold touches, by `RUNS`) and
``liveness`` (each run's last signs of life, by `LIVENESS`), and the registry's tables (by
`REGISTRY`, rebuilt for the registered models each fold touches). The view ``runs`` is `RUNS_LIVE`:
``run_rows`` with the time-dependent status of crashed runs applied at query time. The
templates below name their sources in braces (``{control}``, ``{meta}``, ``{metrics}``,
``{latest}``, ``{runs}``…); the catalog fills in its tables, or for ``as_of`` the same tables
cut at a moment. Never user text.

Conflict rules (DESIGN.md), all ordered by ``o = (ts, writer_id, writer_seq)``:

- last writer wins for names, status, lifecycle, tags, aliases, stages, descriptions;
- the first writer wins for params (later different values are ``param_conflicts``) and for
  what a creation event fixes (a run's experiment, start time and artifact URI);
- the latest metric value is the highest ``(step, timestamp, writer_seq, writer_id)``;
- a RUNNING run whose process stopped sending heartbeats is KILLED after the timeout (`RUNS_LIVE`);
- a registered model or logged model, once deleted, stays deleted (a new one gets a new id).
"""

from __future__ import annotations

from eventlog.events import TRACE_EVENTS

__all__ = ["EXPERIMENTS", "LATEST", "LIVENESS", "LOGGED_MODELS", "META_KINDS", "NOT_RUN_STALE", "REGISTRY", "RUNS",
           "RUNS_LIVE", "TRACE_KINDS", "VIEWS", "VIEW_NAMES"]

# the control events kept (also) in ``meta``: everything that is not an event of a run
META_KINDS = (
    "ExperimentCreated", "ExperimentRenamed", "ExperimentDeleted", "ExperimentRestored", "ExperimentTagSet",
    "ExperimentTagDeleted", "ModelLogged", "LoggedModelStatusSet", "LoggedModelTagSet", "LoggedModelTagDeleted",
    "LoggedModelParamLogged", "LoggedModelDeleted", "LoggedModelMetricLogged", "RegisteredModelCreated", "RegisteredModelRenamed",
    "RegisteredModelDescriptionSet", "RegisteredModelDeleted", "RegisteredModelTagSet", "RegisteredModelTagDeleted",
    "ModelVersionCreated", "ModelVersionDescriptionSet", "ModelVersionStageSet", "ModelVersionDeleted",
    "ModelVersionTagSet", "ModelVersionTagDeleted", "ModelAliasSet", "ModelAliasDeleted",
)

# the control events kept (also) in ``trace_events``, which the trace views read
TRACE_KINDS = tuple(kind.__name__ for kind in TRACE_EVENTS)

# The runs of `{control}` restricted by `{run_filter}`, with latest metrics from `{latest}`.
RUNS = """
WITH c AS (
    SELECT *, (ts, writer_id, writer_seq) AS o FROM {control} WHERE run_id IS NOT NULL {run_filter}
), started AS (
    SELECT run_id, arg_min(experiment_id, o) AS experiment_id, arg_min(actor, o) AS user_id,
           arg_min(start_time, o) AS start_ms, arg_min(artifact_uri, o) AS artifact_uri
    FROM c WHERE kind = 'RunStarted' GROUP BY run_id
), status AS (
    SELECT run_id,
           arg_max(CASE kind WHEN 'RunEnded' THEN status ELSE 'RUNNING' END, o) AS status,
           arg_max_null(CASE WHEN kind = 'RunEnded' AND status IN ('FINISHED', 'FAILED', 'KILLED')
                             THEN end_time END, o) AS end_ms
    FROM c WHERE kind IN ('RunStarted', 'RunResumed', 'RunEnded') GROUP BY run_id
), spell AS (
    SELECT run_id, max(ts) AS spell_ts FROM c WHERE kind IN ('RunStarted', 'RunResumed') GROUP BY run_id
), lost AS (
    SELECT run_id, max(last_seen) AS lost_seen, arg_max(actor, o) AS lost_by, max(ts) AS lost_ts
    FROM c WHERE kind = 'RunHeartbeatLost' GROUP BY run_id
), life AS (
    SELECT run_id, arg_max(CASE kind WHEN 'RunDeleted' THEN 'deleted' ELSE 'active' END, o) AS lifecycle_stage,
           max(ts) FILTER (WHERE kind = 'RunDeleted') AS deleted_ts
    FROM c WHERE kind IN ('RunDeleted', 'RunRestored') GROUP BY run_id
), tag_events AS (
    SELECT run_id, key, value, o FROM c WHERE kind = 'RunTagSet'
    UNION ALL SELECT run_id, key, NULL, o FROM c WHERE kind = 'RunTagDeleted'
    UNION ALL SELECT run_id, 'mlflow.runName', run_name, o FROM c WHERE kind IN ('RunStarted', 'RunRenamed')
    UNION ALL SELECT run_id, 'mlflow.note.content', description, o FROM c WHERE kind = 'RunDescriptionSet'
), tag_now AS (
    SELECT run_id, key, arg_max_null(value, o) AS value FROM tag_events GROUP BY run_id, key
), tags AS (
    SELECT run_id, map_from_entries(list({{'k': key, 'v': value}} ORDER BY key)) AS tags,
           max(value) FILTER (WHERE key = 'mlflow.runName') AS run_name
    FROM tag_now WHERE value IS NOT NULL GROUP BY run_id
), params AS (
    SELECT run_id, map_from_entries(list({{'k': key, 'v': value}} ORDER BY key)) AS params
    FROM (SELECT run_id, key, arg_min(value, o) AS value FROM c WHERE kind = 'ParamLogged' GROUP BY run_id, key)
    GROUP BY run_id
), inputs AS (
    SELECT run_id, list({{'name': dataset_name, 'digest': dataset_digest, 'source_type': source_type,
                         'source': source, 'schema': dataset_schema, 'profile': profile, 'context': context,
                         'input_tags': input_tags}}
                        ORDER BY first_ts) AS inputs
    FROM (SELECT run_id, dataset_name, dataset_digest, source_type, source, dataset_schema, profile, context,
                 coalesce(input_tags, '') AS input_tags, min(ts) AS first_ts
          FROM c WHERE kind = 'DatasetInputLogged' GROUP BY ALL)
    GROUP BY run_id
), model_inputs AS (
    SELECT run_id, list(model_id ORDER BY first_ts, model_id) AS model_inputs
    FROM (SELECT run_id, model_id, min(ts) AS first_ts FROM c WHERE kind = 'ModelInputLogged' GROUP BY ALL)
    GROUP BY run_id
), model_outputs AS (
    SELECT run_id, list({{'model_id': model_id, 'step': step}} ORDER BY model_id) AS model_outputs
    FROM (SELECT run_id, model_id, arg_max(model_step, o) AS step FROM c WHERE kind = 'ModelOutputLogged' GROUP BY ALL)
    GROUP BY run_id
), metrics AS (
    SELECT run_id, map_from_entries(list({{'k': key, 'v': value}} ORDER BY key)) AS metrics,
           list({{'key': key, 'step': r.step, 'timestamp': r.timestamp}} ORDER BY key) AS metric_points
    FROM {latest} WHERE run_id IN (SELECT run_id FROM started) {run_filter} GROUP BY run_id
)
SELECT s.run_id, s.experiment_id, coalesce(t.run_name, '') AS run_name, s.user_id,
       coalesce(st.status, 'RUNNING') AS status,
       epoch_ms(s.start_ms) AS start_time, epoch_ms(st.end_ms) AS end_time,
       coalesce(l.lifecycle_stage, 'active') AS lifecycle_stage, s.artifact_uri,
       coalesce(p.params, MAP {{}}::MAP(VARCHAR, VARCHAR)) AS params,
       coalesce(t.tags, MAP {{}}::MAP(VARCHAR, VARCHAR)) AS tags,
       coalesce(m.metrics, MAP {{}}::MAP(VARCHAR, DOUBLE)) AS metrics,
       coalesce(i.inputs, []) AS inputs,
       s.start_ms AS start_time_ms, st.end_ms AS end_time_ms,
       coalesce(m.metric_points, []) AS metric_steps,
       coalesce(mi.model_inputs, []) AS model_inputs,
       coalesce(mo.model_outputs, []) AS model_outputs,
       sp.spell_ts, lo.lost_seen, lo.lost_by, lo.lost_ts
FROM started s
LEFT JOIN status st USING (run_id) LEFT JOIN life l USING (run_id) LEFT JOIN tags t USING (run_id)
LEFT JOIN params p USING (run_id) LEFT JOIN metrics m USING (run_id) LEFT JOIN inputs i USING (run_id)
LEFT JOIN model_inputs mi USING (run_id) LEFT JOIN model_outputs mo USING (run_id)
LEFT JOIN spell sp USING (run_id) LEFT JOIN lost lo USING (run_id)
"""

# Control events that carry a run id but never change its row in ``runs``: heartbeats (they fold
# into ``liveness``), trace links and the records of what a run produced (artifacts, logged models
# and their metrics, registered versions: each has its own view). A fold of them rebuilds no run
# (creating a model version rebuilt its source run's row: ~50 ms of its ~140).
NOT_RUN_STALE = ("RunHeartbeatSent", "TraceLinked", "ArtifactLogged", "ModelLogged", "LoggedModelMetricLogged",
                 "ModelVersionCreated")

# Signs of life per run: the last heartbeat and the last heartbeat or metric point (ns). The
# catalog folds each new batch through this and merges it into its ``liveness`` table with
# greatest(); ``as_of`` views compute it whole.
LIVENESS = """
SELECT run_id, max(ts) FILTER (WHERE kind = 'RunHeartbeatSent') AS heartbeat_ts, max(ts) AS seen_ts
FROM (SELECT run_id, ts, kind FROM {control} WHERE kind = 'RunHeartbeatSent'
      UNION ALL SELECT run_id, ts, 'MetricLogged' AS kind FROM {metrics})
GROUP BY run_id
"""

# Crashed runs, decided at query time, in this one place for every surface: a RUNNING run whose
# current spell (since its last RunStarted/RunResumed) sends heartbeats is KILLED, ended at its
# last sign of life, once that is older than the heartbeat timeout — or once a reader declared
# its heartbeat lost having seen no later sign of life (so readers with other timeouts agree).
# A later sign of life (the process was only paused) makes it RUNNING again. `{now_ns}` and
# `{timeout_ns}` are SQL expressions the catalog fills in (now, or the as_of moment).
RUNS_LIVE = """
SELECT * REPLACE (
           CASE WHEN crashed THEN 'KILLED' ELSE status END AS status,
           CASE WHEN crashed THEN epoch_ms(last_seen_ms) ELSE end_time END AS end_time,
           CASE WHEN crashed THEN last_seen_ms ELSE end_time_ms END AS end_time_ms)
FROM (
    SELECT r.* EXCLUDE (spell_ts, lost_seen, lost_by, lost_ts),
           coalesce(r.status = 'RUNNING' AND l.heartbeat_ts >= r.spell_ts
                    AND (r.lost_seen >= l.seen_ts OR {now_ns} - l.seen_ts > {timeout_ns}), false) AS crashed,
           l.seen_ts // 1000000 AS last_seen_ms,
           CASE WHEN r.lost_seen >= l.seen_ts THEN r.lost_by END AS declared_dead_by,
           CASE WHEN r.lost_seen >= l.seen_ts THEN make_timestamp(r.lost_ts // 1000) END AS declared_dead_at
    FROM {run_rows} r LEFT JOIN {liveness} l USING (run_id)
)
"""

# The latest point per (run, key) of `{metrics}`.
LATEST = """
SELECT run_id, key, arg_max(value, r) AS value, max(r) AS r
FROM (SELECT run_id, key, value,
             struct_pack(step := step, timestamp := timestamp, writer_seq := writer_seq, writer_id := writer_id) AS r
      FROM {metrics})
GROUP BY run_id, key
"""

EXPERIMENTS = """
WITH c AS (
    SELECT *, (ts, writer_id, writer_seq) AS o FROM {meta} WHERE experiment_id IS NOT NULL AND kind LIKE 'Experiment%'
), created AS (
    SELECT experiment_id, arg_min(artifact_location, o) AS artifact_location, min(ts) AS created_ts
    FROM c WHERE kind = 'ExperimentCreated' GROUP BY experiment_id
    UNION ALL SELECT '0', {default_location}, 0
    WHERE NOT EXISTS (SELECT 1 FROM c WHERE kind = 'ExperimentCreated' AND experiment_id = '0')
), names AS (
    SELECT experiment_id, arg_max(name, o) AS name FROM c
    WHERE kind IN ('ExperimentCreated', 'ExperimentRenamed') GROUP BY experiment_id
), life AS (
    SELECT experiment_id, arg_max(CASE kind WHEN 'ExperimentDeleted' THEN 'deleted' ELSE 'active' END, o) AS lifecycle_stage
    FROM c WHERE kind IN ('ExperimentDeleted', 'ExperimentRestored') GROUP BY experiment_id
), tag_now AS (
    SELECT experiment_id, key, arg_max_null(CASE kind WHEN 'ExperimentTagSet' THEN value END, o) AS value
    FROM c WHERE kind IN ('ExperimentTagSet', 'ExperimentTagDeleted') GROUP BY experiment_id, key
), tags AS (
    SELECT experiment_id, map_from_entries(list({{'k': key, 'v': value}} ORDER BY key)) AS tags
    FROM tag_now WHERE value IS NOT NULL GROUP BY experiment_id
), touched AS (
    SELECT experiment_id, max(ts) AS last_ts FROM c GROUP BY experiment_id
)
SELECT e.experiment_id, coalesce(n.name, 'Default') AS name, e.artifact_location,
       coalesce(l.lifecycle_stage, 'active') AS lifecycle_stage,
       coalesce(t.tags, MAP {{}}::MAP(VARCHAR, VARCHAR)) AS tags,
       make_timestamp(e.created_ts // 1000) AS creation_time,
       make_timestamp(coalesce(greatest(u.last_ts, e.created_ts), 0) // 1000) AS last_update_time,
       e.created_ts // 1000000 AS creation_time_ms,
       coalesce(greatest(u.last_ts, e.created_ts), 0) // 1000000 AS last_update_time_ms
FROM created e LEFT JOIN names n USING (experiment_id) LEFT JOIN life l USING (experiment_id)
LEFT JOIN tags t USING (experiment_id) LEFT JOIN touched u USING (experiment_id)
"""

# MLflow 3's logged models: created by `ModelLogged` (in process: whole, READY; over REST:
# followed by a PENDING status), then status, tags (last writer wins), params (first wins),
# metrics (the latest point per key by (timestamp, step), as MLflow's search compares them). Its
# flavors are the ModelLogged's, or the tag ``tracklog.flavors`` a model logged in steps gets.
LOGGED_MODELS = """
WITH c AS (
    SELECT *, (ts, writer_id, writer_seq) AS o FROM {meta} WHERE model_id IS NOT NULL
      AND (kind = 'ModelLogged' OR kind LIKE 'LoggedModel%')
), logged AS (
    SELECT model_id, arg_min(name, o) AS name, arg_min(experiment_id, o) AS experiment_id,
           arg_min(run_id, o) AS run_id, arg_min(artifact_location, o) AS artifact_location,
           arg_min(flavors, o) AS flavors, arg_min(model_type, o) AS model_type, arg_min(actor, o) AS actor,
           min(ts) AS created_ts
    FROM c WHERE kind = 'ModelLogged' GROUP BY model_id
), state AS (
    SELECT model_id, max(ts) AS updated_ts, bool_or(kind = 'LoggedModelDeleted') AS deleted,
           arg_max(status, o) FILTER (WHERE kind = 'LoggedModelStatusSet') AS status,
           arg_max(status_message, o) FILTER (WHERE kind = 'LoggedModelStatusSet') AS status_message
    FROM c GROUP BY model_id
), tag_now AS (
    SELECT model_id, key, arg_max_null(CASE kind WHEN 'LoggedModelTagSet' THEN value END, o) AS value
    FROM c WHERE kind IN ('LoggedModelTagSet', 'LoggedModelTagDeleted') GROUP BY model_id, key
), tags AS (
    SELECT model_id, map_from_entries(list({{'k': key, 'v': value}} ORDER BY key)) AS tags
    FROM tag_now WHERE value IS NOT NULL GROUP BY model_id
), params AS (
    SELECT model_id, map_from_entries(list({{'k': key, 'v': value}} ORDER BY key)) AS params
    FROM (SELECT model_id, key, arg_min(value, o) AS value FROM c WHERE kind = 'LoggedModelParamLogged' GROUP BY ALL)
    GROUP BY model_id
), metrics AS (
    SELECT model_id, map_from_entries(list({{'k': key, 'v': value}} ORDER BY key)) AS metrics
    FROM (SELECT model_id, key, arg_max(metric_value, (timestamp, step, o)) AS value
          FROM c WHERE kind = 'LoggedModelMetricLogged' GROUP BY ALL)
    GROUP BY model_id
)
SELECT g.model_id, g.name, g.experiment_id, nullif(g.run_id, '') AS run_id, g.artifact_location,
       string_split(coalesce(nullif(g.flavors, ''), t.tags['tracklog.flavors']), ',') AS flavors, coalesce(g.model_type, '') AS model_type, g.actor,
       make_timestamp(g.created_ts // 1000) AS logged_at, g.created_ts // 1000000 AS creation_time_ms,
       s.updated_ts // 1000000 AS last_updated_time_ms, coalesce(s.status, 'READY') AS status,
       coalesce(s.status_message, '') AS status_message, s.deleted,
       coalesce(t.tags, MAP {{}}::MAP(VARCHAR, VARCHAR)) AS tags,
       coalesce(p.params, MAP {{}}::MAP(VARCHAR, VARCHAR)) AS params,
       coalesce(m.metrics, MAP {{}}::MAP(VARCHAR, DOUBLE)) AS metrics
FROM logged g JOIN state s USING (model_id) LEFT JOIN tags t USING (model_id) LEFT JOIN params p USING (model_id)
LEFT JOIN metrics m USING (model_id)
"""

# The model registry. Every registry event carries `registered_model_id` (fixed at creation)
# and `model_name` (the name at that moment). Each of `REGISTRY`'s read models depends only on
# the events of its own registered model, so the catalog keeps them as tables
# (``registered_model_rows``, ``model_version_rows``, ``model_alias_rows``) and rebuilds, in the
# fold's transaction, the rows of the models a fold touches (`{registry_filter}` narrows the
# events to them); ``as_of`` views compute them whole from the events cut at that moment.
_REGISTRY = """
    SELECT *, (ts, writer_id, writer_seq) AS o FROM {meta}
    WHERE (kind LIKE 'RegisteredModel%' OR kind LIKE 'ModelVersion%' OR kind LIKE 'ModelAlias%') {registry_filter}"""
_LIVE_MODELS = """
    SELECT registered_model_id, arg_max(model_name, o) FILTER (WHERE kind IN ('RegisteredModelCreated', 'RegisteredModelRenamed')) AS name,
           min(ts) FILTER (WHERE kind = 'RegisteredModelCreated') AS created_ts, max(ts) AS updated_ts,
           arg_min(actor, o) FILTER (WHERE kind = 'RegisteredModelCreated') AS user_id
    FROM r GROUP BY registered_model_id
    HAVING count(*) FILTER (WHERE kind = 'RegisteredModelCreated') > 0
       AND count(*) FILTER (WHERE kind = 'RegisteredModelDeleted') = 0"""
_LIVE_VERSIONS = """
    SELECT registered_model_id, version, arg_min(source, o) FILTER (WHERE kind = 'ModelVersionCreated') AS source,
           arg_min(run_id, o) FILTER (WHERE kind = 'ModelVersionCreated') AS run_id,
           arg_min(model_id, o) FILTER (WHERE kind = 'ModelVersionCreated') AS model_id,
           arg_min(run_link, o) FILTER (WHERE kind = 'ModelVersionCreated') AS run_link,
           arg_min(actor, o) FILTER (WHERE kind = 'ModelVersionCreated') AS user_id,
           min(ts) FILTER (WHERE kind = 'ModelVersionCreated') AS created_ts, max(ts) AS updated_ts,
           coalesce(arg_max(description, o) FILTER (WHERE kind IN ('ModelVersionCreated', 'ModelVersionDescriptionSet')), '') AS description,
           coalesce(arg_max(stage, o) FILTER (WHERE kind = 'ModelVersionStageSet'), 'None') AS current_stage
    FROM r WHERE version IS NOT NULL AND kind LIKE 'ModelVersion%' GROUP BY registered_model_id, version
    HAVING count(*) FILTER (WHERE kind = 'ModelVersionCreated') > 0
       AND count(*) FILTER (WHERE kind = 'ModelVersionDeleted') = 0"""


# The registry's read models by the table that holds them (see `_REGISTRY`).
REGISTRY = {
    "registered_model_rows": """
        WITH r AS (""" + _REGISTRY + """), m AS (""" + _LIVE_MODELS + """),
        tag_now AS (
            SELECT registered_model_id, key, arg_max_null(CASE kind WHEN 'RegisteredModelTagSet' THEN value END, o) AS value
            FROM r WHERE kind IN ('RegisteredModelTagSet', 'RegisteredModelTagDeleted') GROUP BY ALL)
        SELECT m.name, m.registered_model_id,
               (SELECT arg_max(description, o) FROM r WHERE r.registered_model_id = m.registered_model_id
                AND kind IN ('RegisteredModelCreated', 'RegisteredModelDescriptionSet')) AS description,
               make_timestamp(m.created_ts // 1000) AS creation_time, make_timestamp(m.updated_ts // 1000) AS last_updated_time,
               coalesce((SELECT map_from_entries(list({{'k': key, 'v': value}} ORDER BY key)) FROM tag_now t
                         WHERE t.registered_model_id = m.registered_model_id AND value IS NOT NULL),
                        MAP {{}}::MAP(VARCHAR, VARCHAR)) AS tags,
               m.created_ts // 1000000 AS creation_time_ms, m.updated_ts // 1000000 AS last_updated_time_ms, m.user_id
        FROM m""",
    "model_version_rows": """
        WITH r AS (""" + _REGISTRY + """), m AS (""" + _LIVE_MODELS + """), v AS (""" + _LIVE_VERSIONS + """),
        tag_now AS (
            SELECT registered_model_id, version, key, arg_max_null(CASE kind WHEN 'ModelVersionTagSet' THEN value END, o) AS value
            FROM r WHERE kind IN ('ModelVersionTagSet', 'ModelVersionTagDeleted') GROUP BY ALL)
        SELECT m.name, v.version, v.current_stage, v.description, v.source, nullif(v.run_id, '') AS run_id,
               nullif(v.model_id, '') AS model_id, v.user_id, 'READY' AS status,
               make_timestamp(v.created_ts // 1000) AS creation_time, make_timestamp(v.updated_ts // 1000) AS last_updated_time,
               coalesce((SELECT map_from_entries(list({{'k': key, 'v': value}} ORDER BY key)) FROM tag_now t
                         WHERE t.registered_model_id = v.registered_model_id AND t.version = v.version AND value IS NOT NULL),
                        MAP {{}}::MAP(VARCHAR, VARCHAR)) AS tags,
               m.registered_model_id, nullif(v.run_link, '') AS run_link,
               v.created_ts // 1000000 AS creation_time_ms, v.updated_ts // 1000000 AS last_updated_time_ms
        FROM v JOIN m USING (registered_model_id)""",
    "model_alias_rows": """
        WITH r AS (""" + _REGISTRY + """), m AS (""" + _LIVE_MODELS + """), v AS (""" + _LIVE_VERSIONS + """),
        a AS (
            SELECT registered_model_id, alias, arg_max_null(CASE kind WHEN 'ModelAliasSet' THEN version END, o) AS version,
                   max(ts) AS set_ts
            FROM r WHERE kind IN ('ModelAliasSet', 'ModelAliasDeleted') GROUP BY ALL)
        SELECT m.name, a.alias, a.version, make_timestamp(a.set_ts // 1000) AS set_at, m.registered_model_id
        FROM a JOIN m USING (registered_model_id) JOIN v USING (registered_model_id, version)""",
}

# Views that are plain projections of the sources.
VIEWS = {
    "metrics": """
        SELECT run_id, key, value, step, timestamp, epoch_ms(timestamp) AS time, make_timestamp(ts // 1000) AS logged_at,
               writer_id, writer_seq
        FROM {metrics}""",
    "latest_metrics": """
        SELECT run_id, key, value, r.step AS step, r.timestamp AS timestamp FROM {latest}""",
    "params": """
        SELECT run_id, key, arg_min(value, (ts, writer_id, writer_seq)) AS value,
               make_timestamp(min(ts) // 1000) AS logged_at
        FROM {control} WHERE kind = 'ParamLogged' GROUP BY run_id, key""",
    "param_conflicts": """
        WITH p AS (
            SELECT run_id, key, value, actor, ts, writer_id, writer_seq,
                   first_value(value) OVER (PARTITION BY run_id, key ORDER BY ts, writer_id, writer_seq) AS kept
            FROM {control} WHERE kind = 'ParamLogged')
        SELECT run_id, key, kept AS kept_value, value AS refused_value, actor,
               make_timestamp(ts // 1000) AS logged_at, writer_id, writer_seq
        FROM p WHERE value <> kept""",
    "tags": """
        SELECT r.run_id, e.key, e.value FROM {runs} r, unnest(map_entries(r.tags)) AS t(e)""",
    "inputs": """
        SELECT run_id, dataset_name, dataset_digest, source_type, source, dataset_schema, profile, context,
               coalesce(input_tags, '') AS input_tags, make_timestamp(min(ts) // 1000) AS logged_at
        FROM {control} WHERE kind = 'DatasetInputLogged'
        GROUP BY run_id, dataset_name, dataset_digest, source_type, source, dataset_schema, profile, context,
                 coalesce(input_tags, '')""",
    "artifacts": """
        SELECT run_id, path, arg_max(size, (ts, writer_id, writer_seq)) AS size,
               arg_max(sha256, (ts, writer_id, writer_seq)) AS sha256, arg_max(actor, (ts, writer_id, writer_seq)) AS actor,
               make_timestamp(max(ts) // 1000) AS logged_at
        FROM {control} WHERE kind = 'ArtifactLogged' GROUP BY run_id, path""",
    "logged_models": """
        SELECT * EXCLUDE (deleted) FROM ({logged_models}) WHERE NOT deleted""",
    "logged_model_metrics": """
        SELECT DISTINCT model_id, nullif(run_id, '') AS run_id, key, metric_value AS value, step, timestamp,
               nullif(dataset_name, '') AS dataset_name, nullif(dataset_digest, '') AS dataset_digest
        FROM {meta} WHERE kind = 'LoggedModelMetricLogged'""",
    "registered_models": """
        SELECT * FROM {registered_model_rows}""",
    "model_versions": """
        SELECT * FROM {model_version_rows}""",
    "model_aliases": """
        SELECT * EXCLUDE (registered_model_id) FROM {model_alias_rows}""",
    "registry_history": """
        SELECT make_timestamp(ts // 1000) AS time, kind, actor, model_name AS name, version, alias, stage,
               key, value, description, source, run_id, old_name, registered_model_id, ts, writer_id, writer_seq
        FROM {meta}
        WHERE kind LIKE 'RegisteredModel%' OR kind LIKE 'ModelVersion%' OR kind LIKE 'ModelAlias%'""",
    "events": """
        SELECT kind, make_timestamp(ts // 1000) AS time, ts, actor, writer_id, writer_seq, experiment_id, run_id,
               * EXCLUDE (kind, ts, actor, writer_id, writer_seq, experiment_id, run_id)
        FROM {control}
        UNION ALL BY NAME
        SELECT 'MetricLogged' AS kind, make_timestamp(ts // 1000) AS time, ts, actor, writer_id, writer_seq,
               NULL AS experiment_id, run_id, key, value AS metric_value, step, timestamp
        FROM {metrics}""",
}

# MLflow 3 traces. A span is recorded when it ends; sent again (a retried export), the last record
# wins. A trace's info comes from its TraceStarted/TraceEnded events (MLflow's client, the
# Python API) or, for spans that arrived alone (OTLP), from its root span: name, start, duration,
# state (ERROR if the root span failed), request and response. Tags: last writer wins; metadata:
# the end's keys over the start's. A deleted trace is gone from every view.
_TRACE_EVENTS = """
    SELECT *, (ts, writer_id, writer_seq) AS o FROM {trace_events}
    WHERE trace_id NOT IN (SELECT trace_id FROM {trace_events} WHERE kind = 'TraceDeleted')"""
_LAST_SPANS = """
    SELECT * FROM c WHERE kind = 'SpanLogged'
    QUALIFY row_number() OVER (PARTITION BY trace_id, span_id ORDER BY o DESC) = 1"""
# try(): metadata that is not a JSON object (a damaged or foreign segment) reads as none, rather
# than failing every read of every trace
_JSON_MAP = "try(json_transform(nullif({0}, ''), '\"MAP(VARCHAR, VARCHAR)\"'))"
VIEWS.update({
    "spans": """
        WITH c AS (""" + _TRACE_EVENTS + """), s AS (""" + _LAST_SPANS + """)
        SELECT trace_id, span_id, nullif(parent_span_id, '') AS parent_span_id, span_name AS name,
               nullif(span_type, '') AS span_type, start_time_ns, end_time_ns,
               (end_time_ns - start_time_ns) / 1e6 AS duration_ms, make_timestamp(start_time_ns // 1000) AS start_time,
               status_code AS status, nullif(status_message, '') AS status_message, nullif(inputs, '') AS inputs,
               nullif(outputs, '') AS outputs, coalesce(nullif(attributes, ''), '{{}}') AS attributes,
               coalesce(nullif(span_events, ''), '[]') AS events, experiment_id
        FROM s""",
    "traces": """
        WITH c AS (""" + _TRACE_EVENTS + """), s AS (""" + _LAST_SPANS + """),
        ids AS (
            SELECT trace_id, arg_min(experiment_id, o) AS experiment_id FROM c GROUP BY trace_id
        ), started AS (
            SELECT trace_id, arg_min(request_time, o) AS request_time, arg_min(trace_name, o) AS trace_name,
                   arg_min(client_request_id, o) AS client_request_id, arg_min(metadata, o) AS metadata
            FROM c WHERE kind = 'TraceStarted' GROUP BY trace_id
        ), ended AS (
            SELECT trace_id, arg_max(state, o) AS state, arg_max(execution_time_ms, o) AS execution_time_ms,
                   arg_max(request_preview, o) AS request_preview, arg_max(response_preview, o) AS response_preview,
                   arg_max(metadata, o) AS metadata
            FROM c WHERE kind = 'TraceEnded' GROUP BY trace_id
        ), root AS (
            SELECT trace_id, arg_min(span_name, start_time_ns) AS name, min(start_time_ns) AS start_ns,
                   arg_min(end_time_ns, start_time_ns) AS end_ns, arg_min(status_code, start_time_ns) AS status_code,
                   arg_min(inputs, start_time_ns) AS inputs, arg_min(outputs, start_time_ns) AS outputs
            FROM s WHERE parent_span_id = '' GROUP BY trace_id
        ), counts AS (
            SELECT trace_id, count(*) AS span_count, min(start_time_ns) AS first_ns FROM s GROUP BY trace_id
        ), tag_now AS (
            SELECT trace_id, key, arg_max_null(CASE kind WHEN 'TraceTagSet' THEN value END, o) AS value
            FROM c WHERE kind IN ('TraceTagSet', 'TraceTagDeleted') GROUP BY trace_id, key
        ), tags AS (
            SELECT trace_id, map_from_entries(list({{'k': key, 'v': value}} ORDER BY key)) AS tags
            FROM tag_now WHERE value IS NOT NULL GROUP BY trace_id
        ), rated AS (
            SELECT trace_id, count(DISTINCT assessment_id) AS assessment_count FROM c
            WHERE kind = 'AssessmentLogged' GROUP BY trace_id
        ), linked AS (
            SELECT trace_id, list(DISTINCT run_id ORDER BY run_id) AS run_ids FROM c
            WHERE kind = 'TraceLinked' GROUP BY trace_id
        ), timed AS (
            SELECT i.trace_id, i.experiment_id,
                   coalesce(nullif(st.trace_name, ''), r.name, '') AS name,
                   coalesce(e.state, CASE WHEN r.status_code = 'ERROR' THEN 'ERROR' WHEN r.trace_id IS NOT NULL THEN 'OK'
                                          ELSE 'IN_PROGRESS' END) AS state,
                   coalesce(nullif(st.request_time, 0), r.start_ns // 1000000, n.first_ns // 1000000) AS request_time_ms,
                   coalesce(e.execution_time_ms, (r.end_ns - r.start_ns) // 1000000) AS execution_time_ms,
                   coalesce(nullif(e.request_preview, ''), left(r.inputs, 1000)) AS request_preview,
                   coalesce(nullif(e.response_preview, ''), left(r.outputs, 1000)) AS response_preview,
                   coalesce(t.tags, MAP {{}}::MAP(VARCHAR, VARCHAR)) AS tags,
                   map_concat(coalesce(""" + _JSON_MAP.format("st.metadata") + """, MAP {{}}::MAP(VARCHAR, VARCHAR)),
                              coalesce(""" + _JSON_MAP.format("e.metadata") + """, MAP {{}}::MAP(VARCHAR, VARCHAR))) AS metadata,
                   coalesce(n.span_count, 0) AS span_count, coalesce(a.assessment_count, 0) AS assessment_count,
                   nullif(st.client_request_id, '') AS client_request_id, l.run_ids AS linked_run_ids
            FROM ids i LEFT JOIN started st USING (trace_id) LEFT JOIN ended e USING (trace_id)
            LEFT JOIN root r USING (trace_id) LEFT JOIN counts n USING (trace_id) LEFT JOIN tags t USING (trace_id)
            LEFT JOIN rated a USING (trace_id) LEFT JOIN linked l USING (trace_id)
        )
        SELECT * EXCLUDE (linked_run_ids)
                 REPLACE (coalesce(client_request_id, metadata['mlflow.clientRequestId']) AS client_request_id),
               epoch_ms(request_time_ms) AS request_time,
               list_distinct(list_concat(list_filter([metadata['mlflow.sourceRun']], lambda x: x IS NOT NULL),
                                         coalesce(linked_run_ids, []::VARCHAR[]))) AS run_ids
        FROM timed""",
    "assessments": """
        WITH c AS (""" + _TRACE_EVENTS + """), last AS (
            SELECT *, bool_or(kind = 'AssessmentDeleted') OVER (PARTITION BY trace_id, assessment_id) AS deleted,
                   min(ts) OVER (PARTITION BY trace_id, assessment_id) AS first_ts
            FROM c WHERE kind IN ('AssessmentLogged', 'AssessmentDeleted')
            QUALIFY row_number() OVER (PARTITION BY trace_id, assessment_id ORDER BY o DESC) = 1
        )
        SELECT trace_id, assessment_id, assessment_name AS name, assessment_kind AS kind,
               nullif(overrides, '') AS overrides,
               assessment_id NOT IN (SELECT overrides FROM last WHERE NOT deleted AND kind = 'AssessmentLogged'
                                     AND overrides != '') AS valid,
               nullif(assessment_value, '') AS value, nullif(rationale, '') AS rationale, source_type, nullif(source_id, '') AS source_id,
               nullif(span_id, '') AS span_id, nullif(error, '') AS error,
               coalesce(""" + _JSON_MAP.format("metadata") + """, MAP {{}}::MAP(VARCHAR, VARCHAR)) AS metadata,
               coalesce(nullif(created_time, 0), first_ts // 1000000) AS create_time_ms, ts // 1000000 AS last_update_time_ms,
               actor, experiment_id
        FROM last WHERE NOT deleted AND kind = 'AssessmentLogged'""",
})

# every view a catalog cursor shows, by name
VIEW_NAMES = ("experiments", "runs", *VIEWS)
