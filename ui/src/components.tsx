// Small shared pieces: data loading, errors, badges, tabs, editable text, dialogs, a virtual grid.

import type { ComponentChildren, FunctionComponent, JSX } from "preact";
import { useCallback, useEffect, useLayoutEffect, useRef, useState } from "preact/hooks";
import { ApiError } from "./api";
import { fmtNum } from "./format";
import { getAsOf } from "./state";

export interface Loaded<T> {
  data: T | undefined;
  error: Error | undefined;
  loading: boolean;
  reload: () => void;
  set: (data: T) => void;
}

/** Run `load` when `deps` change (and on reload); stale answers are dropped. The request starts
 * as the component commits (a layout effect), not after the browser paints. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): Loaded<T> {
  const [state, setState] = useState<{ data?: T; error?: Error; loading: boolean }>({ loading: true });
  const [tick, setTick] = useState(0);
  const seq = useRef(0);
  useLayoutEffect(() => {
    const mine = ++seq.current;
    setState((s) => ({ ...s, loading: true }));
    load().then(
      (data) => mine === seq.current && setState({ data, loading: false }),
      (error: Error) => mine === seq.current && setState((s) => ({ data: s.data, error, loading: false })),
    );
  }, [...deps, tick, getAsOf()]);
  return {
    data: state.data,
    error: state.error,
    loading: state.loading,
    reload: useCallback(() => setTick((t) => t + 1), []),
    set: useCallback((data: T) => setState({ data, loading: false }), []),
  };
}

export function ErrorBox({ error }: { error: Error | undefined }) {
  if (!error) return null;
  const code = error instanceof ApiError ? error.code : "";
  return (
    <div class="error-box" role="alert">
      {code && <b>{code}: </b>}
      <span class="pre">{error.message}</span>
    </div>
  );
}

export function Spinner({ label = "Loading…" }: { label?: string }) {
  return (
    <div class="spinner">
      <span class="spin" /> {label}
    </div>
  );
}

export function Empty({ children }: { children: ComponentChildren }) {
  return <div class="empty">{children}</div>;
}

const STATUS_CLASS: Record<string, string> = {
  RUNNING: "running",
  FINISHED: "ok",
  FAILED: "bad",
  KILLED: "warn",
  SCHEDULED: "muted",
};

export function StatusDot({ status }: { status: string }) {
  return <span class={`dot ${STATUS_CLASS[status] ?? "muted"}`} title={status} />;
}

export function StatusBadge({ status }: { status: string }) {
  return (
    <span class={`badge ${STATUS_CLASS[status] ?? "muted"}`}>
      <StatusDot status={status} />
      {status}
    </span>
  );
}

export function Tabs<T extends string>({ tabs, active, onChange }: { tabs: [T, string][]; active: T; onChange: (t: T) => void }) {
  return (
    <div class="tabs" role="tablist">
      {tabs.map(([id, label]) => (
        <button role="tab" aria-selected={active === id} class={active === id ? "tab active" : "tab"} onClick={() => onChange(id)}>
          {label}
        </button>
      ))}
    </div>
  );
}

/** Text that turns into an input on "Edit"; `onSave` may throw an ApiError, which is shown. */
export function EditableText({
  value,
  onSave,
  multiline = false,
  placeholder = "",
  readOnly = false,
  label = "Edit",
  startEditing = false,
  onCancel,
  markdown: render,
}: {
  value: string;
  onSave: (v: string) => Promise<unknown>;
  multiline?: boolean;
  placeholder?: string;
  readOnly?: boolean;
  label?: string;
  startEditing?: boolean;
  onCancel?: () => void;
  markdown?: (text: string) => string;
}) {
  const [editing, setEditingState] = useState(startEditing);
  const setEditing = (v: boolean) => {
    setEditingState(v);
    if (!v) onCancel?.();
  };
  const [draft, setDraft] = useState(value);
  const [error, setError] = useState<Error>();
  const [busy, setBusy] = useState(false);
  useEffect(() => setDraft(value), [value]);
  if (!editing) {
    return (
      <div class="editable">
        {value && render ? (
          <div class="text md" dangerouslySetInnerHTML={{ __html: render(value) }} />
        ) : (
          <div class={multiline ? "pre text" : "text"}>{value || <span class="muted">{placeholder}</span>}</div>
        )}
        {!readOnly && (
          <button class="link small" onClick={() => setEditing(true)}>
            {label}
          </button>
        )}
      </div>
    );
  }
  const save = async () => {
    setBusy(true);
    try {
      await onSave(draft);
      setEditing(false);
      setError(undefined);
    } catch (e) {
      setError(e as Error);
    } finally {
      setBusy(false);
    }
  };
  const Field = multiline ? "textarea" : "input";
  return (
    <div class="editable editing">
      <Field
        class="input"
        value={draft}
        rows={multiline ? 5 : undefined}
        onInput={(e: JSX.TargetedEvent<HTMLInputElement | HTMLTextAreaElement>) => setDraft(e.currentTarget.value)}
        onKeyDown={(e: KeyboardEvent) => {
          if (e.key === "Enter" && (!multiline || e.ctrlKey || e.metaKey)) save();
          if (e.key === "Escape") setEditing(false);
        }}
        autoFocus
      />
      <div class="row gap">
        <button class="btn primary small" disabled={busy} onClick={save}>
          Save
        </button>
        <button class="btn small" onClick={() => (setEditing(false), setDraft(value))}>
          Cancel
        </button>
      </div>
      <ErrorBox error={error} />
    </div>
  );
}

