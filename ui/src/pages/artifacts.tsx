// The artifact browser: a lazily loaded tree, and previews of text, JSON/YAML, images, tables
// (MLflow's {columns, data} JSON and CSV) and MLmodel files. Logged models (MLflow 3 keeps them
// apart from the run's artifacts) are browsed the same way.

import { useEffect, useState } from "preact/hooks";
import { artifactUrl, mlflow, modelArtifactUrl, tl, type FileInfo } from "../api";
import { DataGrid, Empty, ErrorBox, Spinner, useLoad } from "../components";
import { fmtBytes } from "../format";
import { setQuery, useRoute } from "../state";

interface Source {
  list: (path?: string) => Promise<FileInfo[]>;
  url: (path: string) => string;
}

function runSource(runId: string): Source {
  return { list: async (path) => (await mlflow.listArtifacts(runId, path)).files ?? [], url: (p) => artifactUrl(runId, p) };
}

function modelSource(modelId: string): Source {
  return { list: async (path) => (await mlflow.listModelArtifacts(modelId, path)).files ?? [], url: (p) => modelArtifactUrl(modelId, p) };
}

export function ArtifactBrowser({ runId }: { runId: string }) {
  const route = useRoute();
  const modelId = route.query.get("model");
  const selected = route.query.get("path") ?? "";
  const run = useLoad(() => tl.run(runId), [runId]);
  const models = run.data?.logged_models ?? [];
  const source = modelId ? modelSource(modelId) : runSource(runId);
  return (
    <div class="artifacts">
      <div class="artifact-tree card flush">
        <div class="tree-roots">
          <button class={!modelId ? "tree-root active" : "tree-root"} onClick={() => setQuery({ model: null, path: null })}>
            Run artifacts
          </button>
          {models.map((m) => (
            <button class={modelId === m.model_id ? "tree-root active" : "tree-root"} onClick={() => setQuery({ model: m.model_id, path: null })} title={m.model_id}>
              Model: {m.name}
            </button>
          ))}
        </div>
        <Tree key={modelId ?? "run"} source={source} path="" selected={selected} depth={0} />
      </div>
      <div class="artifact-preview card">{selected ? <Preview key={selected} source={source} path={selected} /> : <Empty>Select a file to preview it.</Empty>}</div>
    </div>
  );
}

function Tree({ source, path, selected, depth }: { source: Source; path: string; selected: string; depth: number }) {
  const files = useLoad(() => source.list(path || undefined), [path]);
  const [open, setOpen] = useState<Set<string>>(() => new Set(selected.split("/").map((_, i, a) => a.slice(0, i + 1).join("/"))));
  if (files.error) return <ErrorBox error={files.error} />;
  if (!files.data) return <Spinner />;
  if (!files.data.length && depth === 0) return <Empty>No artifacts.</Empty>;
  const sorted = [...files.data].sort((a, b) => Number(b.is_dir) - Number(a.is_dir) || a.path.localeCompare(b.path));
  return (
    <ul class="tree" role={depth === 0 ? "tree" : "group"}>
      {sorted.map((f) => {
        const name = f.path.split("/").pop();
        if (f.is_dir) {
          const isOpen = open.has(f.path);
          return (
            <li role="treeitem" aria-expanded={isOpen}>
              <button
                class="tree-item dir"
                style={{ paddingLeft: 8 + depth * 14 }}
                onClick={() => {
                  const next = new Set(open);
                  isOpen ? next.delete(f.path) : next.add(f.path);
                  setOpen(next);
                }}
              >
                <span class="twisty">{isOpen ? "▾" : "▸"}</span> {name}
              </button>
              {isOpen && <Tree source={source} path={f.path} selected={selected} depth={depth + 1} />}
            </li>
          );
        }
        return (
          <li role="treeitem">
            <button class={selected === f.path ? "tree-item file active" : "tree-item file"} style={{ paddingLeft: 22 + depth * 14 }} onClick={() => setQuery({ path: f.path })}>
              <span class="file-name">{name}</span>
              <span class="muted small">{fmtBytes(f.file_size)}</span>
            </button>
          </li>
        );
      })}
    </ul>
  );
}

