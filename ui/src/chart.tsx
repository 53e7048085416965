// One metric key of one or many runs, drawn with uPlot. The server downsamples long histories
// (the min and max point of each bucket, so spikes survive) to about two points per pixel;
// dragging a range zooms and fetches that range again, exact once it is small enough.

import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { tl, type Downsampled, type XAxis } from "./api";
import { ErrorBox, useElementWidth } from "./components";
import { fmtDuration, fmtNum } from "./format";
import { useLive } from "./live";

export interface ChartRun {
  id: string;
  name: string;
  color: string;
}

export interface ChartOptions {
  xAxis: XAxis;
  smoothing: number; // 0..0.99, exponential moving average weight
  logScale: boolean;
}

/** Exponential moving average with TensorBoard's debiasing (the first points are not pulled to 0). */
export function smooth(ys: (number | null)[], weight: number): (number | null)[] {
  if (weight <= 0) return ys;
  let last = 0;
  let n = 0;
  return ys.map((y) => {
    if (y === null || !Number.isFinite(y)) return y;
    last = last * weight + (1 - weight) * y;
    n++;
    return last / (1 - Math.pow(weight, n));
  });
}

function buildData(ds: Downsampled, runs: ChartRun[], opts: ChartOptions): { data: uPlot.AlignedData; series: uPlot.Series[] } {
  const byRun = new Map(ds.series.map((s) => [s.run_id, s]));
  const shown = runs.filter((r) => byRun.has(r.id));
  const tables: uPlot.AlignedData[] = shown.map((r) => {
    const s = byRun.get(r.id)!;
    const ys = opts.logScale ? s.y.map((v) => (v > 0 ? v : null)) : s.y;
    return opts.smoothing > 0 ? [s.x, ys, smooth(ys, opts.smoothing)] : [s.x, ys];
  });
  const series: uPlot.Series[] = [{ label: X_LABELS[opts.xAxis], value: xLegend(opts.xAxis) }];
  for (const r of shown) {
    const label = r.name.length > 28 ? r.name.slice(0, 27) + "…" : r.name;
    if (opts.smoothing > 0) {
      series.push({ label: label + " (raw)", stroke: r.color + "40", width: 1, spanGaps: true, points: { show: false } });
      series.push({ label, stroke: r.color, width: 1.5, spanGaps: true });
    } else {
      series.push({ label, stroke: r.color, width: 1.25, spanGaps: true });
    }
  }
  if (!tables.length) return { data: [[]], series };
  const data = tables.length === 1 ? tables[0] : uPlot.join(tables);
  return { data, series };
}

const X_LABELS: Record<XAxis, string> = { step: "Step", time: "Time", relative: "Relative" };

function xLegend(axis: XAxis) {
  return (_u: uPlot, v: number | null) =>
    v === null || v === undefined ? "–" : axis === "time" ? new Date(v).toLocaleString() : axis === "relative" ? fmtDuration(v) : fmtNum(v);
}

function xValues(axis: XAxis) {
  if (axis !== "relative") return undefined;
  return (_u: uPlot, splits: number[]) => splits.map((v) => fmtDuration(v));
}

