// Global UI state: the "as of" moment (time travel) lives in the URL's query, so a link shares it.

import { useEffect, useState } from "preact/hooks";

type Listener = () => void;
const listeners = new Set<Listener>();

export function subscribe(fn: Listener): () => void {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

function notify(): void {
  for (const fn of listeners) fn();
}

export interface Route {
  path: string[]; // "#/runs/abc" → ["runs", "abc"]
  query: URLSearchParams;
}

export function currentRoute(): Route {
  const hash = location.hash.replace(/^#\/?/, "");
  const [path, query = ""] = hash.split("?", 2);
  return { path: path.split("/").filter(Boolean).map(decodeURIComponent), query: new URLSearchParams(query) };
}

/** The moment every read is made "as of" (epoch ms), or null for now. */
export function getAsOf(): number | null {
  const v = currentRoute().query.get("as_of");
  return v ? Number(v) : null;
}

/** A hash link to `path` with `query`, keeping the current as_of unless `query` sets it. */
export function href(path: string, query: Record<string, string | number | null | undefined> = {}): string {
  const q = new URLSearchParams();
  const asOf = getAsOf();
  if (asOf !== null && !("as_of" in query)) q.set("as_of", String(asOf));
  for (const [k, v] of Object.entries(query)) if (v !== null && v !== undefined && v !== "") q.set(k, String(v));
  const s = q.toString();
  return "#" + path + (s ? "?" + s : "");
}

export function navigate(path: string, query: Record<string, string | number | null | undefined> = {}, replace = false): void {
  const target = href(path, query);
  if (replace) history.replaceState(null, "", target);
  else history.pushState(null, "", target);
  notify();
}

/** Change some query values of the current route in place (no new history entry). */
export function setQuery(values: Record<string, string | number | null | undefined>): void {
  const r = currentRoute();
  const q: Record<string, string> = {};
  r.query.forEach((v, k) => (q[k] = v));
  for (const [k, v] of Object.entries(values)) {
    if (v === null || v === undefined || v === "") delete q[k];
    else q[k] = String(v);
  }
  navigate("/" + r.path.map(encodeURIComponent).join("/"), { as_of: null, ...q }, true);
}

window.addEventListener("hashchange", notify);
window.addEventListener("popstate", notify);

export function useRoute(): Route {
  const [, setTick] = useState(0);
  useEffect(() => subscribe(() => setTick((t) => t + 1)), []);
  return currentRoute();
}