const IMAGE = /\.(png|jpe?g|gif|svg|webp|bmp)$/i;
const TEXT = /(\.(txt|log|md|py|sh|cfg|ini|toml|yaml|yml|r|scala|java|js|ts|sql|html|xml|ipynb)|MLmodel|MLproject|requirements\.txt|Dockerfile)$/i;
const MAX_PREVIEW = 2_000_000;

function Preview({ source, path }: { source: Source; path: string }) {
  const url = source.url(path);
  const name = path.split("/").pop() ?? path;
  const head = (
    <div class="preview-head">
      <b class="mono">{path}</b>
      <span class="spacer" />
      <a class="btn small" href={url} download={name}>
        Download
      </a>
    </div>
  );
  if (IMAGE.test(path)) {
    return (
      <div data-testid="artifact-preview">
        {head}
        <div class="image-preview">
          <img src={url} alt={path} />
        </div>
      </div>
    );
  }
  const kind = /\.json$/i.test(path) ? "json" : /\.(csv|tsv)$/i.test(path) ? "csv" : TEXT.test(path) ? "text" : "binary";
  if (kind === "binary") {
    return (
      <div data-testid="artifact-preview">
        {head}
        <Empty>No preview for this file type; download it to open it.</Empty>
      </div>
    );
  }
  return (
    <div data-testid="artifact-preview">
      {head}
      <TextPreview url={url} kind={kind} name={name} />
    </div>
  );
}

function TextPreview({ url, kind, name }: { url: string; kind: "json" | "csv" | "text"; name: string }) {
  const [text, setText] = useState<string>();
  const [error, setError] = useState<Error>();
  useEffect(() => {
    fetch(url)
      .then((r) => (r.ok ? r.text() : Promise.reject(new Error(`${r.status} ${r.statusText}`))))
      .then((t) => setText(t.length > MAX_PREVIEW ? t.slice(0, MAX_PREVIEW) : t), setError);
  }, [url]);
  if (error) return <ErrorBox error={error} />;
  if (text === undefined) return <Spinner />;
  if (kind === "json") {
    try {
      const value = JSON.parse(text);
      if (value && Array.isArray(value.columns) && Array.isArray(value.data)) {
        return <DataGrid columns={value.columns} rows={value.data} />;
      }
      return <pre class="code">{JSON.stringify(value, null, 2)}</pre>;
    } catch {
      return <pre class="code">{text}</pre>;
    }
  }
  if (kind === "csv") {
    const sep = name.endsWith(".tsv") ? "\t" : ",";
    const lines = text.split(/\r?\n/).filter(Boolean);
    const rows = lines.slice(1, 10_001).map((l) => splitCsv(l, sep));
    return <DataGrid columns={splitCsv(lines[0] ?? "", sep)} rows={rows} />;
  }
  if (name === "MLmodel") return <MLmodelPreview text={text} />;
  return <pre class="code">{text}</pre>;
}

function splitCsv(line: string, sep: string): string[] {
  const out: string[] = [];
  let cur = "";
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') (cur += '"'), i++;
      else if (c === '"') quoted = false;
      else cur += c;
    } else if (c === '"') quoted = true;
    else if (c === sep) out.push(cur), (cur = "");
    else cur += c;
  }
  out.push(cur);
  return out;
}

/** The MLmodel file: its flavors and signature summarised above the YAML. */
function MLmodelPreview({ text }: { text: string }) {
  const flavors: string[] = [];
  let inFlavors = false;
  for (const line of text.split("\n")) {
    if (/^flavors:/.test(line)) inFlavors = true;
    else if (/^\S/.test(line)) inFlavors = false;
    else if (inFlavors && /^ {2}\S[^:]*:/.test(line)) flavors.push(line.trim().replace(/:.*/, ""));
  }
  const field = (k: string) => text.match(new RegExp(`^${k}: (.*)$`, "m"))?.[1];
  return (
    <div class="mlmodel" data-testid="mlmodel-preview">
      <div class="row gap wrap">
        {flavors.map((f) => (
          <span class="chip">{f}</span>
        ))}
        {field("model_id") && <span class="muted small mono">model_id {field("model_id")}</span>}
        {field("utc_time_created") && <span class="muted small">created {field("utc_time_created")}</span>}
        {/signature:/.test(text) && <span class="chip">has signature</span>}
      </div>
      <pre class="code">{text}</pre>
    </div>
  );
}
