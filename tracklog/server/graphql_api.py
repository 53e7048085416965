"""``/graphql``: the GraphQL endpoint MLflow's web UI reads runs, experiments, artifacts, metric
histories and datasets through.

The schema (below, in GraphQL's own language) mirrors the names of MLflow's (``mlflowGetRun``,
``mlflowSearchRuns``, … with camelCase fields, int64 values as strings — MLflow's
``LongString``). graphql-core parses, validates and executes; every root field is answered by
the REST handler of the same call, with that endpoint's access rule, so the two APIs cannot
disagree. Before executing, a query is held to MLflow's limits (root fields, aliases per level,
depth, total selections; each fragment counted once per level) and, as it is parsed, to
`MAX_TOKENS` tokens and graphql-core's nesting limit, so no query makes the server do unbounded
work. Introspection (``__schema``, ``__type``) is answered, as MLflow's server answers it: the
schema is MLflow's public one. Replies are MLflow's:
``{"data": …, "errors": null | ["message", …]}``, status 200.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from typing import Any

import graphql as gql
import msgspec

from projections.entities import encode_hook
from tracklog.server import registry, tracking, web
from tracklog.server.routing import Access, Call
from tracklog.tracking import messages as m

__all__ = ["GraphqlRequest", "graphql", "query_limits"]

MAX_DEPTH = 10
MAX_SELECTIONS = 1000
MAX_TOKENS = 10_000  # a query longer than this is refused as it is parsed (MLflow's UI sends a few hundred)

SCHEMA = """
directive @component(name: String!) on QUERY | MUTATION

scalar LongString

type MlflowExperimentTag { key: String value: String }
type MlflowExperiment {
  experimentId: String name: String artifactLocation: String lifecycleStage: String
  lastUpdateTime: LongString creationTime: LongString tags: [MlflowExperimentTag]
}
type MlflowRunInfo {
  runId: String runUuid: String runName: String experimentId: String userId: String status: String
  startTime: LongString endTime: LongString artifactUri: String lifecycleStage: String
}
type MlflowMetric { key: String value: Float timestamp: LongString step: LongString runId: String }
type MlflowParam { key: String value: String }
type MlflowRunTag { key: String value: String }
type MlflowRunData { metrics: [MlflowMetric] params: [MlflowParam] tags: [MlflowRunTag] }
type MlflowDataset {
  name: String digest: String sourceType: String source: String schema: String profile: String
}
type MlflowInputTag { key: String value: String }
type MlflowDatasetInput { tags: [MlflowInputTag] dataset: MlflowDataset }
type MlflowModelInput { modelId: String }
type MlflowRunInputs { datasetInputs: [MlflowDatasetInput] modelInputs: [MlflowModelInput] }
type MlflowModelOutput { modelId: String step: LongString }
type MlflowRunOutputs { modelOutputs: [MlflowModelOutput] }
type MlflowModelVersionTag { key: String value: String }
type MlflowModelVersion {
  name: String version: String creationTimestamp: LongString lastUpdatedTimestamp: LongString
  userId: String currentStage: String description: String source: String runId: String status: String
  statusMessage: String runLink: String aliases: [String] tags: [MlflowModelVersionTag] modelId: String
}
type MlflowRunExtension {
  info: MlflowRunInfo data: MlflowRunData inputs: MlflowRunInputs outputs: MlflowRunOutputs
  experiment: MlflowExperiment modelVersions: [MlflowModelVersion]
}
type MlflowFileInfo { path: String isDir: Boolean fileSize: LongString }
type MlflowDatasetSummary { experimentId: String name: String digest: String context: String }

type MlflowGetExperimentResponse { experiment: MlflowExperiment }
type MlflowGetRunResponse { run: MlflowRunExtension }
type MlflowSearchRunsResponse { runs: [MlflowRunExtension] nextPageToken: String }
type MlflowListArtifactsResponse { rootUri: String files: [MlflowFileInfo] nextPageToken: String }
type MlflowGetMetricHistoryBulkIntervalResponse { metrics: [MlflowMetric] }
type MlflowSearchDatasetsResponse { datasetSummaries: [MlflowDatasetSummary] }
type MlflowSearchModelVersionsResponse { modelVersions: [MlflowModelVersion] nextPageToken: String }
type Test { output: String }

