// The REST API the UI talks to: MLflow's endpoints for writes and plain reads, tracklog's for
// what MLflow's cannot do fast (windows of 100k-run tables, downsampled histories, SQL) and for
// reads "as of" a moment. Everything here is a plain HTTP call a script can make too.

import { getAsOf } from "./state";

const MLFLOW = "api/2.0/mlflow";
const TRACKLOG = "api/2.0/tracklog";

export class ApiError extends Error {
  constructor(
    message: string,
    readonly code: string,
    readonly status: number,
  ) {
    super(message);
  }
}

// After this page writes, tracklog reads ask the server to fold first ("fresh"), so they show
// the write at once; otherwise they read the server's catalog as of its last background refresh.
let lastWrite = 0;
const FRESH_FOR_MS = 5000;
const fresh = () => (Date.now() - lastWrite < FRESH_FOR_MS ? true : undefined);

async function request<T>(method: string, path: string, body?: unknown, query?: Record<string, unknown>): Promise<T> {
  if (path.startsWith(MLFLOW) && method !== "GET") lastWrite = Date.now();
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query ?? {})) {
    if (v !== undefined && v !== null && v !== "") params.set(k, String(v));
  }
  const url = params.size ? `${path}?${params}` : path;
  const init: RequestInit = { method, headers: {} };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    (init.headers as Record<string, string>)["Content-Type"] = "application/json";
  }
  let resp: Response;
  try {
    resp = await fetch(url, init);
  } catch (e) {
    throw new ApiError(`cannot reach the server: ${(e as Error).message}`, "NETWORK", 0);
  }
  const text = await resp.text();
  let data: any = null;
  try {
    data = text ? JSON.parse(text) : {};
  } catch {
    if (!resp.ok) throw new ApiError(text.slice(0, 500) || resp.statusText, "HTTP_" + resp.status, resp.status);
    throw new ApiError(`expected JSON from ${path}, got ${text.slice(0, 80)}`, "BAD_RESPONSE", resp.status);
  }
  if (!resp.ok) {
    throw new ApiError(data?.message ?? resp.statusText, data?.error_code ?? "HTTP_" + resp.status, resp.status);
  }
  return data as T;
}

/** as_of for tracklog reads: the moment the UI travels to, or nothing for "now". */
function asOf(): number | undefined {
  return getAsOf() ?? undefined;
}

// ---- shapes -----------------------------------------------------------------------------

export interface ExperimentRow {
  experiment_id: string;
  name: string;
  lifecycle_stage: string;
  artifact_location: string;
  tags: Record<string, string>;
  creation_time: number;
  last_activity: number;
  run_count: number;
  running: number;
}

export interface RunsTable {
  total: number | null;
  offset: number;
  columns: string[];
  rows: unknown[][];
}

export interface RunGroup {
  value: string | null;
  count: number;
  last_start_time: number;
  means: Record<string, number | string | null>;
}

export interface KeyValue {
  key: string;
  value: string;
}

export interface LatestMetric {
  key: string;
  value: number | string;
  step: number;
  timestamp: number;
}

export interface RunInfo {
  run_id: string;
  experiment_id: string;
  run_name: string;
  user_id: string;
  status: string;
  start_time: number | null;
  end_time: number | null;
  lifecycle_stage: string;
  artifact_uri: string;
}

export interface RunDetail {
  info: RunInfo;
  params: KeyValue[];
  metrics: LatestMetric[];
  tags: KeyValue[];
  inputs: { name: string; digest: string; source_type: string; source: string; schema: string; profile: string; context: string }[];
  children: { run_id: string; run_name: string; status: string; start_time: number }[];
  logged_models: { model_id: string; name: string; artifact_location: string; flavors: string[]; logged_at: number }[];
  model_versions: { name: string; version: number; current_stage: string }[];
}

export interface Series {
  run_id: string;
  key: string;
  exact: boolean;
  count: number;
  x: number[];
  y: number[];
}

export interface Downsampled {
  x_axis: XAxis;
  x_min: number | null;
  x_max: number | null;
  series: Series[];
}

export type XAxis = "step" | "time" | "relative";

export interface FileInfo {
  path: string;
  is_dir: boolean;
  file_size?: number | string;
}

