// MLflow's UI routes, mapped onto tracklog's: a link MLflow's client printed, or a bookmark from
// MLflow's UI (#/experiments/1/runs/<id>, #/compare-runs?runs=[…], #/models/m/versions/3, …),
// opens the matching page here. The routes follow MLflow's RoutePaths (experiment-tracking/
// routes.ts) and its model registry's routes (model-registry/routes.ts).

import type { Route } from "./state";

type Query = Record<string, string>;

/** tracklog's hash for an MLflow route, or null when the route is tracklog's own (or unknown). */
export function fromMlflow(route: Route): string | null {
  const [first, ...rest] = route.path;
  const q = route.query;
  switch (first) {
    case "experiments":
      return rest.length ? experiment(rest[0], rest.slice(1), q) : null;
    case "runs":
      return rest.length > 1 ? run(rest[0], rest.slice(1), q) : null; // #/runs/<id> is tracklog's own
    case "compare-runs":
      return hash("/compare", keep(q, { runs: jsonList(q.get("runs")).join(",") }));
    case "compare-experiments":
      return hash(`/experiments/${jsonList(q.get("experiments")).map(encodeURIComponent).join(",")}`, keep(q));
    case "metric":
      return hash("/charts", keep(q, { runs: jsonList(q.get("runs")).join(","), keys: metricKeys(rest, q).join(",") }));
    case "models":
      return rest.length > 1 ? model(rest[0], rest.slice(1), q) : null;
    case "compare-model-versions":
      return hash("/compare", keep(q, { runs: Object.keys(jsonObject(q.get("runs"))).join(",") }));
    default:
      return null;
  }
}

// what MLflow's experiment page keeps in its query (tracklog's own are q, sort, cols, group, view)
const MLFLOW_EXPERIMENT_QUERY = ["searchFilter", "searchInput", "lifecycleFilter", "isComparingRuns", "viewStateShareKey",
  "compareRunsMode", "orderByKey", "orderByAsc", "startTime", "modelVersionFilter", "o"];

// #/experiments/<id>[/<tab>|/s|/runs/<run>/…|/models/<logged model>]?searchFilter=…&lifecycleFilter=…
function experiment(id: string, tail: string[], q: URLSearchParams): string | null {
  if (tail[0] === "runs" && tail.length > 1) return run(tail[1], tail.slice(2), q);
  if (tail[0] === "models" && tail.length > 1) return hash(`/logged-models/${encodeURIComponent(tail[1])}`, keep(q));
  if (!tail.length && !MLFLOW_EXPERIMENT_QUERY.some((k) => q.has(k))) return null; // tracklog's route too
  const filter = q.get("searchFilter") ?? q.get("searchInput"); // the second: MLflow 1.x's #/experiments/1/s?searchInput=
  const deleted = q.get("lifecycleFilter")?.toLowerCase() === "deleted";
  const own = Object.fromEntries(["q", "sort", "cols", "group", "view"].map((k) => [k, q.get(k) ?? undefined]));
  return hash(`/experiments/${encodeURIComponent(id)}`, keep(q, { ...own, q: filter ?? own.q, view: deleted ? "DELETED_ONLY" : own.view }));
}

// …/runs/<id>/<tab>: artifacts/<path> and artifactPath/<path> open the artifacts tab at that file,
// model-metrics and system-metrics the charts tab, anything else (overview, traces) the run
function run(id: string, tail: string[], q: URLSearchParams): string {
  const [tab, ...path] = tail;
  if (tab === "artifacts" || tab === "artifactPath") return hash(`/runs/${encodeURIComponent(id)}`, keep(q, { tab: "artifacts", path: path.join("/") || undefined }));
  if (tab === "model-metrics" || tab === "system-metrics") return hash(`/runs/${encodeURIComponent(id)}`, keep(q, { tab: "charts" }));
  return hash(`/runs/${encodeURIComponent(id)}`, keep(q));
}

// #/models/<name>/versions/<v> is a version's page; #/models/<name>/<subpage>[/…] (serving, …) the model's
function model(name: string, tail: string[], q: URLSearchParams): string | null {
  if (tail[0] === "versions" && tail.length === 2) return null; // tracklog's route too
  return hash(`/models/${encodeURIComponent(name)}`, keep(q));
}

// #/metric/<key>?runs=[…]&metric="key"&plot_metric_keys=["a","b"]
function metricKeys(rest: string[], q: URLSearchParams): string[] {
  const keys = jsonList(q.get("plot_metric_keys"));
  if (keys.length) return keys;
  const one = jsonString(q.get("metric")) ?? rest.join("/");
  return one ? [one] : [];
}

/** Only as_of survives from MLflow's query (plus what the new route sets). */
function keep(q: URLSearchParams, values: Record<string, string | undefined> = {}): Query {
  const out: Query = {};
  const asOf = q.get("as_of");
  if (asOf) out.as_of = asOf;
  for (const [k, v] of Object.entries(values)) if (v) out[k] = v;
  return out;
}

function hash(path: string, query: Query): string {
  const s = new URLSearchParams(query).toString();
  return "#" + path + (s ? "?" + s : "");
}

function parse(text: string | null): unknown {
  if (text === null) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function jsonList(text: string | null): string[] {
  const value = parse(text);
  return Array.isArray(value) ? value.map(String) : [];
}

function jsonObject(text: string | null): Record<string, unknown> {
  const value = parse(text);
  return value && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

function jsonString(text: string | null): string | undefined {
  const value = parse(text);
  return typeof value === "string" ? value : undefined;
}
