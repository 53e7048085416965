// The app shell: top bar (navigation, "as of" control, live indicator) and the hash router.

import { render } from "preact";
import { useState } from "preact/hooks";
import "./styles.css";
import { lazy } from "./components";
import { useLiveStatus } from "./live";
import { ComparePage } from "./pages/compare";
import { ExperimentsPage } from "./pages/experiments";
import { LoggedModelPage, ModelPage, ModelsPage, ModelVersionPage } from "./pages/models";
import { RunPage } from "./pages/run";
import { RunsPage } from "./pages/runs";
import { SqlPage } from "./pages/sql";
import { TracePage, TracesPage } from "./pages/traces";
import { fmtTime } from "./format";
import { fromMlflow } from "./routes";
import { currentRoute, getAsOf, href, setQuery, useRoute, type Route } from "./state";

const ChartsPage = lazy<object>(() => import("./pages/charts").then((m) => m.ChartsPage));

function page(route: Route) {
  const [first, second, third, fourth] = route.path;
  switch (first) {
    case undefined:
    case "experiments":
      return second ? <RunsPage experimentIds={second.split(",")} /> : <ExperimentsPage />;
    case "runs":
      return <RunPage runId={second} />;
    case "charts":
      return <ChartsPage />;
    case "compare":
      return <ComparePage />;
    case "models":
      if (second && third === "versions" && fourth) return <ModelVersionPage name={second} version={Number(fourth)} />;
      return second ? <ModelPage name={second} /> : <ModelsPage />;
    case "logged-models":
      return <LoggedModelPage modelId={second} />;
    case "sql":
      return <SqlPage />;
    case "traces":
      return second ? <TracePage traceId={second} /> : <TracesPage />;
    default:
      return <div class="page">No page at #{route.path.join("/")}</div>;
  }
}

function toLocalInput(ms: number): string {
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60_000);
  return d.toISOString().slice(0, 19);
}

function AsOfControl() {
  const asOf = getAsOf();
  const [open, setOpen] = useState(false);
  const [draft, setDraft] = useState(toLocalInput(asOf ?? Date.now()));
  const go = (ms: number | null) => {
    setQuery({ as_of: ms === null ? null : Math.round(ms) });
    setOpen(false);
  };
  return (
    <div class="popover-wrap">
      <button class={asOf === null ? "btn asof" : "btn asof traveling"} data-testid="asof-button" onClick={() => setOpen(!open)}>
        <span class="clock">◷</span> {asOf === null ? "Now" : `As of ${fmtTime(asOf)}`}
      </button>
      {open && (
        <div class="popover right asof-pop">
          <div class="muted small">Show every page as it was at a moment (read-only).</div>
          <input
            class="input"
            type="datetime-local"
            step="1"
            aria-label="As of"
            value={draft}
            onInput={(e) => setDraft(e.currentTarget.value)}
          />
          <div class="row gap wrap">
            <button class="btn primary small" data-testid="asof-apply" onClick={() => go(new Date(draft).getTime())}>
              Travel
            </button>
            <button class="btn small" onClick={() => go(Date.now() - 3_600_000)}>
              1 h ago
            </button>
            <button class="btn small" onClick={() => go(Date.now() - 86_400_000)}>
              1 day ago
            </button>
            <button class="btn small" onClick={() => go(null)}>
              Back to now
            </button>
          </div>
        </div>
      )}
    </div>
  );
}

function App() {
  let route = useRoute();
  const moved = fromMlflow(route); // a link from MLflow's UI or client: the same page here, at tracklog's address
  if (moved !== null) {
    history.replaceState(null, "", moved);
    route = currentRoute();
  }
  const live = useLiveStatus();
  const asOf = getAsOf();
  const section = route.path[0] ?? "experiments";
  const nav: [string, string, string[]][] = [
    ["/experiments", "Experiments", ["experiments", "runs", "charts", "compare"]],
    ["/models", "Models", ["models"]],
    ["/traces", "Traces", ["traces"]],
    ["/sql", "SQL", ["sql"]],
  ];
  return (
    <div class={asOf === null ? "app" : "app past"}>
      <header class="topbar">
        <a class="brand" href={href("/experiments")}>
          <svg width="18" height="18" viewBox="0 0 16 16" aria-hidden="true">
            <rect width="16" height="16" rx="3" fill="#2563eb" />
            <path d="M3 11l3-4 3 2 4-6" stroke="white" stroke-width="1.6" fill="none" />
          </svg>
          tracklog
        </a>
        <nav>
          {nav.map(([path, label, sections]) => (
            <a class={sections.includes(section) ? "nav active" : "nav"} href={href(path)}>
              {label}
            </a>
          ))}
        </nav>
        <div class="spacer" />
        {asOf === null && (
          <span class={live ? "live on" : "live"} title={live ? "Live: pages update as runs log" : "Not connected to the event stream; polling"}>
            <span class="dot" /> {live ? "Live" : "Polling"}
          </span>
        )}
        <AsOfControl />
      </header>
      {asOf !== null && (
        <div class="banner" data-testid="asof-banner">
          Viewing the store as it was at <b>{fmtTime(asOf)}</b> — read-only.{" "}
          <a href="javascript:void 0" onClick={() => setQuery({ as_of: null })}>
            Back to now
          </a>
        </div>
      )}
      <main>{page(route)}</main>
    </div>
  );
}

render(<App />, document.getElementById("app")!);