export interface RegisteredModelRow {
  name: string;
  description: string | null;
  creation_time: number;
  last_updated_time: number;
  tags: Record<string, string>;
  latest_version: number | null;
  version_count: number;
  aliases: { alias: string; version: number }[];
}

export interface ModelVersionRow {
  version: number;
  current_stage: string;
  description: string;
  source: string;
  run_id: string | null;
  model_id: string | null;
  user_id: string;
  status: string;
  creation_time: number;
  last_updated_time: number;
  tags: Record<string, string>;
}

export interface RegistryEvent {
  time: number;
  kind: string;
  actor: string;
  name: string;
  version: number | null;
  alias: string | null;
  stage: string | null;
  key: string | null;
  value: string | null;
  description: string | null;
  old_name: string | null;
}

export interface ModelDetail {
  registered_model: { name: string; description: string | null; creation_time: number; last_updated_time: number; tags: Record<string, string> };
  versions: ModelVersionRow[];
  aliases: { alias: string; version: number; set_at: number }[];
  history: RegistryEvent[];
}

export interface SqlResult {
  columns: string[];
  types?: string[];
  rows: unknown[][];
  truncated?: boolean;
}

// ---- tracklog endpoints (reads, all "as of" aware) ----------------------------------------

export const tl = {
  experiments: (viewType = "ACTIVE_ONLY") =>
    request<{ experiments: ExperimentRow[] }>("GET", `${TRACKLOG}/experiments/list`, undefined, { view_type: viewType, as_of: asOf(), fresh: fresh() }),
  runsTable: (body: {
    experiment_ids?: string[];
    filter?: string;
    order_by?: string[];
    columns?: string[] | null;
    offset?: number;
    limit?: number;
    run_ids?: string[];
    count?: boolean;
    view_type?: "ACTIVE_ONLY" | "DELETED_ONLY" | "ALL";
  }) => request<RunsTable>("POST", `${TRACKLOG}/runs/table`, { ...body, as_of: asOf(), fresh: fresh() }),
  runsGroups: (body: { experiment_ids: string[]; group_by: string; filter?: string; columns?: string[]; view_type?: string }) =>
    request<{ groups: RunGroup[] }>("POST", `${TRACKLOG}/runs/groups`, { ...body, as_of: asOf(), fresh: fresh() }),
  runsKeys: (experimentIds: string[] | null, runIds?: string[]) =>
    request<{ params: string[]; metrics: string[]; tags: string[] }>("POST", `${TRACKLOG}/runs/keys`, {
      experiment_ids: experimentIds,
      run_ids: runIds,
      as_of: asOf(),
      fresh: fresh(),
    }),
  run: (runId: string) => request<RunDetail>("GET", `${TRACKLOG}/runs/get`, undefined, { run_id: runId, as_of: asOf(), fresh: fresh() }),
  downsample: (body: { run_ids: string[]; keys: string[]; x_axis: XAxis; x_min?: number | null; x_max?: number | null; buckets: number }) =>
    request<Downsampled>("POST", `${TRACKLOG}/metrics/downsample`, { ...body, as_of: asOf(), fresh: fresh() }),
  registeredModels: () => request<{ registered_models: RegisteredModelRow[] }>("GET", `${TRACKLOG}/registry/models`, undefined, { as_of: asOf(), fresh: fresh() }),
  registeredModel: (name: string) => request<ModelDetail>("GET", `${TRACKLOG}/registry/model`, undefined, { name, as_of: asOf(), fresh: fresh() }),
  sql: (query: string, limit = 10_000) => request<SqlResult>("POST", `${TRACKLOG}/sql`, { query, as_of: asOf(), limit }),
};

/** A URL that downloads a query's result as CSV or Parquet (the SQL endpoint streams it). */
export function sqlDownloadUrl(query: string, format: "csv" | "parquet"): string {
  const params = new URLSearchParams({ query, format });
  const a = asOf();
  if (a !== undefined) params.set("as_of", String(a));
  return `${TRACKLOG}/sql?${params}`;
}

// ---- MLflow endpoints (writes, artifacts) ------------------------------------------------

