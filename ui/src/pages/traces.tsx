// Traces (MLflow 3 tracing): a list filtered with MLflow's trace grammar (the server's
// traces/search), and a trace's span tree with timings, inputs, outputs, attributes, events and
// assessments (the `spans` view through the SQL endpoint, the trace's info through MLflow's API).

import { useState } from "preact/hooks";
import { tl, traces as traceApi, type TraceInfoJson } from "../api";
import { Empty, ErrorBox, KeyValueTable, Spinner, useLoad } from "../components";
import { fmtDuration, fmtTime } from "../format";
import { href, setQuery, useRoute } from "../state";

const STATE_CLASS: Record<string, string> = { OK: "ok", ERROR: "bad", IN_PROGRESS: "running" };

function StateBadge({ state }: { state: string }) {
  return (
    <span class={`badge ${STATE_CLASS[state] ?? "muted"}`}>
      <span class={`dot ${STATE_CLASS[state] ?? "muted"}`} />
      {state}
    </span>
  );
}

const durationMs = (d: string | undefined) => (d ? parseFloat(d) * 1000 : undefined);

export function TracesPage() {
  const route = useRoute();
  const filter = route.query.get("q") ?? "";
  const [draft, setDraft] = useState(filter);
  const list = useLoad(() => traceApi.search(filter, 200), [filter]);
  const traces = list.data?.traces ?? [];
  return (
    <div class="page traces-page">
      <div class="page-head">
        <h1>Traces</h1>
        <span class="muted small">MLflow 3 traces: from tracklog.trace, MLflow's client or any OpenTelemetry exporter.</span>
      </div>
      <form
        class="row gap"
        onSubmit={(e) => {
          e.preventDefault();
          setQuery({ q: draft || null });
        }}
      >
        <input
          class="input mono grow"
          data-testid="traces-filter"
          placeholder="trace.status = 'ERROR' and trace.execution_time_ms > 100 and tags.env = 'prod'"
          value={draft}
          onInput={(e) => setDraft(e.currentTarget.value)}
        />
        <button class="btn primary" type="submit" data-testid="traces-search">
          Search
        </button>
      </form>
      <ErrorBox error={list.error} />
      {list.loading && !list.data && <Spinner />}
      {list.data && !traces.length && <Empty>No traces match.</Empty>}
      {traces.length > 0 && (
        <table class="table" data-testid="traces-table">
          <thead>
            <tr>
              <th>Trace</th>
              <th>Name</th>
              <th>State</th>
              <th>Started</th>
              <th>Duration</th>
              <th>Request</th>
              <th>Experiment</th>
            </tr>
          </thead>
          <tbody>
            {traces.map((t) => (
              <tr>
                <td class="mono">
                  <a href={href(`/traces/${encodeURIComponent(t.trace_id)}`)}>{t.trace_id.slice(0, 15)}…</a>
                </td>
                <td>{t.tags?.["mlflow.traceName"] ?? ""}</td>
                <td>
                  <StateBadge state={t.state} />
                </td>
                <td>{fmtTime(Date.parse(t.request_time))}</td>
                <td>{fmtDuration(durationMs(t.execution_duration))}</td>
                <td class="mono small ellipsis">{(t.request_preview ?? "").slice(0, 80)}</td>
                <td>{t.trace_location?.mlflow_experiment?.experiment_id}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}

interface SpanRow {
  span_id: string;
  parent: string | null;
  name: string;
  span_type: string | null;
  offset_ms: number;
  duration_ms: number;
  status: string;
  status_message: string | null;
  inputs: string | null;
  outputs: string | null;
  attributes: string;
  events: string;
}

const SPAN_COLUMNS = ["span_id", "parent", "name", "span_type", "offset_ms", "duration_ms", "status", "status_message",
  "inputs", "outputs", "attributes", "events"] as const;

async function loadSpans(traceId: string): Promise<SpanRow[]> {
  const id = traceId.replace(/'/g, "''");
  const r = await tl.sql(
    `SELECT span_id, parent_span_id, name, span_type, (start_time_ns - min(start_time_ns) OVER ()) / 1e6, duration_ms, ` +
      `status, status_message, inputs, outputs, attributes, events FROM spans WHERE trace_id = '${id}' ORDER BY start_time_ns, span_id`,
  );
  return r.rows.map((row) => Object.fromEntries(SPAN_COLUMNS.map((c, i) => [c, row[i]])) as unknown as SpanRow);
}

/** Spans depth-first from the roots, each with its depth (a span whose parent is missing is a root). */
function tree(spans: SpanRow[]): [SpanRow, number][] {
  const ids = new Set(spans.map((s) => s.span_id));
  const children = new Map<string | null, SpanRow[]>();
  for (const s of spans) {
    const parent = s.parent && ids.has(s.parent) ? s.parent : null;
    children.set(parent, [...(children.get(parent) ?? []), s]);
  }
  const out: [SpanRow, number][] = [];
  const walk = (parent: string | null, depth: number) => {
    for (const s of children.get(parent) ?? []) {
      out.push([s, depth]);
      walk(s.span_id, depth + 1);
    }
  };
  walk(null, 0);
  return out;
}

function pretty(text: string | null): string {
  if (text === null || text === undefined) return "";
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

function SpanDetail({ span }: { span: SpanRow }) {
  const attributes = pretty(span.attributes);
  const events = pretty(span.events);
  return (
    <div class="card span-detail" data-testid="span-detail">
      <h2>
        {span.name} <span class="muted small">{span.span_type ?? ""}</span>
      </h2>
      <KeyValueTable
        rows={[
          ["Span id", <span class="mono">{span.span_id}</span>],
          ["Status", <StateBadge state={span.status === "UNSET" ? "OK" : span.status} />],
          ["Started at", `+${fmtDuration(span.offset_ms)}`],
          ["Duration", `${span.duration_ms.toFixed(2)} ms`],
          ...(span.status_message ? [["Message", span.status_message] as [string, string]] : []),
        ]}
      />
      <h3>Inputs</h3>
      <pre class="json" data-testid="span-inputs">{pretty(span.inputs) || "None"}</pre>
      <h3>Outputs</h3>
      <pre class="json" data-testid="span-outputs">{pretty(span.outputs) || "None"}</pre>
      {attributes !== "{}" && (
        <>
          <h3>Attributes</h3>
          <pre class="json">{attributes}</pre>
        </>
      )}
      {events !== "[]" && (
        <>
          <h3>Events</h3>
          <pre class="json">{events}</pre>
        </>
      )}
    </div>
  );
}

export function TracePage({ traceId }: { traceId: string }) {
  const spans = useLoad(() => loadSpans(traceId), [traceId]);
  const info = useLoad(() => traceApi.info(traceId), [traceId]);
  const [chosen, setChosen] = useState<string>();
  const rows = tree(spans.data ?? []);
  const total = Math.max(1e-6, ...rows.map(([s]) => s.offset_ms + s.duration_ms));
  const selected = rows.find(([s]) => s.span_id === chosen)?.[0] ?? rows[0]?.[0];
  const t: TraceInfoJson | undefined = info.data?.trace.trace_info;
  return (
    <div class="page trace-page">
      <div class="page-head">
        <h1>
          <a href={href("/traces")}>Traces</a> / <span class="mono">{traceId}</span>
        </h1>
        {t && <StateBadge state={t.state} />}
      </div>
      <ErrorBox error={spans.error ?? info.error} />
      {t && (
        <KeyValueTable
          rows={[
            ["Name", t.tags?.["mlflow.traceName"] ?? ""],
            ["Started", fmtTime(Date.parse(t.request_time))],
            ["Duration", fmtDuration(durationMs(t.execution_duration))],
            ["Experiment", t.trace_location?.mlflow_experiment?.experiment_id ?? ""],
            ["Tags", Object.entries(t.tags ?? {}).filter(([k]) => !k.startsWith("mlflow.")).map(([k, v]) => `${k}=${v}`).join(", ")],
            ["Assessments", (t.assessments ?? []).map((a) => `${a.assessment_name}: ${JSON.stringify(a.feedback?.value ?? a.expectation?.value ?? a.expectation?.serialized_value?.value)}`).join("; ")],
          ]}
        />
      )}
      {spans.loading && !spans.data && <Spinner />}
      {spans.data && !rows.length && <Empty>This trace has no spans yet.</Empty>}
      {rows.length > 0 && (
        <div class="trace-layout">
          <div class="card span-tree" data-testid="span-tree">
            {rows.map(([s, depth]) => (
              <button
                class={s === selected ? "span-row active" : "span-row"}
                data-testid="span-row"
                onClick={() => setChosen(s.span_id)}
              >
                <span class="span-name" style={{ paddingLeft: `${depth * 16}px` }}>
                  <span class={`dot ${s.status === "ERROR" ? "bad" : "ok"}`} /> {s.name}
                  {s.span_type && <span class="muted small"> {s.span_type}</span>}
                </span>
                <span class="span-bar-track">
                  <span
                    class={s.status === "ERROR" ? "span-bar bad" : "span-bar"}
                    style={{ left: `${(s.offset_ms / total) * 100}%`, width: `${Math.max(0.5, (s.duration_ms / total) * 100)}%` }}
                  />
                </span>
                <span class="span-ms mono small">{s.duration_ms.toFixed(1)} ms</span>
              </button>
            ))}
          </div>
          {selected && <SpanDetail span={selected} />}
        </div>
      )}
    </div>
  );
}
