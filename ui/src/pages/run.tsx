// One run: overview (status, times, user, source, git, parent and children), description and tags
// (editable), params, latest metrics, dataset inputs, logged models; its charts; its artifacts.

import { useState } from "preact/hooks";
import { mlflow, tl, type RunDetail } from "../api";
import { EditableText, Empty, ErrorBox, KeyValueTable, lazy, Spinner, StatusBadge, Tabs, useLoad } from "../components";
import { fmtDuration, fmtNum, fmtTime, isSystemMetric } from "../format";
import { useLive } from "../live";
import { markdown } from "../markdown";
import { getAsOf, href, setQuery, useRoute } from "../state";
import { ArtifactBrowser } from "./artifacts";

const RunCharts = lazy<{ runIds: string[] }>(() => import("./charts").then((m) => m.RunCharts));

type Tab = "overview" | "charts" | "artifacts";

export function RunPage({ runId }: { runId: string }) {
  const route = useRoute();
  const tab = (route.query.get("tab") as Tab) || "overview";
  const run = useLoad(() => tl.run(runId), [runId]);
  const exp = useLoad(() => tl.experiments("ALL"), []);
  useLive((events) => {
    if (!events.length || events.some((e) => !e.run_id || e.run_id === runId)) run.reload();
  }, [runId]);
  if (!run.data) return <div class="page">{run.error ? <ErrorBox error={run.error} /> : <Spinner />}</div>;
  const r = run.data;
  const expName = exp.data?.experiments.find((e) => e.experiment_id === r.info.experiment_id)?.name ?? r.info.experiment_id;
  return (
    <div class="page">
      <div class="page-head">
        <div>
          <div class="crumbs">
            <a href={href("/experiments")}>Experiments</a> › <a href={href(`/experiments/${r.info.experiment_id}`)}>{expName}</a> ›
          </div>
          <h1 class="row gap" data-testid="run-title">
            {r.info.run_name || r.info.run_id}
            <StatusBadge status={r.info.status} />
            {r.info.lifecycle_stage === "deleted" && <span class="badge bad">deleted</span>}
          </h1>
        </div>
      </div>
      <Tabs<Tab>
        tabs={[
          ["overview", "Overview"],
          ["charts", `Charts (${r.metrics.length})`],
          ["artifacts", "Artifacts"],
        ]}
        active={tab}
        onChange={(t) => setQuery({ tab: t === "overview" ? null : t, path: null })}
      />
      <ErrorBox error={run.error} />
      {tab === "overview" && <Overview run={r} reload={run.reload} />}
      {tab === "charts" && <RunCharts runIds={[runId]} />}
      {tab === "artifacts" && <ArtifactBrowser runId={runId} />}
    </div>
  );
}

const HIDDEN_TAGS = new Set(["mlflow.runName", "mlflow.note.content", "mlflow.parentRunId", "mlflow.user", "mlflow.loggedArtifacts"]);

