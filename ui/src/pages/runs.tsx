// The runs table of one or several experiments: a window of rows fetched as you scroll (fine at
// 100k runs), sortable columns, a column chooser, the filter grammar with its errors shown in
// place, grouping by a param or tag, row selection for charts and comparison, live updates.

import { Component, type JSX } from "preact";
import { useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState } from "preact/hooks";
import { ApiError, tl, type RunGroup, type RunsTable } from "../api";
import { ErrorBox, Popover, ROW_HEIGHT, Spinner, StatusDot, useLoad, useVirtualRows } from "../components";
import { fmtAgo, fmtDuration, fmtNum, fmtTime, keyExpr, quote, splitKey } from "../format";
import { useLive } from "../live";
import { getAsOf, href, navigate, setQuery, useRoute } from "../state";

const WINDOW = 100;
const FIXED = ["run_id", "run_name", "experiment_id", "status", "user_id", "start_time", "end_time", "lifecycle_stage", "parent_run_id", "source_name", "git_commit"];
const col = (name: string) => FIXED.indexOf(name);

interface Column {
  id: string; // "run_name" or "metrics.acc"
  label: string;
  sort?: string; // the order_by key
  width: number;
  render: (row: unknown[], extra: number) => JSX.Element | string;
  numeric?: boolean;
}

function baseColumns(several: boolean, expNames: Map<string, string>): Column[] {
  const cols: Column[] = [
    {
      id: "run_name",
      label: "Run",
      sort: "attributes.run_name",
      width: 220,
      render: (r) => (
        <span class="run-name">
          <StatusDot status={String(r[col("status")])} />
          {r[col("parent_run_id")] ? <span class="child-mark" title="child run">↳</span> : null}
          <a href={href(`/runs/${r[0]}`)} onClick={(e) => e.stopPropagation()}>
            {String(r[col("run_name")] || r[0])}
          </a>
        </span>
      ),
    },
    {
      id: "start_time",
      label: "Created",
      sort: "attributes.start_time",
      width: 110,
      render: (r) => <span title={fmtTime(r[col("start_time")] as number)}>{fmtAgo(r[col("start_time")] as number)}</span>,
    },
    {
      id: "duration",
      label: "Duration",
      width: 84,
      numeric: true,
      render: (r) => {
        const start = r[col("start_time")] as number;
        const end = r[col("end_time")] as number | null;
        return r[col("status")] === "RUNNING" ? <span class="muted">{fmtDuration((getAsOf() ?? Date.now()) - start)}…</span> : fmtDuration(end ? end - start : null);
      },
    },
    { id: "status", label: "Status", sort: "attributes.status", width: 86, render: (r) => String(r[col("status")]).toLowerCase() },
    { id: "user_id", label: "User", sort: "attributes.user_id", width: 90, render: (r) => String(r[col("user_id")] ?? "") },
    {
      id: "source_name",
      label: "Source",
      width: 140,
      render: (r) => {
        const s = String(r[col("source_name")] ?? "");
        return <span title={s}>{s.split("/").pop()}</span>;
      },
    },
  ];
  if (several) {
    cols.splice(1, 0, {
      id: "experiment_id",
      label: "Experiment",
      sort: "attributes.experiment_id",
      width: 130,
      render: (r) => expNames.get(String(r[col("experiment_id")])) ?? String(r[col("experiment_id")]),
    });
  }
  return cols;
}

function keyColumn(id: string, index: number): Column {
  const [entity, name] = splitKey(id);
  return {
    id,
    label: name,
    sort: id,
    width: entity === "metrics" ? 96 : 110,
    numeric: entity === "metrics",
    render: (r) => {
      const v = r[FIXED.length + index];
      return <span title={v === null || v === undefined ? "" : String(v)}>{fmtNum(v)}</span>;
    },
  };
}

function storedColumns(ids: string[]): string[] | null {
  try {
    const v = localStorage.getItem(`tracklog.columns.${ids.join(",")}`);
    return v ? JSON.parse(v) : null;
  } catch {
    return null;
  }
}