export function Modal({ title, onClose, children }: { title: string; onClose: () => void; children: ComponentChildren }) {
  useEffect(() => {
    const key = (e: KeyboardEvent) => e.key === "Escape" && onClose();
    window.addEventListener("keydown", key);
    return () => window.removeEventListener("keydown", key);
  }, [onClose]);
  return (
    <div class="modal-bg" onMouseDown={(e) => e.target === e.currentTarget && onClose()}>
      <div class="modal" role="dialog" aria-label={title}>
        <div class="modal-head">
          <b>{title}</b>
          <button class="icon-btn" aria-label="Close" onClick={onClose}>
            ×
          </button>
        </div>
        <div class="modal-body">{children}</div>
      </div>
    </div>
  );
}

/** A popover anchored under its button; closes on outside click. */
export function Popover({ label, children, buttonClass = "btn" }: { label: ComponentChildren; children: ComponentChildren; buttonClass?: string }) {
  const [open, setOpen] = useState(false);
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (!open) return;
    const down = (e: MouseEvent) => ref.current && !ref.current.contains(e.target as Node) && setOpen(false);
    document.addEventListener("mousedown", down);
    return () => document.removeEventListener("mousedown", down);
  }, [open]);
  return (
    <div class="popover-wrap" ref={ref}>
      <button class={buttonClass} aria-expanded={open} onClick={() => setOpen(!open)}>
        {label}
      </button>
      {open && <div class="popover">{children}</div>}
    </div>
  );
}

export function KeyValueTable({ rows, empty = "None" }: { rows: [string, ComponentChildren][]; empty?: string }) {
  if (!rows.length) return <div class="muted small-pad">{empty}</div>;
  return (
    <table class="kv">
      <tbody>
        {rows.map(([k, v]) => (
          <tr>
            <th>{k}</th>
            <td>{v}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function useElementWidth(ref: { current: HTMLElement | null }): number {
  const [width, setWidth] = useState(0);
  useLayoutEffect(() => {
    if (!ref.current) return;
    const obs = new ResizeObserver((entries) => setWidth(Math.floor(entries[0].contentRect.width)));
    obs.observe(ref.current);
    setWidth(ref.current.clientWidth);
    return () => obs.disconnect();
  }, [ref.current]);
  return width;
}

/** A component whose module loads on first use (the charts: uPlot stays out of the first load). */
export function lazy<P extends object>(load: () => Promise<FunctionComponent<P>>): FunctionComponent<P> {
  let loaded: FunctionComponent<P> | null = null;
  let pending: Promise<unknown> | null = null;
  return function Lazy(props: P) {
    const [, setReady] = useState(false);
    useEffect(() => {
      if (!loaded) (pending ??= load().then((c) => (loaded = c))).then(() => setReady(true));
    }, []);
    const Component = loaded as FunctionComponent<P> | null;
    return Component ? <Component {...props} /> : <Spinner />;
  };
}

export const ROW_HEIGHT = 28;

/** Rows `[first, last)` visible in a scrolling element with fixed-height rows, plus overscan. */
export function useVirtualRows(scroller: { current: HTMLElement | null }, count: number, rowHeight = ROW_HEIGHT, overscan = 12) {
  const [range, setRange] = useState<[number, number]>([0, 50]);
  useLayoutEffect(() => {
    const el = scroller.current;
    if (!el) return;
    const update = () => {
      const first = Math.max(0, Math.floor(el.scrollTop / rowHeight) - overscan);
      const last = Math.min(count, Math.ceil((el.scrollTop + el.clientHeight) / rowHeight) + overscan);
      setRange((r) => (r[0] === first && r[1] === last ? r : [first, last]));
    };
    update();
    el.addEventListener("scroll", update, { passive: true });
    const obs = new ResizeObserver(update);
    obs.observe(el);
    return () => {
      el.removeEventListener("scroll", update);
      obs.disconnect();
    };
  }, [scroller.current, count, rowHeight]);
  return range;
}

/** A read-only table of any size (SQL results): virtual rows, sticky header. */
export function DataGrid({ columns, rows, height = 420 }: { columns: string[]; rows: unknown[][]; height?: number }) {
  const scroller = useRef<HTMLDivElement>(null);
  const [first, last] = useVirtualRows(scroller, rows.length);
  return (
    <div class="grid-scroll" ref={scroller} style={{ maxHeight: height }}>
      <table class="grid">
        <thead>
          <tr>
            <th class="rownum">#</th>
            {columns.map((c) => (
              <th>{c}</th>
            ))}
          </tr>
        </thead>
        <tbody>
          {first > 0 && <tr style={{ height: first * ROW_HEIGHT }} />}
          {rows.slice(first, last).map((row, i) => (
            <tr>
              <td class="rownum">{first + i + 1}</td>
              {row.map((v) => (
                <td class={typeof v === "number" ? "num" : ""}>{cell(v)}</td>
              ))}
            </tr>
          ))}
          {last < rows.length && <tr style={{ height: (rows.length - last) * ROW_HEIGHT }} />}
        </tbody>
      </table>
    </div>
  );
}

export function cell(v: unknown): string {
  if (v === null || v === undefined) return "";
  if (typeof v === "object") return JSON.stringify(v);
  return fmtNum(v);
}