function MetricsCard({ title, runId, metrics, testId }: { title: string; runId: string; metrics: RunDetail["metrics"]; testId: string }) {
  return (
    <section class="card">
      <h2>
        {title} ({metrics.length})
      </h2>
      {metrics.length ? (
        <table class="table compact" data-testid={testId}>
          <thead>
            <tr>
              <th>Key</th>
              <th class="num">Latest value</th>
              <th class="num">Step</th>
              <th>Logged</th>
            </tr>
          </thead>
          <tbody>
            {metrics.map((m) => (
              <tr key={m.key}>
                <td>
                  <a class="mono" href={href(`/runs/${runId}`, { tab: "charts", keys: m.key })}>
                    {m.key}
                  </a>
                </td>
                <td class="num mono">{fmtNum(m.value)}</td>
                <td class="num">{m.step}</td>
                <td class="muted">{fmtTime(m.timestamp)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        <div class="muted">No metrics.</div>
      )}
    </section>
  );
}

function Overview({ run, reload }: { run: RunDetail; reload: () => void }) {
  const readOnly = getAsOf() !== null;
  const i = run.info;
  const tag = (k: string) => run.tags.find((t) => t.key === k)?.value;
  const parent = tag("mlflow.parentRunId");
  const commit = tag("mlflow.source.git.commit");
  const source = tag("mlflow.source.name");
  const branch = tag("mlflow.source.git.branch");
  const end = i.end_time ?? (i.status === "RUNNING" ? Date.now() : null);
  return (
    <div class="run-overview">
      <div class="col-main">
        <section class="card">
          <h2>Overview</h2>
          <KeyValueTable
            rows={[
              ["Run ID", <span class="mono">{i.run_id}</span>],
              ["Status", <StatusBadge status={i.status} />],
              ["Started", fmtTime(i.start_time)],
              ["Ended", i.end_time ? fmtTime(i.end_time) : i.status === "RUNNING" ? <span class="muted">running</span> : ""],
              ["Duration", i.start_time && end ? fmtDuration(end - i.start_time) : ""],
              ["User", i.user_id || tag("mlflow.user") || ""],
              ["Source", source ? <span class="mono" title={source}>{source}</span> : ""],
              ["Git commit", commit ? <span class="mono">{commit.slice(0, 12)}{branch ? ` (${branch})` : ""}{tag("tracklog.source.git.dirty") === "true" ? " · dirty" : ""}</span> : ""],
              ["Parent run", parent ? <a href={href(`/runs/${parent}`)}>{parent}</a> : ""],
              ["Artifact URI", <span class="mono small">{i.artifact_uri}</span>],
            ].filter(([, v]) => v !== "") as [string, preact.ComponentChildren][]}
          />
        </section>
        <section class="card" data-testid="description">
          <h2>Description</h2>
          <EditableText
            value={tag("mlflow.note.content") ?? ""}
            multiline
            markdown={markdown}
            readOnly={readOnly}
            placeholder="No description"
            onSave={async (v) => {
              await mlflow.setTag(i.run_id, "mlflow.note.content", v);
              reload();
            }}
          />
        </section>
        <MetricsCard title="Metrics" runId={i.run_id} metrics={run.metrics.filter((m) => !isSystemMetric(m.key))} testId="metrics-table" />
        {run.metrics.some((m) => isSystemMetric(m.key)) && (
          <MetricsCard title="System metrics" runId={i.run_id} metrics={run.metrics.filter((m) => isSystemMetric(m.key))} testId="system-metrics-table" />
        )}
        <section class="card">
          <h2>Params ({run.params.length})</h2>
          <KeyValueTable rows={run.params.map((p) => [p.key, <span class="mono">{p.value}</span>])} empty="No params." />
        </section>
      </div>
      <div class="col-side">
        <TagsCard run={run} reload={reload} readOnly={readOnly} />
        {run.children.length > 0 && (
          <section class="card">
            <h2>Child runs ({run.children.length})</h2>
            <ul class="plain">
              {run.children.map((c) => (
                <li>
                  <a href={href(`/runs/${c.run_id}`)}>{c.run_name || c.run_id}</a> <span class="muted small">{c.status.toLowerCase()}</span>
                </li>
              ))}
            </ul>
          </section>
        )}
        <section class="card">
          <h2>Datasets ({run.inputs.length})</h2>
          {run.inputs.length ? (
            run.inputs.map((d) => (
              <div class="dataset">
                <b>{d.name}</b> <span class="mono muted small">{d.digest}</span>
                {d.context && <span class="chip">{d.context}</span>}
                <div class="muted small">
                  {d.source_type} {d.source}
                </div>
              </div>
            ))
          ) : (
            <div class="muted">No dataset inputs.</div>
          )}
        </section>
        <section class="card" data-testid="logged-models">
          <h2>Logged models ({run.logged_models.length})</h2>
          {run.logged_models.length ? (
            <ul class="plain">
              {run.logged_models.map((m) => (
                <li>
                  <a href={href(`/runs/${i.run_id}`, { tab: "artifacts", model: m.model_id })}>{m.name}</a>{" "}
                  <span class="muted small">{m.flavors.join(", ")}</span>
                  <div class="mono muted small">{m.model_id}</div>
                </li>
              ))}
            </ul>
          ) : (
            <div class="muted">No models.</div>
          )}
          {run.model_versions.length > 0 && (
            <div class="registered">
              Registered as{" "}
              {run.model_versions.map((v) => (
                <a class="chip" href={href(`/models/${encodeURIComponent(v.name)}`)}>
                  {v.name} v{v.version}
                  {v.current_stage !== "None" ? ` · ${v.current_stage}` : ""}
                </a>
              ))}
            </div>
          )}
        </section>
      </div>
    </div>
  );
}

function TagsCard({ run, reload, readOnly }: { run: RunDetail; reload: () => void; readOnly: boolean }) {
  const [showSystem, setShowSystem] = useState(false);
  const [key, setKey] = useState("");
  const [value, setValue] = useState("");
  const [error, setError] = useState<Error>();
  const tags = run.tags.filter((t) => !HIDDEN_TAGS.has(t.key) && (showSystem || !t.key.startsWith("mlflow.")));
  const act = async (fn: () => Promise<unknown>) => {
    try {
      await fn();
      setError(undefined);
      reload();
    } catch (e) {
      setError(e as Error);
    }
  };
  return (
    <section class="card" data-testid="tags">
      <div class="row">
        <h2>Tags</h2>
        <span class="spacer" />
        <label class="small muted row gap-s">
          <input type="checkbox" checked={showSystem} onChange={() => setShowSystem(!showSystem)} /> system
        </label>
      </div>
      {tags.length ? (
        <table class="kv tags">
          <tbody>
            {tags.map((t) => (
              <tr key={t.key}>
                <th>{t.key}</th>
                <td>
                  <EditableText value={t.value} readOnly={readOnly} onSave={(v) => mlflow.setTag(run.info.run_id, t.key, v).then(reload)} />
                </td>
                {!readOnly && (
                  <td class="actions">
                    <button class="icon-btn" aria-label={`Delete tag ${t.key}`} onClick={() => act(() => mlflow.deleteTag(run.info.run_id, t.key))}>
                      ×
                    </button>
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        <Empty>No tags.</Empty>
      )}
      {!readOnly && (
        <div class="row gap-s add-tag">
          <input class="input small" placeholder="key" aria-label="New tag key" value={key} onInput={(e) => setKey(e.currentTarget.value)} />
          <input class="input small" placeholder="value" aria-label="New tag value" value={value} onInput={(e) => setValue(e.currentTarget.value)} />
          <button
            class="btn small"
            disabled={!key}
            onClick={() =>
              act(async () => {
                await mlflow.setTag(run.info.run_id, key, value);
                setKey("");
                setValue("");
              })
            }
          >
            Add tag
          </button>
        </div>
      )}
      <ErrorBox error={error} />
    </section>
  );
}