export function RunsPage({ experimentIds }: { experimentIds: string[] }) {
  const route = useRoute();
  const q = route.query;
  const filter = q.get("q") ?? "";
  const sort = q.get("sort") ?? "";
  const group = q.get("group") ?? "";
  const view = (q.get("view") as ViewType) || "ACTIVE_ONLY";
  // the key list (column chooser, group-by choices, completions) is asked for once the first
  // window is on screen: at 100k runs it is the slowest read, and the table does not need it
  const [firstWindow, setFirstWindow] = useState(false);
  const needKeys = firstWindow || !!group;
  const keys = useLoad(() => (needKeys ? tl.runsKeys(experimentIds) : Promise.resolve(undefined)), [experimentIds.join(","), needKeys]);
  const exps = useLoad(() => tl.experiments("ALL"), []);
  const expNames = useMemo(() => new Map((exps.data?.experiments ?? []).map((e) => [e.experiment_id, e.name])), [exps.data]);
  // columns chosen in the URL or before (remembered per experiment); else the server picks a few
  // with the first window (no wait for the key list), and the grid reports them back
  const explicit = useMemo(() => {
    const fromUrl = q.get("cols");
    if (fromUrl !== null) return fromUrl ? fromUrl.split(",") : [];
    return storedColumns(experimentIds);
  }, [q.get("cols"), experimentIds.join(",")]);
  const [autoColumns, setAutoColumns] = useState<string[] | null>(null);
  const fromKeys = keys.data && [
    ...keys.data.metrics.slice(0, 4).map((m) => keyExpr("metrics", m)),
    ...keys.data.params.slice(0, 4).map((p) => keyExpr("params", p)),
  ];
  const chosen = explicit ?? autoColumns ?? fromKeys ?? null;
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [draft, setDraft] = useState(filter);
  const [filterError, setFilterError] = useState<FilterErr>();
  useEffect(() => setDraft(filter), [filter]);
  const onError = (e: Error | undefined) =>
    setFilterError(e instanceof ApiError && e.status === 400 && filter ? parseFilterError(filter, e) : undefined);

  const setColumns = (cols: string[]) => {
    localStorage.setItem(`tracklog.columns.${experimentIds.join(",")}`, JSON.stringify(cols));
    setQuery({ cols: cols.join(",") });
  };
  // the experiments' names (an id only for one that does not exist), never the ids while they load
  const title = exps.data || exps.error ? experimentIds.map((id) => expNames.get(id) ?? id).join(", ") : "\u00a0";
  const selectedIds = [...selected];
  return (
    <div class="page runs-page">
      <div class="page-head">
        <div>
          <div class="crumbs">
            <a href={href("/experiments")}>Experiments</a> ›
          </div>
          <h1 data-testid="runs-title">{title}</h1>
        </div>
        <div class="row gap">
          <button class="btn" data-testid="chart-selected" disabled={!selected.size} onClick={() => navigate("/charts", { runs: selectedIds.join(",") })}>
            Chart {selected.size || ""}
          </button>
          <button class="btn primary" data-testid="compare-selected" disabled={selected.size < 2} onClick={() => navigate("/compare", { runs: selectedIds.join(",") })}>
            Compare {selected.size || ""}
          </button>
        </div>
      </div>
      <div class="toolbar">
        <FilterBox draft={draft} setDraft={setDraft} apply={(v) => setQuery({ q: v })} keys={keys.data} error={filterError} />
        <Popover label={<>Columns{chosen ? ` (${chosen.length})` : ""}</>}>
          <ColumnChooser keys={keys.data} chosen={chosen ?? []} onChange={setColumns} />
        </Popover>
        <select class="input" aria-label="Lifecycle" value={view} onChange={(e) => setQuery({ view: e.currentTarget.value === "ACTIVE_ONLY" ? null : e.currentTarget.value })}>
          <option value="ACTIVE_ONLY">Active runs</option>
          <option value="DELETED_ONLY">Deleted runs</option>
          <option value="ALL">All runs</option>
        </select>
        <label class="row gap-s">
          <span class="muted">Group by</span>
          <select class="input" aria-label="Group by" value={group} onChange={(e) => setQuery({ group: e.currentTarget.value })}>
            <option value="">None</option>
            {keys.data?.params.map((p) => <option value={keyExpr("params", p)}>params.{p}</option>)}
            {keys.data?.tags.filter((t) => !t.startsWith("mlflow.")).map((t) => <option value={keyExpr("tags", t)}>tags.{t}</option>)}
            <option value="attributes.status">status</option>
            <option value="attributes.user_id">user</option>
          </select>
        </label>
        {selected.size > 0 && (
          <button class="link small" onClick={() => setSelected(new Set())}>
            Clear selection ({selected.size})
          </button>
        )}
      </div>
      {group && chosen === null ? (
        <Spinner />
      ) : group ? (
        <GroupedRuns
          experimentIds={experimentIds}
          filter={filter}
          sort={sort}
          group={group}
          view={view}
          columns={chosen ?? []}
          several={experimentIds.length > 1}
          expNames={expNames}
          selected={selected}
          setSelected={setSelected}
          onError={onError}
        />
      ) : (
        <RunsGrid
          experimentIds={experimentIds}
          filter={filter}
          sort={sort}
          view={view}
          columns={explicit}
          onColumns={setAutoColumns}
          onTotal={() => setFirstWindow(true)}
          several={experimentIds.length > 1}
          expNames={expNames}
          selected={selected}
          setSelected={setSelected}
          onError={onError}
          height="calc(100vh - 190px)"
        />
      )}
    </div>
  );
}

