// Compare runs: params, metrics and tags side by side with differences highlighted, parallel
// coordinates over any params/metrics, and a scatter of any two.

import { useMemo, useState } from "preact/hooks";
import { tl, type RunDetail } from "../api";
import { Empty, ErrorBox, Spinner, useLoad } from "../components";
import { colorFor, fmtNum } from "../format";
import { href, useRoute } from "../state";

interface Dim {
  id: string; // "params.lr" / "metrics.acc"
  label: string;
  values: (string | number | null)[]; // per run
  numeric: boolean;
}

function dims(runs: RunDetail[]): Dim[] {
  const out: Dim[] = [];
  const add = (entity: "params" | "metrics", get: (r: RunDetail) => Map<string, string | number>) => {
    const maps = runs.map(get);
    const keys = [...new Set(maps.flatMap((m) => [...m.keys()]))].sort();
    for (const k of keys) {
      const values = maps.map((m) => (m.has(k) ? m.get(k)! : null));
      const numeric = values.every((v) => v === null || (v !== "" && Number.isFinite(Number(v))));
      out.push({ id: `${entity}.${k}`, label: `${entity === "params" ? "p" : "m"}·${k}`, values: numeric ? values.map((v) => (v === null ? null : Number(v))) : values, numeric });
    }
  };
  add("params", (r) => new Map(r.params.map((p) => [p.key, p.value])));
  add("metrics", (r) => new Map(r.metrics.map((m) => [m.key, typeof m.value === "number" ? m.value : Number(m.value)])));
  return out;
}

const differs = (values: unknown[]) => new Set(values.map((v) => JSON.stringify(v))).size > 1;

