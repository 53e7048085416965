// Charts of metric histories: one panel per key, the chosen runs overlaid.

import { useMemo, useState } from "preact/hooks";
import { tl } from "../api";
import { ChartControls, MetricChart, type ChartOptions, type ChartRun } from "../chart";
import { Empty, ErrorBox, Spinner, useLoad } from "../components";
import { colorFor, isSystemMetric } from "../format";
import { useLive } from "../live";
import { href, setQuery, useRoute } from "../state";

/** Names and colors of runs, in the order given. */
export function useChartRuns(runIds: string[]) {
  const names = useLoad(
    () => (runIds.length ? tl.runsTable({ run_ids: runIds, limit: Math.min(runIds.length, 5000), count: false, view_type: "ALL" }) : Promise.resolve(null)),
    [runIds.join(",")],
  );
  return useMemo<ChartRun[]>(() => {
    const byId = new Map((names.data?.rows ?? []).map((r) => [String(r[0]), String(r[1] || r[0])]));
    return runIds.map((id, i) => ({ id, name: byId.get(id) ?? id.slice(0, 8), color: colorFor(i) }));
  }, [names.data, runIds.join(",")]);
}

export function RunCharts({ runIds, initialKeys }: { runIds: string[]; initialKeys?: string[] }) {
  const route = useRoute();
  const q = route.query;
  const keys = useLoad(() => tl.runsKeys(null, runIds), [runIds.join(",")]);
  const runs = useChartRuns(runIds);
  useLive((events) => {
    // a key logged for the first time gets its panel
    if (!events.length || events.some((e) => !e.run_id || runIds.includes(String(e.run_id)))) keys.reload();
  }, [runIds.join(",")]);
  const options: ChartOptions = {
    xAxis: (q.get("x") as ChartOptions["xAxis"]) || "step",
    smoothing: Number(q.get("smooth") || 0),
    logScale: q.get("log") === "1",
  };
  const [filter, setFilter] = useState("");
  const all = keys.data?.metrics ?? [];
  const chosenParam = q.get("keys");
  const modelKeys = all.filter((k) => !isSystemMetric(k));
  const systemKeys = all.filter(isSystemMetric);
  const chosen = chosenParam !== null ? chosenParam.split(",").filter(Boolean) : (initialKeys ?? [...modelKeys.slice(0, 12), ...systemKeys.slice(0, 12)]);
  const shown = chosenParam !== null ? chosen : chosen.filter((k) => all.includes(k));
  const setChosen = (ks: string[]) => setQuery({ keys: ks.join(",") });
  const matches = (k: string) => k.toLowerCase().includes(filter.toLowerCase());
  const chip = (k: string) => (
    <label class={chosen.includes(k) ? "chip toggle on" : "chip toggle"}>
      <input type="checkbox" checked={chosen.includes(k)} onChange={() => setChosen(chosen.includes(k) ? chosen.filter((c) => c !== k) : [...chosen, k])} />
      {k}
    </label>
  );
  const setOptions = (o: ChartOptions) => setQuery({ x: o.xAxis === "step" ? null : o.xAxis, smooth: o.smoothing || null, log: o.logScale ? 1 : null });
  return (
    <div class="charts">
      <div class="toolbar">
        <ChartControls options={options} onChange={setOptions} />
      </div>
      <ErrorBox error={keys.error} />
      {!keys.data && chosenParam === null && <Spinner />}
      {keys.data && !all.length && <Empty>These runs logged no metrics.</Empty>}
      {all.length > 0 && (
        <div class="key-picker">
          <input class="input small" placeholder="Find a metric" value={filter} onInput={(e) => setFilter(e.currentTarget.value)} />
          {modelKeys.filter(matches).map(chip)}
          {systemKeys.some(matches) && <span class="muted picker-group">System metrics:</span>}
          {systemKeys.filter(matches).map(chip)}
        </div>
      )}
      <div class="legend-runs">
        {runs.map((r) => (
          <a class="run-chip" href={href(`/runs/${r.id}`)}>
            <span class="swatch" style={{ background: r.color }} />
            {r.name}
          </a>
        ))}
      </div>
      {/* keys named in the URL draw at once; the key list only adds the checkboxes */}
      <ChartGroup runs={runs} options={options} keys={shown.filter((k) => !isSystemMetric(k))} testId="chart-group-model" />
      {shown.some(isSystemMetric) && (
        <section class="chart-group" data-testid="chart-group-system">
          <h2>System metrics</h2>
          <ChartGroup runs={runs} options={options} keys={shown.filter(isSystemMetric)} />
        </section>
      )}
    </div>
  );
}

function ChartGroup({ runs, options, keys, testId }: { runs: ChartRun[]; options: ChartOptions; keys: string[]; testId?: string }) {
  return (
    <div class="chart-grid" data-testid={testId}>
      {keys.map((k) => (
        <MetricChart key={k} runs={runs} metricKey={k} options={options} />
      ))}
    </div>
  );
}

export function ChartsPage() {
  const route = useRoute();
  const runIds = (route.query.get("runs") ?? "").split(",").filter(Boolean);
  return (
    <div class="page">
      <div class="page-head">
        <div>
          <div class="crumbs">
            <a href={href("/experiments")}>Experiments</a> ›
          </div>
          <h1>Charts · {runIds.length} run{runIds.length === 1 ? "" : "s"}</h1>
        </div>
        <a class="btn" href={href("/compare", { runs: runIds.join(",") })}>
          Compare these runs
        </a>
      </div>
      {runIds.length ? <RunCharts runIds={runIds} /> : <Empty>Select runs in a runs table, then press Chart.</Empty>}
    </div>
  );
}