/** The search box: MLflow's filter grammar (plus OR and parentheses); a parse error is drawn
 * under the text, pointing at its column. */
function FilterBox({ draft, setDraft, apply, keys, error }: { draft: string; setDraft: (v: string) => void; apply: (v: string) => void; keys?: { params: string[]; metrics: string[]; tags: string[] }; error?: FilterErr }) {
  const input = useRef<HTMLInputElement>(null);
  useEffect(() => {
    // "/" focuses the search box, as in most tables of this kind
    const key = (e: KeyboardEvent) => {
      const t = e.target as HTMLElement;
      if (e.key === "/" && !["INPUT", "TEXTAREA", "SELECT"].includes(t.tagName)) {
        e.preventDefault();
        input.current?.focus();
      }
    };
    window.addEventListener("keydown", key);
    return () => window.removeEventListener("keydown", key);
  }, []);
  const suggestions = useMemo(
    () => [
      ...(keys?.metrics ?? []).map((k) => keyExpr("metrics", k)),
      ...(keys?.params ?? []).map((k) => keyExpr("params", k)),
      ...(keys?.tags ?? []).map((k) => keyExpr("tags", k)),
      "attributes.status",
      "attributes.run_name",
      "attributes.user_id",
    ],
    [keys],
  );
  return (
    <div class="filter-box">
      <div class="row gap-s">
        <input
          class={error ? "input mono filter-input invalid" : "input mono filter-input"}
          data-testid="filter-input"
          list="filter-keys"
          placeholder="Filter: metrics.acc > 0.9 and params.lr = '0.01'   (press / to focus)"
          value={draft}
          spellcheck={false}
          onInput={(e) => setDraft(e.currentTarget.value)}
          onKeyDown={(e) => e.key === "Enter" && apply(draft)}
          ref={input}
        />
        <datalist id="filter-keys">
          {suggestions.map((s) => (
            <option value={s} />
          ))}
        </datalist>
        <button class="btn" onClick={() => apply(draft)}>
          Search
        </button>
        {draft && (
          <button class="link small" onClick={() => (setDraft(""), apply(""))}>
            Clear
          </button>
        )}
      </div>
      {error && <FilterError text={error.text} pos={error.pos} message={error.message} />}
    </div>
  );
}

type FilterErr = { text: string; pos: number; message: string };

/** "col 15: metrics compare with numbers; …" → position 14 and the message. */
export function parseFilterError(filter: string, e: Error): FilterErr {
  const m = /col (\d+): ([^\n]*)/.exec(e.message);
  if (!m) return { text: filter, pos: -1, message: e.message };
  return { text: filter, pos: Number(m[1]) - 1, message: m[2] };
}

function FilterError({ text, pos, message }: { text: string; pos: number; message: string }) {
  return (
    <div class="filter-error" role="alert" data-testid="filter-error">
      {pos >= 0 && (
        <div class="mono caret-line">
          {text.slice(0, pos)}
          <span class="caret-at">{text.slice(pos, pos + 1) || " "}</span>
          {text.slice(pos + 1)}
          <br />
          <span class="caret">{" ".repeat(pos)}^</span>
        </div>
      )}
      <div>
        {pos >= 0 && <b>col {pos + 1}: </b>}
        {message}
      </div>
    </div>
  );
}

