// The SQL console: read-only SQL over tracklog's views through the server's sandboxed endpoint,
// a results table, CSV/Parquet download and example queries.

import { useEffect, useRef, useState } from "preact/hooks";
import { sqlDownloadUrl, tl, type SqlResult } from "../api";
import { DataGrid, ErrorBox, Spinner } from "../components";
import { setQuery, useRoute } from "../state";

const VIEWS = [
  "runs", "experiments", "metrics", "latest_metrics", "params", "tags", "inputs", "artifacts", "logged_models",
  "registered_models", "model_versions", "model_aliases", "registry_history", "events",
  "traces", "spans", "assessments",
];

export const EXAMPLES: [string, string][] = [
  ["Best runs by a metric", "SELECT run_name, status, params['lr'] AS lr, metrics['acc'] AS acc\nFROM runs\nWHERE metrics['acc'] IS NOT NULL\nORDER BY acc DESC\nLIMIT 20"],
  ["Runs per experiment", "SELECT e.name, count(r.run_id) AS runs,\n       count(*) FILTER (WHERE r.status = 'FAILED') AS failed\nFROM experiments e LEFT JOIN runs r USING (experiment_id)\nGROUP BY e.name ORDER BY runs DESC"],
  ["Mean accuracy by learning rate", "SELECT params['lr'] AS lr, count(*) AS runs,\n       avg(metrics['acc']) AS mean_acc, max(metrics['acc']) AS best_acc\nFROM runs GROUP BY lr ORDER BY mean_acc DESC"],
  ["A metric's history, 100 buckets", "SELECT run_id, (step // 100) * 100 AS bucket, min(value), avg(value), max(value)\nFROM metrics WHERE key = 'loss'\nGROUP BY ALL ORDER BY run_id, bucket"],
  ["Who changed the registry", "SELECT time, actor, kind, name, version, alias, stage\nFROM registry_history ORDER BY time DESC LIMIT 50"],
  ["Events per hour", "SELECT date_trunc('hour', time) AS hour, kind, count(*) AS events\nFROM events GROUP BY ALL ORDER BY hour DESC, events DESC LIMIT 100"],
];

export function SqlPage() {
  const route = useRoute();
  const initial = route.query.get("query") ?? EXAMPLES[0][1];
  const [text, setText] = useState(initial);
  const [result, setResult] = useState<SqlResult & { ms: number; query: string }>();
  const [error, setError] = useState<Error>();
  const [busy, setBusy] = useState(false);
  const area = useRef<HTMLTextAreaElement>(null);
  const run = async (q = text) => {
    setBusy(true);
    setError(undefined);
    const t0 = performance.now();
    try {
      const r = await tl.sql(q);
      setResult({ ...r, ms: performance.now() - t0, query: q });
      setQuery({ query: q === EXAMPLES[0][1] ? null : q });
    } catch (e) {
      setError(e as Error);
      setResult(undefined);
    } finally {
      setBusy(false);
    }
  };
  useEffect(() => void run(initial), []);
  return (
    <div class="page sql-page">
      <div class="page-head">
        <h1>SQL</h1>
        <span class="muted small">Read-only SQL over the views, as DuckDB runs it. Ctrl+Enter runs.</span>
      </div>
      <div class="sql-layout">
        <aside class="card sql-side">
          <h2>Examples</h2>
          <ul class="plain examples">
            {EXAMPLES.map(([label, q]) => (
              <li>
                <button class="link" onClick={() => (setText(q), run(q))}>
                  {label}
                </button>
              </li>
            ))}
          </ul>
          <h2>Views</h2>
          <ul class="plain views">
            {VIEWS.map((v) => (
              <li>
                <button class="link mono small" onClick={() => (setText(`SELECT * FROM ${v} LIMIT 100`), run(`SELECT * FROM ${v} LIMIT 100`))}>
                  {v}
                </button>
              </li>
            ))}
          </ul>
        </aside>
        <div class="sql-main">
          <textarea
            ref={area}
            class="input mono sql-editor"
            data-testid="sql-editor"
            spellcheck={false}
            value={text}
            onInput={(e) => setText(e.currentTarget.value)}
            onKeyDown={(e) => {
              if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
                e.preventDefault();
                run();
              }
            }}
          />
          <div class="row gap">
            <button class="btn primary" data-testid="sql-run" disabled={busy} onClick={() => run()}>
              Run
            </button>
            {busy && <Spinner label="Running…" />}
            {result && (
              <span class="muted small" data-testid="sql-status">
                {result.rows.length.toLocaleString()} row{result.rows.length === 1 ? "" : "s"}
                {result.truncated ? " (first rows only; download for all)" : ""} · {Math.round(result.ms)} ms
              </span>
            )}
            <span class="spacer" />
            {result && (
              <>
                <a class="btn small" href={sqlDownloadUrl(result.query, "csv")} download="query.csv">
                  CSV
                </a>
                <a class="btn small" href={sqlDownloadUrl(result.query, "parquet")} download="query.parquet">
                  Parquet
                </a>
              </>
            )}
          </div>
          <ErrorBox error={error} />
          {result && (
            <div class="card flush" data-testid="sql-result">
              <DataGrid columns={result.columns} rows={result.rows} height={520} />
            </div>
          )}
        </div>
      </div>
    </div>
  );
}
