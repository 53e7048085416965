// Formatting of times, durations and numbers, the same everywhere.

export function fmtTime(ms: number | null | undefined): string {
  if (!ms) return "";
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

export function fmtAgo(ms: number | null | undefined, now = Date.now()): string {
  if (!ms) return "";
  const s = Math.round((now - ms) / 1000);
  if (s < 0) return fmtTime(ms);
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  if (s < 86400 * 30) return `${Math.floor(s / 86400)}d ago`;
  return fmtTime(ms).slice(0, 10);
}

export function fmtDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || ms < 0) return "";
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${Math.round(s % 60)}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h ${m % 60}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

export function fmtNum(v: unknown): string {
  if (v === null || v === undefined) return "";
  if (typeof v === "string") return v;
  if (typeof v !== "number") return String(v);
  if (Number.isInteger(v) && Math.abs(v) < 1e15) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-4 || a >= 1e9)) return v.toExponential(4);
  return String(Number(v.toPrecision(6)));
}

export function fmtBytes(n: number | string | undefined): string {
  const v = Number(n ?? 0);
  if (v < 1024) return `${v} B`;
  const units = ["KB", "MB", "GB", "TB"];
  let x = v / 1024;
  let i = 0;
  while (x >= 1024 && i < units.length - 1) {
    x /= 1024;
    i++;
  }
  return `${x.toFixed(x < 10 ? 1 : 0)} ${units[i]}`;
}

/** A stable color per run: a palette indexed by position, or by a hash of the id. */
export const PALETTE = [
  "#2563eb", "#dc2626", "#16a34a", "#d97706", "#9333ea", "#0891b2", "#db2777", "#65a30d",
  "#4f46e5", "#ea580c", "#0d9488", "#be123c", "#7c3aed", "#ca8a04", "#0284c7", "#15803d",
];

export function colorFor(index: number): string {
  return PALETTE[index % PALETTE.length];
}

/** A filter-grammar key for a column name: params.lr, or params.`a b` when it needs quoting. */
export function keyExpr(entity: "metrics" | "params" | "tags" | "attributes", name: string): string {
  return /^[A-Za-z_][\w.]*$/.test(name) ? `${entity}.${name}` : `${entity}.\`${name.replace(/`/g, "")}\``;
}

/** Split a column id like "metrics.acc" or "params.`a b`" into entity and name. */
export function splitKey(col: string): [string, string] {
  const dot = col.indexOf(".");
  const entity = col.slice(0, dot);
  let name = col.slice(dot + 1);
  if (name.startsWith("`") && name.endsWith("`")) name = name.slice(1, -1);
  return [entity, name];
}

export function quote(s: string): string {
  return "'" + s.replace(/\\/g, "\\\\").replace(/'/g, "\\'") + "'";
}

/** MLflow's system metrics (`system/cpu_utilization_percentage`, …): shown in a group of their own. */
export const isSystemMetric = (key: string): boolean => key.startsWith("system/");