function ColumnChooser({ keys, chosen, onChange }: { keys?: { params: string[]; metrics: string[]; tags: string[] }; chosen: string[]; onChange: (c: string[]) => void }) {
  const [search, setSearch] = useState("");
  const [system, setSystem] = useState(false);
  if (!keys) return <Spinner />;
  const set = new Set(chosen);
  const toggle = (id: string) => onChange(set.has(id) ? chosen.filter((c) => c !== id) : [...chosen, id]);
  const section = (entity: "metrics" | "params" | "tags", names: string[]) => {
    const shown = names.filter((n) => n.toLowerCase().includes(search.toLowerCase()) && (system || entity !== "tags" || !n.startsWith("mlflow.")));
    return (
      <div class="chooser-section">
        <div class="chooser-head">
          <b>{entity}</b>
          <span class="muted">{names.length}</span>
          <span class="spacer" />
          <button class="link small" onClick={() => onChange([...chosen.filter((c) => !c.startsWith(entity + ".")), ...shown.map((n) => keyExpr(entity, n))])}>
            all
          </button>
          <button class="link small" onClick={() => onChange(chosen.filter((c) => !c.startsWith(entity + ".")))}>
            none
          </button>
        </div>
        {shown.map((n) => {
          const id = keyExpr(entity, n);
          return (
            <label class="check-row">
              <input type="checkbox" checked={set.has(id)} onChange={() => toggle(id)} /> {n}
            </label>
          );
        })}
      </div>
    );
  };
  return (
    <div class="chooser" data-testid="column-chooser">
      <input class="input" placeholder="Find a key" value={search} autoFocus onInput={(e) => setSearch(e.currentTarget.value)} />
      <div class="chooser-body">
        {section("metrics", keys.metrics)}
        {section("params", keys.params)}
        {section("tags", keys.tags)}
      </div>
      <label class="check-row muted">
        <input type="checkbox" checked={system} onChange={() => setSystem(!system)} /> show mlflow.* tags
      </label>
    </div>
  );
}

type ViewType = "ACTIVE_ONLY" | "DELETED_ONLY" | "ALL";

interface GridProps {
  experimentIds: string[];
  view: ViewType;
  filter: string;
  sort: string;
  columns: string[] | null; // null: the server's default columns
  onColumns?: (columns: string[]) => void;
  several: boolean;
  expNames: Map<string, string>;
  selected: Set<string>;
  setSelected: (s: Set<string>) => void;
  height: string;
  extraFilter?: string;
  onTotal?: (n: number) => void;
  onError?: (e: Error | undefined) => void;
}

/** Fetches windows of WINDOW rows on demand; keeps what it fetched until the query changes. */
function useRunWindows(props: GridProps) {
  const { experimentIds, filter, sort, columns, extraFilter, view } = props;
  const fullFilter = extraFilter ? (filter.trim() ? `(${filter}) and ${extraFilter}` : extraFilter) : filter;
  const queryKey = JSON.stringify([experimentIds, fullFilter, sort, columns, view, location.hash.match(/as_of=\d+/)?.[0]]);
  const [state, setState] = useState<{ total: number | null; pages: Map<number, unknown[][]>; columns: string[] | null; error?: Error }>({
    total: null,
    pages: new Map(),
    columns,
  });
  const inflight = useRef(new Set<number>());
  const version = useRef(0);
  const resolved = useRef<string[] | null>(columns); // the columns every window of this query uses
  const fetchPage = async (page: number, count: boolean, v: number) => {
    inflight.current.add(page);
    try {
      const t: RunsTable = await tl.runsTable({
        experiment_ids: experimentIds,
        filter: fullFilter,
        order_by: sort ? [sort] : [],
        columns: resolved.current,
        offset: page * WINDOW,
        limit: WINDOW,
        view_type: view,
        count,
      });
      if (v !== version.current) return;
      if (page === 0) props.onError?.(undefined);
      if (resolved.current === null) {
        resolved.current = t.columns.slice(FIXED.length);
        props.onColumns?.(resolved.current);
      }
      setState((s) => {
        const pages = new Map(s.pages);
        pages.set(page, t.rows);
        return { total: t.total ?? s.total, pages, columns: resolved.current };
      });
    } catch (e) {
      if (v !== version.current) return;
      props.onError?.(e as Error);
      setState((s) => ({ ...s, total: s.total ?? 0, error: e as Error }));
    } finally {
      inflight.current.delete(page);
    }
  };
  useLayoutEffect(() => {
    const v = ++version.current;
    inflight.current.clear();
    resolved.current = columns;
    setState({ total: null, pages: new Map(), columns });
    fetchPage(0, true, v);
  }, [queryKey]);
  const ensure = (first: number, last: number) => {
    if (state.total === null) return;
    for (let p = Math.floor(first / WINDOW); p <= Math.floor(Math.max(first, last - 1) / WINDOW); p++) {
      if (p * WINDOW < state.total && !state.pages.has(p) && !inflight.current.has(p)) fetchPage(p, false, version.current);
    }
  };
  const refresh = (first: number, last: number) => {
    const v = version.current;
    const pages = new Set([0]);
    for (let p = Math.floor(first / WINDOW); p <= Math.floor(Math.max(first, last - 1) / WINDOW); p++) pages.add(p);
    for (const p of pages) fetchPage(p, p === 0, v);
  };
  return { ...state, ensure, refresh };
}