export function MetricChart({ runs, metricKey, options, height = 240 }: { runs: ChartRun[]; metricKey: string; options: ChartOptions; height?: number }) {
  const box = useRef<HTMLDivElement>(null);
  const plotEl = useRef<HTMLDivElement>(null);
  const width = useElementWidth(box);
  const plot = useRef<uPlot | null>(null);
  const tip = useRef<HTMLDivElement>(null);
  const [zoom, setZoom] = useState<[number, number] | null>(null);
  const [ds, setDs] = useState<Downsampled>();
  const [error, setError] = useState<Error>();
  const [tick, setTick] = useState(0);
  const runIds = runs.map((r) => r.id).join(",");
  useEffect(() => setZoom(null), [options.xAxis, runIds]);
  useEffect(() => {
    if (!width) return;
    let stale = false;
    tl.downsample({
      run_ids: runs.map((r) => r.id),
      keys: [metricKey],
      x_axis: options.xAxis,
      x_min: zoom?.[0],
      x_max: zoom?.[1],
      buckets: Math.max(100, Math.min(4000, width)),
    }).then(
      (d) => !stale && (setDs(d), setError(undefined)),
      (e) => !stale && setError(e),
    );
    return () => void (stale = true);
  }, [runIds, metricKey, options.xAxis, zoom?.[0], zoom?.[1], width > 0 ? Math.round(width / 200) : 0, tick]);
  useLive((events) => {
    if (!zoom && (!events.length || events.some((e) => !e.run_id || runIds.includes(String(e.run_id))))) setTick((t) => t + 1);
  }, [runIds, zoom === null]);

  const built = useMemo(() => (ds ? buildData(ds, runs, options) : null), [ds, runs, options.smoothing, options.logScale]);

  useEffect(() => {
    if (!built || !plotEl.current || !width) return;
    const time = options.xAxis === "time";
    const colors = built.series.map((s) => String(s.stroke ?? "")); // before uPlot wraps them in functions
    const opts: uPlot.Options = {
      width,
      height,
      ms: 1,
      series: built.series,
      scales: { x: { time }, y: { distr: options.logScale ? 3 : 1 } },
      axes: [
        { values: xValues(options.xAxis), stroke: "#6b7280", grid: { stroke: "#eef0f3" }, ticks: { stroke: "#e5e7eb" } },
        { stroke: "#6b7280", grid: { stroke: "#eef0f3" }, ticks: { stroke: "#e5e7eb" }, size: 56, values: (_u, vs) => vs.map((v) => fmtNum(v)) },
      ],
      cursor: { drag: { x: true, y: false, setScale: true }, sync: { key: "tracklog-charts" }, points: { size: 5 } },
      legend: { show: false },
      hooks: {
        setCursor: [(u) => showTip(u, tip.current, options.xAxis, colors)],
        setSelect: [
          (u) => {
            if (u.select.width < 4) return;
            const lo = u.posToVal(u.select.left, "x");
            const hi = u.posToVal(u.select.left + u.select.width, "x");
            setZoom([lo, hi]);
          },
        ],
      },
    };
    const u = new uPlot(opts, built.data, plotEl.current);
    if (zoom) u.setScale("x", { min: zoom[0], max: zoom[1] });
    const reset = () => setZoom(null);
    u.over.addEventListener("dblclick", reset);
    plot.current = u;
    return () => {
      u.over.removeEventListener("dblclick", reset);
      u.destroy();
      plot.current = null;
    };
  }, [built, width, height]);

  const total = ds?.series.reduce((a, s) => a + s.count, 0) ?? 0;
  const drawn = ds?.series.reduce((a, s) => a + s.x.length, 0) ?? 0;
  const exact = ds?.series.every((s) => s.exact) ?? true;
  return (
    <div class="chart-panel card" data-testid={`chart-${metricKey}`}>
      <div class="chart-head">
        <b class="mono">{metricKey}</b>
        <span class="muted small" data-testid="chart-info">
          {ds && (exact ? `${total.toLocaleString()} point${total === 1 ? "" : "s"}` : `${total.toLocaleString()} points · ${drawn.toLocaleString()} drawn (min/max per bucket)`)}
        </span>
        <span class="spacer" />
        {zoom && (
          <button class="link small" onClick={() => setZoom(null)}>
            Reset zoom
          </button>
        )}
      </div>
      <ErrorBox error={error} />
      <div ref={box} class="chart-box" style={{ minHeight: height + 8 }}>
        <div ref={plotEl} />
        <div ref={tip} class="chart-tip" data-testid="chart-tip" />
        {ds && !ds.series.length && <div class="empty">No points for {metricKey}.</div>}
      </div>
    </div>
  );
}

/** The values under the cursor, one line per run (smoothed when smoothing is on), beside it. */
function showTip(u: uPlot, el: HTMLDivElement | null, axis: XAxis, colors: string[]): void {
  if (!el) return;
  const idx = u.cursor.idx;
  if (idx === null || idx === undefined || u.cursor.left === undefined || u.cursor.left < 0) {
    el.style.display = "none";
    return;
  }
  const x = u.data[0][idx];
  const rows: string[] = [];
  u.series.forEach((s, i) => {
    if (i === 0 || !s.show || String(s.label).endsWith("(raw)")) return;
    const y = u.data[i][idx];
    if (y === null || y === undefined) return;
    const color = colors[i];
    rows.push(`<div class="tip-row"><span class="swatch" style="background:${color}"></span><span class="tip-name">${escapeHtml(String(s.label))}</span><b>${fmtNum(y)}</b></div>`);
  });
  if (!rows.length) {
    el.style.display = "none";
    return;
  }
  el.innerHTML = `<div class="tip-x">${X_LABELS[axis]} ${escapeHtml(String(xLegend(axis)(u, x)))}</div>${rows.slice(0, 16).join("")}`;
  el.style.display = "block";
  const left = u.cursor.left + u.over.offsetLeft;
  const flip = left > u.over.offsetLeft + u.over.clientWidth / 2;
  el.style.left = flip ? "" : `${left + 14}px`;
  el.style.right = flip ? `${u.over.parentElement!.clientWidth - left + 14}px` : "";
  el.style.top = `${u.over.offsetTop + 8}px`;
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]!);
}

export function ChartControls({ options, onChange }: { options: ChartOptions; onChange: (o: ChartOptions) => void }) {
  return (
    <div class="row gap chart-controls">
      <label class="row gap-s">
        <span class="muted">X axis</span>
        <select class="input" aria-label="X axis" value={options.xAxis} onChange={(e) => onChange({ ...options, xAxis: e.currentTarget.value as XAxis })}>
          <option value="step">Step</option>
          <option value="time">Wall time</option>
          <option value="relative">Relative time</option>
        </select>
      </label>
      <label class="row gap-s">
        <span class="muted">Smoothing</span>
        <input
          type="range"
          aria-label="Smoothing"
          min="0"
          max="0.99"
          step="0.01"
          value={options.smoothing}
          onInput={(e) => onChange({ ...options, smoothing: Number(e.currentTarget.value) })}
        />
        <span class="mono small">{options.smoothing.toFixed(2)}</span>
      </label>
      <label class="row gap-s">
        <input type="checkbox" checked={options.logScale} onChange={() => onChange({ ...options, logScale: !options.logScale })} /> Log scale
      </label>
      <span class="muted small">Drag to zoom · double-click to reset</span>
    </div>
  );
}
