// Live updates: one EventSource on the server's event stream, shared by every page. A page
// subscribes with a callback that runs (at most every `every` ms) after events arrive; without
// the stream (or when it drops) the callback runs on a slow poll instead, so pages stay fresh.

import { useEffect, useRef, useState } from "preact/hooks";
import { EVENTS_URL } from "./api";
import { getAsOf } from "./state";

export interface LiveEvent {
  kind?: string;
  run_id?: string;
  experiment_id?: string;
  [k: string]: unknown;
}

type Handler = (events: LiveEvent[]) => void;
const handlers = new Set<Handler>();
let source: EventSource | null = null;
let connected = false;
const statusListeners = new Set<(c: boolean) => void>();

function setConnected(c: boolean): void {
  connected = c;
  for (const fn of statusListeners) fn(c);
}

function open(): void {
  if (source || typeof EventSource === "undefined") return;
  source = new EventSource(EVENTS_URL);
  source.onopen = () => setConnected(true);
  source.onerror = () => setConnected(source?.readyState === EventSource.OPEN);
  const deliver = (msg: MessageEvent) => {
    let parsed: LiveEvent | LiveEvent[] = {};
    try {
      parsed = JSON.parse(msg.data);
    } catch {
      parsed = { kind: msg.type };
    }
    const events = Array.isArray(parsed) ? parsed : [parsed];
    for (const fn of handlers) fn(events);
  };
  source.onmessage = deliver;
}

let closing: number | undefined;

/** Close the stream once nobody has listened for a while (pages remount their listeners). */
function closeSoon(): void {
  window.clearTimeout(closing);
  closing = window.setTimeout(() => {
    if (handlers.size) return;
    source?.close();
    source = null;
    setConnected(false);
  }, 5000);
}

/** Call `onChange` after store events (throttled); polls every `pollMs` while the stream is down. */
export function useLive(onChange: (events: LiveEvent[]) => void, deps: unknown[], every = 1500, pollMs = 10_000): void {
  const cb = useRef(onChange);
  cb.current = onChange;
  const asOf = getAsOf();
  useEffect(() => {
    if (asOf !== null) return; // the past does not change
    let pending: LiveEvent[] = [];
    let timer: number | undefined;
    const fire = () => {
      timer = undefined;
      const batch = pending;
      pending = [];
      cb.current(batch);
    };
    const handler: Handler = (events) => {
      pending.push(...events);
      if (timer === undefined) timer = window.setTimeout(fire, every);
    };
    handlers.add(handler);
    open();
    const poll = window.setInterval(() => !connected && cb.current([]), pollMs);
    return () => {
      handlers.delete(handler);
      window.clearTimeout(timer);
      window.clearInterval(poll);
      if (!handlers.size) closeSoon();
    };
  }, [...deps, asOf]);
}

export function useLiveStatus(): boolean {
  const [c, setC] = useState(connected);
  useEffect(() => {
    statusListeners.add(setC);
    return () => void statusListeners.delete(setC);
  }, []);
  return c;
}