export function RunsGrid(props: GridProps) {
  const { several, expNames, selected, setSelected, sort } = props;
  const data = useRunWindows(props);
  const columns = data.columns ?? [];
  const scroller = useRef<HTMLDivElement>(null);
  const total = data.total ?? 0;
  const [first, last] = useVirtualRows(scroller, total);
  useEffect(() => data.ensure(first, last), [first, last, data.total, data.pages]);
  useLive(() => data.refresh(first, last), [first, last, data.total]);
  useEffect(() => {
    if (data.total !== null) props.onTotal?.(data.total);
  }, [data.total]);
  const cols = useMemo(
    () => [...baseColumns(several, expNames), ...columns.map(keyColumn)],
    [columns.join(","), several, several ? expNames : null],
  );
  const [sortKey, sortDir] = sort ? [sort.replace(/ (ASC|DESC)$/i, ""), /DESC$/i.test(sort) ? "DESC" : "ASC"] : ["attributes.start_time", "DESC"];
  const clickSort = (c: Column) => {
    if (!c.sort) return;
    const dir = c.sort === sortKey && sortDir === "DESC" ? "ASC" : "DESC";
    setQuery({ sort: `${c.sort} ${dir}` });
  };
  const rowAt = (i: number) => data.pages.get(Math.floor(i / WINDOW))?.[i % WINDOW];
  // rows keep the first `toggle` they were given (they skip re-renders), so it reads the latest selection
  const selectedNow = useRef(selected);
  selectedNow.current = selected;
  const toggle = useCallback((id: string) => {
    const next = new Set(selectedNow.current);
    next.has(id) ? next.delete(id) : next.add(id);
    setSelected(next);
  }, []);
  const width = 36 + cols.reduce((a, c) => a + c.width, 0);
  const visible: JSX.Element[] = [];
  for (let i = first; i < Math.min(last, total); i++) {
    const r = rowAt(i);
    if (!r) {
      visible.push(
        <tr class="loading-row">
          <td colSpan={cols.length + 1}>
            <span class="skeleton" />
          </td>
        </tr>,
      );
      continue;
    }
    const id = String(r[0]);
    visible.push(<RunRow key={id} row={r} cols={cols} selected={selected.has(id)} toggle={toggle} />);
  }
  const loaded = [...data.pages.values()].flat();
  const allSelected = loaded.length > 0 && loaded.every((r) => selected.has(String(r[0])));
  return (
    <div class="card flush grid-card">
      <ErrorBox error={data.error && !(data.error instanceof ApiError && data.error.status === 400 && props.filter) ? data.error : undefined} />
      <div class="grid-scroll" ref={scroller} style={{ height: props.height }} data-testid="runs-grid">
        <table class="grid runs" style={{ width }}>
          <colgroup>
            <col style={{ width: 36 }} />
            {cols.map((c) => (
              <col style={{ width: c.width }} />
            ))}
          </colgroup>
          <thead>
            <tr>
              <th class="check">
                <input
                  type="checkbox"
                  aria-label="Select loaded runs"
                  checked={allSelected}
                  onChange={() => setSelected(allSelected ? new Set() : new Set(loaded.map((r) => String(r[0]))))}
                />
              </th>
              {cols.map((c) => (
                <th
                  class={`${c.sort ? "sortable" : ""} ${c.numeric ? "num" : ""} ${c.id.includes(".") ? "key-col " + c.id.split(".")[0] : ""}`}
                  title={c.id.includes(".") ? c.id : c.label}
                  aria-sort={c.sort === sortKey ? (sortDir === "DESC" ? "descending" : "ascending") : undefined}
                  onClick={() => clickSort(c)}
                >
                  {c.id.includes(".") && <span class="entity">{c.id.split(".")[0].slice(0, 1)}</span>}
                  {c.label}
                  {c.sort === sortKey && <span class="sort-arrow">{sortDir === "DESC" ? "↓" : "↑"}</span>}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {first > 0 && <tr class="spacer-row" style={{ height: first * ROW_HEIGHT }} />}
            {visible}
            {last < total && <tr class="spacer-row" style={{ height: (total - last) * ROW_HEIGHT }} />}
          </tbody>
        </table>
        {data.total === 0 && !data.error && <div class="empty">No runs match.</div>}
        {data.error && props.filter && <div class="empty">Fix the filter to see runs.</div>}
        {data.total === null && !data.error && <Spinner />}
      </div>
      <div class="grid-foot" data-testid="runs-count">
        {data.total !== null && `${total.toLocaleString()} run${total === 1 ? "" : "s"}`}
        {selected.size > 0 && ` · ${selected.size} selected`}
      </div>
    </div>
  );
}

interface RowProps {
  row: unknown[];
  cols: Column[];
  selected: boolean;
  toggle: (id: string) => void;
}

/** One run's row; it renders again only when its data, the columns or its selection change (a
 * table re-renders on every window that arrives, every scroll step and every live update). */
class RunRow extends Component<RowProps> {
  shouldComponentUpdate(next: RowProps): boolean {
    return next.row !== this.props.row || next.cols !== this.props.cols || next.selected !== this.props.selected;
  }

  render({ row, cols, selected, toggle }: RowProps) {
    const id = String(row[0]);
    return (
      <tr class={selected ? "selected" : ""} data-run-id={id} onClick={() => navigate(`/runs/${id}`)}>
        <td class="check" onClick={(e) => e.stopPropagation()}>
          <input type="checkbox" aria-label={`Select ${row[1]}`} checked={selected} onChange={() => toggle(id)} />
        </td>
        {cols.map((c) => (
          <td class={c.numeric ? "num" : ""}>{c.render(row, 0)}</td>
        ))}
      </tr>
    );
  }
}

function GroupedRuns(props: Omit<GridProps, "height" | "columns"> & { group: string; columns: string[] }) {
  const { experimentIds, filter, group, columns, view } = props;
  const groups = useLoad(
    () => tl.runsGroups({ experiment_ids: experimentIds, group_by: group, filter, columns, view_type: view }),
    [experimentIds.join(","), filter, group, columns.join(","), view],
  );
  useEffect(() => props.onError?.(groups.error), [groups.error]);
  const [open, setOpen] = useState<Set<string>>(new Set());
  useLive(() => groups.reload(), [group, filter]);
  const metricCols = columns.filter((c) => c.startsWith("metrics."));
  const valueFilter = (g: RunGroup) => (g.value === null ? `${group} IS NULL` : `${group} = ${group.startsWith("attributes.") || group.startsWith("params.") || group.startsWith("tags.") ? quote(g.value) : g.value}`);
  return (
    <div class="groups" data-testid="run-groups">
      <ErrorBox error={groups.error} />
      {!groups.data && <Spinner />}
      {groups.data?.groups.map((g) => {
        const key = String(g.value);
        const isOpen = open.has(key);
        return (
          <div class="card flush group">
            <div
              class="group-head"
              onClick={() => {
                const next = new Set(open);
                isOpen ? next.delete(key) : next.add(key);
                setOpen(next);
              }}
            >
              <span class="twisty">{isOpen ? "▾" : "▸"}</span>
              <b>
                {group.replace(/^(params|tags|attributes)\./, "")} = {g.value ?? <i>none</i>}
              </b>
              <span class="muted">{g.count} runs</span>
              {metricCols.map((c) => (
                <span class="chip">
                  mean {splitKey(c)[1]}: {g.means[c] === null || g.means[c] === undefined ? "–" : fmtNum(g.means[c])}
                </span>
              ))}
            </div>
            {isOpen && <RunsGrid {...props} extraFilter={valueFilter(g)} height={`${Math.min(g.count, 12) * ROW_HEIGHT + 36}px`} />}
          </div>
        );
      })}
    </div>
  );
}