export const mlflow = {
  loggedModel: (modelId: string) =>
    request<{ model: { info: { model_id: string; name: string; experiment_id: string; source_run_id?: string } } }>("GET", `${MLFLOW}/logged-models/${encodeURIComponent(modelId)}`),
  createExperiment: (name: string) => request<{ experiment_id: string }>("POST", `${MLFLOW}/experiments/create`, { name }),
  renameExperiment: (experimentId: string, newName: string) =>
    request("POST", `${MLFLOW}/experiments/update`, { experiment_id: experimentId, new_name: newName }),
  deleteExperiment: (experimentId: string) => request("POST", `${MLFLOW}/experiments/delete`, { experiment_id: experimentId }),
  setTag: (runId: string, key: string, value: string) => request("POST", `${MLFLOW}/runs/set-tag`, { run_id: runId, key, value }),
  deleteTag: (runId: string, key: string) => request("POST", `${MLFLOW}/runs/delete-tag`, { run_id: runId, key }),
  listArtifacts: (runId: string, path?: string) =>
    request<{ root_uri?: string; files?: FileInfo[] }>("GET", `${MLFLOW}/artifacts/list`, undefined, { run_id: runId, path }),
  listModelArtifacts: (modelId: string, path?: string) =>
    request<{ root_uri?: string; files?: FileInfo[] }>("GET", `${MLFLOW}/logged-models/${encodeURIComponent(modelId)}/artifacts/directories`, undefined, {
      artifact_directory_path: path,
    }),
  setAlias: (name: string, alias: string, version: number | string) =>
    request("POST", `${MLFLOW}/registered-models/alias`, { name, alias, version: String(version) }),
  deleteAlias: (name: string, alias: string) => request("DELETE", `${MLFLOW}/registered-models/alias`, undefined, { name, alias }),
  transitionStage: (name: string, version: number, stage: string) =>
    request("POST", `${MLFLOW}/model-versions/transition-stage`, {
      name,
      version: String(version),
      stage,
      archive_existing_versions: false,
    }),
  updateModel: (name: string, description: string) => request("PATCH", `${MLFLOW}/registered-models/update`, { name, description }),
  updateVersion: (name: string, version: number, description: string) =>
    request("PATCH", `${MLFLOW}/model-versions/update`, { name, version: String(version), description }),
  setModelTag: (name: string, key: string, value: string) => request("POST", `${MLFLOW}/registered-models/set-tag`, { name, key, value }),
  deleteModelTag: (name: string, key: string) => request("DELETE", `${MLFLOW}/registered-models/delete-tag`, undefined, { name, key }),
};

/** Where a run's artifact file downloads from (MLflow's UI endpoint). */
export function artifactUrl(runId: string, path: string): string {
  return `get-artifact?${new URLSearchParams({ path, run_uuid: runId })}`;
}

/** Where a logged model's artifact file downloads from (MLflow 3's logged-model endpoint). */
export function modelArtifactUrl(modelId: string, path: string): string {
  return `${MLFLOW}/logged-models/${encodeURIComponent(modelId)}/artifacts/files?${new URLSearchParams({ artifact_file_path: path })}`;
}

export const EVENTS_URL = `${TRACKLOG}/events`;

// ---- traces (MLflow 3's trace endpoints) -----------------------------------------------------

export interface AssessmentJson {
  assessment_id: string;
  assessment_name: string;
  feedback?: { value?: unknown };
  expectation?: { value?: unknown; serialized_value?: { value: string } };
}

export interface TraceInfoJson {
  trace_id: string;
  trace_location?: { mlflow_experiment?: { experiment_id: string } };
  request_time: string; // RFC 3339
  execution_duration?: string; // "0.045s"
  state: string;
  request_preview?: string;
  response_preview?: string;
  tags?: Record<string, string>;
  assessments?: AssessmentJson[];
}

export const traces = {
  search: (filter: string, maxResults: number) =>
    request<{ traces?: TraceInfoJson[] }>("POST", `${MLFLOW}/traces/search`, { filter, max_results: maxResults }),
  info: (traceId: string) => request<{ trace: { trace_info: TraceInfoJson } }>("GET", `${MLFLOW}/traces/${encodeURIComponent(traceId)}`),
};