input MlflowGetExperimentInput { experimentId: String }
input MlflowGetRunInput { runId: String runUuid: String }
input MlflowSearchRunsInput {
  experimentIds: [String] filter: String runViewType: String maxResults: Int orderBy: [String] pageToken: String
}
input MlflowListArtifactsInput { runId: String runUuid: String path: String pageToken: String }
input MlflowGetMetricHistoryBulkIntervalInput {
  runIds: [String] metricKey: String startStep: Int endStep: Int maxResults: Int
}
input MlflowSearchDatasetsInput { experimentIds: [String] }
input MlflowSearchModelVersionsInput { filter: String maxResults: Int orderBy: [String] pageToken: String }

type Query {
  mlflowGetExperiment(input: MlflowGetExperimentInput): MlflowGetExperimentResponse
  mlflowGetRun(input: MlflowGetRunInput): MlflowGetRunResponse
  mlflowSearchRuns(input: MlflowSearchRunsInput): MlflowSearchRunsResponse
  mlflowListArtifacts(input: MlflowListArtifactsInput): MlflowListArtifactsResponse
  mlflowGetMetricHistoryBulkInterval(input: MlflowGetMetricHistoryBulkIntervalInput): MlflowGetMetricHistoryBulkIntervalResponse
  mlflowSearchDatasets(input: MlflowSearchDatasetsInput): MlflowSearchDatasetsResponse
  mlflowSearchModelVersions(input: MlflowSearchModelVersionsInput): MlflowSearchModelVersionsResponse
  test(inputString: String): Test
}