export function ComparePage() {
  const route = useRoute();
  const runIds = (route.query.get("runs") ?? "").split(",").filter(Boolean);
  const runs = useLoad(() => Promise.all(runIds.map((id) => tl.run(id))), [runIds.join(",")]);
  const [onlyDiff, setOnlyDiff] = useState(false);
  const all = useMemo(() => (runs.data ? dims(runs.data) : []), [runs.data]);
  if (!runIds.length) return <div class="page"><Empty>Select two or more runs in a runs table, then press Compare.</Empty></div>;
  if (!runs.data) return <div class="page">{runs.error ? <ErrorBox error={runs.error} /> : <Spinner />}</div>;
  const rs = runs.data;
  const tagKeys = [...new Set(rs.flatMap((r) => r.tags.map((t) => t.key)))].filter((k) => !k.startsWith("mlflow.")).sort();
  const tagDims: Dim[] = tagKeys.map((k) => ({ id: `tags.${k}`, label: k, values: rs.map((r) => r.tags.find((t) => t.key === k)?.value ?? null), numeric: false }));
  const section = (title: string, entity: string, rows: Dim[]) => {
    const shown = rows.filter((d) => !onlyDiff || differs(d.values));
    return (
      <>
        <tr class="section-row">
          <th colSpan={rs.length + 1}>
            {title} <span class="muted">({shown.length})</span>
          </th>
        </tr>
        {shown.map((d) => {
          const diff = differs(d.values);
          const nums = d.numeric ? (d.values.filter((v) => v !== null) as number[]) : [];
          const best = entity === "metrics" && nums.length > 1 ? [Math.min(...nums), Math.max(...nums)] : null;
          return (
            <tr class={diff ? "diff" : ""}>
              <th class="mono">{d.id.slice(d.id.indexOf(".") + 1)}</th>
              {d.values.map((v) => (
                <td class={`${d.numeric ? "num mono" : "mono"} ${best && v === best[1] ? "hi" : ""}`}>{v === null ? <span class="muted">—</span> : fmtNum(v)}</td>
              ))}
            </tr>
          );
        })}
      </>
    );
  };
  return (
    <div class="page">
      <div class="page-head">
        <div>
          <div class="crumbs">
            <a href={href("/experiments")}>Experiments</a> ›
          </div>
          <h1>Compare {rs.length} runs</h1>
        </div>
        <div class="row gap">
          <label class="row gap-s">
            <input type="checkbox" checked={onlyDiff} onChange={() => setOnlyDiff(!onlyDiff)} /> Only differences
          </label>
          <a class="btn" href={href("/charts", { runs: runIds.join(",") })}>
            Chart these runs
          </a>
        </div>
      </div>
      <div class="card flush compare-card">
        <table class="table compare" data-testid="compare-table">
          <thead>
            <tr>
              <th />
              {rs.map((r, i) => (
                <th>
                  <a href={href(`/runs/${r.info.run_id}`)} class="run-chip">
                    <span class="swatch" style={{ background: colorFor(i) }} />
                    {r.info.run_name || r.info.run_id.slice(0, 8)}
                  </a>
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {section("Params", "params", all.filter((d) => d.id.startsWith("params.")))}
            {section("Metrics", "metrics", all.filter((d) => d.id.startsWith("metrics.")))}
            {tagDims.length > 0 && section("Tags", "tags", tagDims)}
          </tbody>
        </table>
      </div>
      <div class="compare-plots">
        <ParallelCoordinates runs={rs} dims={all} />
        <Scatter runs={rs} dims={all} />
      </div>
    </div>
  );
}

function scaleOf(d: Dim, lo: number, hi: number): (v: string | number | null) => number | null {
  if (d.numeric) {
    const nums = d.values.filter((v) => v !== null) as number[];
    const min = Math.min(...nums);
    const max = Math.max(...nums);
    return (v) => (v === null ? null : max === min ? (lo + hi) / 2 : hi - ((Number(v) - min) / (max - min)) * (hi - lo));
  }
  const cats = [...new Set(d.values.filter((v) => v !== null).map(String))].sort();
  return (v) => (v === null ? null : cats.length === 1 ? (lo + hi) / 2 : hi - (cats.indexOf(String(v)) / (cats.length - 1)) * (hi - lo));
}

function ticksOf(d: Dim): string[] {
  if (!d.numeric) return [...new Set(d.values.filter((v) => v !== null).map(String))].sort();
  const nums = d.values.filter((v) => v !== null) as number[];
  return [fmtNum(Math.min(...nums)), fmtNum(Math.max(...nums))];
}

function ParallelCoordinates({ runs, dims: all }: { runs: RunDetail[]; dims: Dim[] }) {
  const defaults = [
    ...all.filter((d) => d.id.startsWith("params.") && differs(d.values) && d.values.every((v) => v !== null)).slice(0, 5),
    ...all.filter((d) => d.id.startsWith("metrics.") && d.values.filter((v) => v !== null).length > 1).slice(0, 3),
  ].map((d) => d.id);
  const [chosen, setChosen] = useState<string[]>(defaults);
  const shown = chosen.map((id) => all.find((d) => d.id === id)).filter(Boolean) as Dim[];
  const W = Math.max(480, shown.length * 130);
  const H = 280;
  const top = 34;
  const bottom = H - 24;
  const xOf = (i: number) => 50 + (i * (W - 100)) / Math.max(1, shown.length - 1);
  const scales = shown.map((d) => scaleOf(d, top, bottom));
  return (
    <section class="card" data-testid="parallel-coordinates">
      <div class="row">
        <h2>Parallel coordinates</h2>
        <span class="spacer" />
        <DimPicker all={all} chosen={chosen} onChange={setChosen} />
      </div>
      {shown.length < 2 ? (
        <Empty>Choose two or more params or metrics.</Empty>
      ) : (
        <div class="svg-scroll">
          <svg viewBox={`0 0 ${W} ${H}`} width="100%" style={{ maxWidth: W, minWidth: 420 }} class="pc">
            {runs.map((_, ri) => {
              const pts = shown.map((d, di) => [xOf(di), scales[di](d.values[ri])] as const).filter(([, y]) => y !== null);
              return <polyline points={pts.map(([x, y]) => `${x},${y}`).join(" ")} fill="none" stroke={colorFor(ri)} stroke-width="2" opacity="0.85"><title>{runs[ri].info.run_name}</title></polyline>;
            })}
            {shown.map((d, di) => (
              <g>
                <line x1={xOf(di)} x2={xOf(di)} y1={top} y2={bottom} stroke="#9ca3af" />
                <text x={xOf(di)} y={16} text-anchor="middle" class="pc-label">
                  {d.label}
                </text>
                {ticksOf(d).map((t) => {
                  const y = scaleOf(d, top, bottom)(d.numeric ? Number(t) : t);
                  return y === null ? null : (
                    <text x={xOf(di) + 5} y={y + 4} class="pc-tick">
                      {t}
                    </text>
                  );
                })}
              </g>
            ))}
          </svg>
        </div>
      )}
    </section>
  );
}

function DimPicker({ all, chosen, onChange }: { all: Dim[]; chosen: string[]; onChange: (c: string[]) => void }) {
  return (
    <details class="dim-picker">
      <summary class="btn small">Axes ({chosen.length})</summary>
      <div class="popover right">
        {all.map((d) => (
          <label class="check-row">
            <input type="checkbox" checked={chosen.includes(d.id)} onChange={() => onChange(chosen.includes(d.id) ? chosen.filter((c) => c !== d.id) : [...chosen, d.id])} /> {d.id}
          </label>
        ))}
      </div>
    </details>
  );
}

function Scatter({ runs, dims: all }: { runs: RunDetail[]; dims: Dim[] }) {
  const numeric = all.filter((d) => d.numeric);
  const [xId, setX] = useState(numeric.find((d) => d.id.startsWith("params."))?.id ?? numeric[0]?.id ?? "");
  const [yId, setY] = useState(numeric.find((d) => d.id.startsWith("metrics."))?.id ?? numeric[1]?.id ?? "");
  const xd = all.find((d) => d.id === xId);
  const yd = all.find((d) => d.id === yId);
  const W = 480;
  const H = 280;
  const pad = { l: 56, r: 16, t: 12, b: 36 };
  const select = (value: string, set: (v: string) => void, label: string) => (
    <select class="input small" aria-label={label} value={value} onChange={(e) => set(e.currentTarget.value)}>
      {all.map((d) => (
        <option value={d.id}>{d.id}</option>
      ))}
    </select>
  );
  const sx = xd && scaleOf(xd, pad.l, W - pad.r);
  const sy = yd && scaleOf(yd, pad.t, H - pad.b);
  return (
    <section class="card" data-testid="scatter">
      <div class="row gap">
        <h2>Scatter</h2>
        <span class="spacer" />
        X {select(xId, setX, "Scatter X")} Y {select(yId, setY, "Scatter Y")}
      </div>
      {!xd || !yd ? (
        <Empty>Choose two params or metrics.</Empty>
      ) : (
        <svg viewBox={`0 0 ${W} ${H}`} width="100%" style={{ maxWidth: W }} class="scatter">
          <rect x={pad.l} y={pad.t} width={W - pad.l - pad.r} height={H - pad.t - pad.b} fill="none" stroke="#e5e7eb" />
          {runs.map((r, i) => {
            // the x scale runs right-to-left by construction (hi→lo); mirror it
            const x0 = sx!(xd.values[i]);
            const y = sy!(yd.values[i]);
            if (x0 === null || y === null) return null;
            const x = W - pad.r - (x0 - pad.l);
            return (
              <circle cx={x} cy={y} r="6" fill={colorFor(i)} opacity="0.85">
                <title>
                  {r.info.run_name}: {xd.id}={fmtNum(xd.values[i])}, {yd.id}={fmtNum(yd.values[i])}
                </title>
              </circle>
            );
          })}
          {ticksOf(xd).map((t, i, a) => (
            <text x={a.length === 1 ? (W + pad.l) / 2 : pad.l + (i * (W - pad.l - pad.r)) / (a.length - 1)} y={H - 14} text-anchor="middle" class="pc-tick">
              {t}
            </text>
          ))}
          {ticksOf(yd).map((t) => {
            const y = sy!(yd.numeric ? Number(t) : t);
            return y === null ? null : (
              <text x={pad.l - 6} y={y + 4} text-anchor="end" class="pc-tick">
                {t}
              </text>
            );
          })}
          <text x={(W + pad.l) / 2} y={H - 2} text-anchor="middle" class="pc-label">
            {xd.id}
          </text>
        </svg>
      )}
    </section>
  );
}