type Mutation {
  mlflowSearchRuns(input: MlflowSearchRunsInput): MlflowSearchRunsResponse
  mlflowSearchDatasets(input: MlflowSearchDatasetsInput): MlflowSearchDatasetsResponse
  test(inputString: String): Test
}
"""


class GraphqlRequest(m.Body, kw_only=True):
    query: str = ""
    operation_name: str | None = msgspec.field(default=None, name="operationName")
    variables: dict[str, Any] | None = None


# root field → (REST handler, its request Struct, its access rule)
_ROOTS: dict[str, tuple[Callable[..., Any], type[msgspec.Struct], Access]] = {
    "mlflowGetExperiment": (tracking.get_experiment, m.ExperimentId, Access("experiment", "READ", "experiment_id")),
    "mlflowGetRun": (tracking.get_run, m.RunRef, Access("run", "READ")),
    "mlflowSearchRuns": (tracking.search_runs_, m.SearchRuns, Access("any")),
    "mlflowListArtifacts": (tracking.list_artifacts, m.ListArtifacts, Access("run", "READ")),
    "mlflowGetMetricHistoryBulkInterval": (tracking.get_metric_history_bulk_interval, m.GetMetricHistoryBulkInterval,
                                           Access("handler")),
    "mlflowSearchDatasets": (web.search_datasets, web.SearchDatasets, Access("handler")),
    "mlflowSearchModelVersions": (registry.search_model_versions, m.SearchModelVersions, Access("any")),
}


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _graph_value(value: Any) -> Any:
    """A REST reply as GraphQL reads it: camelCase keys; a non-finite number (JSON's ``"NaN"``) is null."""
    if isinstance(value, dict):
        return {_camel(k): _graph_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_graph_value(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _root(name: str) -> Callable[..., Any]:
    handler, struct, access = _ROOTS[name]

    def resolve(_parent: Any, info: gql.GraphQLResolveInfo, input: dict[str, Any] | None = None) -> Any:  # noqa: A002
        call: Call = info.context
        body = msgspec.convert({_snake(k): v for k, v in (input or {}).items() if v is not None}, struct)
        if call.server.auth is not None:
            call.server.auth.check(call, access, body)
        reply = handler(call, body)
        return _graph_value(msgspec.to_builtins(reply, enc_hook=encode_hook))

    return resolve


def _run_experiment(run: dict[str, Any], info: gql.GraphQLResolveInfo) -> Any:
    experiment_id = (run.get("info") or {}).get("experimentId")
    return _root("mlflowGetExperiment")(None, info, {"experimentId": experiment_id})["experiment"]


def _run_model_versions(run: dict[str, Any], info: gql.GraphQLResolveInfo) -> Any:
    run_id = (run.get("info") or {}).get("runId", "").replace("'", "''")
    found = _root("mlflowSearchModelVersions")(None, info, {"filter": f"run_id = '{run_id}'"})
    return found.get("modelVersions", [])


# what MLflow's protobuf messages answer for a field that is not set
_UNSET = {"String": "", "LongString": "0", "Int": 0, "Float": 0.0, "Boolean": False}


def _field(source: Any, info: gql.GraphQLResolveInfo, **_args: Any) -> Any:
    """A field of a REST reply: unset scalars as protobuf's defaults, a non-finite double (``"NaN"``
    in REST JSON) as null, as MLflow's GraphQL answers them."""
    value = source.get(info.field_name) if isinstance(source, dict) else None
    kind = gql.get_named_type(info.return_type)
    if value is None:
        return None if gql.is_list_type(info.return_type) else _UNSET.get(kind.name)  # (no field is non-null)
    if kind.name == "Float" and isinstance(value, str):
        return None
    return value


def _as_string(value: Any) -> str:
    return str(value)


def _build() -> gql.GraphQLSchema:
    schema = gql.build_schema(SCHEMA)
    long_string = schema.type_map["LongString"]
    assert isinstance(long_string, gql.GraphQLScalarType)
    long_string.serialize = _as_string  # type: ignore[method-assign]  # int64 values travel as strings, as MLflow's
    long_string.parse_value = _as_string  # type: ignore[method-assign]
    for root in (schema.query_type, schema.mutation_type):
        assert root is not None
        for name, field in root.fields.items():
            field.resolve = _root(name) if name in _ROOTS else (lambda _p, _i, inputString=None: {"output": inputString})
    run_type = schema.type_map["MlflowRunExtension"]
    assert isinstance(run_type, gql.GraphQLObjectType)
    run_type.fields["experiment"].resolve = _run_experiment
    run_type.fields["modelVersions"].resolve = _run_model_versions
    return schema


_SCHEMA = _build()


def query_limits(document: gql.DocumentNode, max_root_fields: int, max_aliases: int) -> str | None:
    """Why `document` is over MLflow's limits (root fields, aliases on one level, depth, total
    selections), or None. Checked on the parsed query, before validation and execution."""
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, gql.FragmentDefinitionNode)}
    total = 0

    def fields(selection_set: gql.SelectionSetNode) -> list[gql.FieldNode]:
        """The fields of one level, fragments merged in. Each fragment is merged once per level (as
        MLflow's scan does): spreading it again adds nothing, so fragments that spread each other
        twice cost what they say, not 2**n."""
        out: list[gql.FieldNode] = []
        seen: set[str] = set()
        pending = list(selection_set.selections)
        while pending:
            s = pending.pop()
            if isinstance(s, gql.FieldNode):
                out.append(s)
            elif isinstance(s, gql.InlineFragmentNode):
                pending += s.selection_set.selections
            elif isinstance(s, gql.FragmentSpreadNode) and s.name.value in fragments and s.name.value not in seen:
                seen.add(s.name.value)
                pending += fragments[s.name.value].selection_set.selections
        return out

    def walk(selection_set: gql.SelectionSetNode, depth: int) -> str | None:
        nonlocal total
        if depth > MAX_DEPTH:
            return f"Query exceeds maximum depth of {MAX_DEPTH}"
        level = fields(selection_set)
        total += len(level)
        if total > MAX_SELECTIONS:
            return f"Query exceeds maximum total selections of {MAX_SELECTIONS}"
        if sum(f.alias is not None for f in level) > max_aliases:
            return f"GraphQL queries should have at most {max_aliases} aliases per level, got more"
        for f in level:
            if f.selection_set is not None and (why := walk(f.selection_set, depth + 1)):
                return why
        return None

    for op in document.definitions:
        if isinstance(op, gql.OperationDefinitionNode):
            if len(fields(op.selection_set)) > max_root_fields:
                return f"GraphQL queries should have at most {max_root_fields} root fields, got more"
            if why := walk(op.selection_set, 1):
                return why
    return None


def graphql(call: Call, body: GraphqlRequest) -> dict[str, Any]:
    """``POST /graphql {"query", "operationName", "variables"}``."""
    try:
        document = gql.parse(body.query, max_tokens=MAX_TOKENS)
    except gql.GraphQLError as exc:
        return {"data": None, "errors": [exc.message]}
    limit = query_limits(document, int(os.environ.get("MLFLOW_SERVER_GRAPHQL_MAX_ROOT_FIELDS", 10)),
                         int(os.environ.get("MLFLOW_SERVER_GRAPHQL_MAX_ALIASES", 10)))
    if limit:
        return {"data": None, "errors": [limit]}
    invalid = gql.validate(_SCHEMA, document)
    if invalid:
        return {"data": None, "errors": [e.message for e in invalid]}
    result = gql.execute_sync(_SCHEMA, document, context_value=call, variable_values=body.variables,
                              operation_name=body.operation_name, field_resolver=_field)
    errors = [call.server.scrub(e.message) for e in result.errors] if result.errors else None
    return {"data": result.data, "errors": errors}
