// The model registry: models; one model's versions, aliases (set and move), stages, tags,
// descriptions, and the history of every change (the registry_history view); one version's page;
// a logged model opens in its run.

import { useEffect, useState } from "preact/hooks";
import { mlflow, tl, type ModelDetail, type RegistryEvent } from "../api";
import { EditableText, Empty, ErrorBox, KeyValueTable, Spinner, useLoad } from "../components";
import { fmtAgo, fmtTime } from "../format";
import { useLive } from "../live";
import { markdown } from "../markdown";
import { getAsOf, href, navigate } from "../state";

export function ModelsPage() {
  const models = useLoad(() => tl.registeredModels(), []);
  const [filter, setFilter] = useState("");
  useLive(() => models.reload(), []);
  const rows = (models.data?.registered_models ?? []).filter((m) => m.name.toLowerCase().includes(filter.toLowerCase()));
  return (
    <div class="page">
      <div class="page-head">
        <h1>Registered models</h1>
        <input class="input search" placeholder="Filter by name" value={filter} onInput={(e) => setFilter(e.currentTarget.value)} />
      </div>
      <ErrorBox error={models.error} />
      {!models.data && <Spinner />}
      {models.data && !rows.length && (
        <Empty>
          No registered models yet. Register one with <code>tracklog.register_model("runs:/&lt;run_id&gt;/model", "name")</code> or{" "}
          <code>log_model(…, registered_model_name="name")</code>.
        </Empty>
      )}
      {rows.length > 0 && (
        <div class="card flush">
          <table class="table" data-testid="models-table">
            <thead>
              <tr>
                <th>Name</th>
                <th class="num">Latest version</th>
                <th class="num">Versions</th>
                <th>Aliases</th>
                <th>Description</th>
                <th>Tags</th>
                <th>Last modified</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((m) => (
                <tr key={m.name}>
                  <td>
                    <a href={href(`/models/${encodeURIComponent(m.name)}`)}>{m.name}</a>
                  </td>
                  <td class="num">{m.latest_version !== null ? `v${m.latest_version}` : ""}</td>
                  <td class="num">{m.version_count}</td>
                  <td>
                    {m.aliases.map((a) => (
                      <span class="chip alias">
                        @{a.alias} → v{a.version}
                      </span>
                    ))}
                  </td>
                  <td class="ellipsis">{m.description}</td>
                  <td>
                    {Object.entries(m.tags).map(([k, v]) => (
                      <span class="chip">
                        {k}: {v}
                      </span>
                    ))}
                  </td>
                  <td title={fmtTime(m.last_updated_time)}>{fmtAgo(m.last_updated_time)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}

const STAGES = ["None", "Staging", "Production", "Archived"];

export function ModelPage({ name }: { name: string }) {
  const model = useLoad(() => tl.registeredModel(name), [name]);
  const [error, setError] = useState<Error>();
  const readOnly = getAsOf() !== null;
  useLive(() => model.reload(), [name]);
  const act = async (fn: () => Promise<unknown>) => {
    try {
      await fn();
      setError(undefined);
      model.reload();
    } catch (e) {
      setError(e as Error);
    }
  };
  if (!model.data) return <div class="page">{model.error ? <ErrorBox error={model.error} /> : <Spinner />}</div>;
  const m = model.data;
  const aliasesOf = (v: number) => m.aliases.filter((a) => a.version === v);
  return (
    <div class="page">
      <div class="page-head">
        <div>
          <div class="crumbs">
            <a href={href("/models")}>Registered models</a> ›
          </div>
          <h1 data-testid="model-title">{m.registered_model.name}</h1>
        </div>
        <div class="muted small">
          created {fmtTime(m.registered_model.creation_time)} · updated {fmtAgo(m.registered_model.last_updated_time)}
        </div>
      </div>
      <ErrorBox error={error} />
      <div class="run-overview">
        <div class="col-main">
          <section class="card">
            <h2>Description</h2>
            <EditableText
              value={m.registered_model.description ?? ""}
              multiline
              markdown={markdown}
              readOnly={readOnly}
              placeholder="No description"
              onSave={(v) => mlflow.updateModel(name, v).then(model.reload)}
            />
          </section>
          <section class="card flush-body">
            <h2>Versions ({m.versions.length})</h2>
            <table class="table" data-testid="versions-table">
              <thead>
                <tr>
                  <th>Version</th>
                  <th>Aliases</th>
                  <th>Stage</th>
                  <th>Source run</th>
                  <th>Registered</th>
                  <th>Tags</th>
                  <th>Description</th>
                </tr>
              </thead>
              <tbody>
                {m.versions.map((v) => (
                  <tr key={v.version} data-version={v.version}>
                    <td>
                      <a href={href(`/models/${encodeURIComponent(name)}/versions/${v.version}`)}>
                        <b>v{v.version}</b>
                      </a>
                    </td>
                    <td>
                      {aliasesOf(v.version).map((a) => (
                        <span class="chip alias" data-testid={`alias-${a.alias}`}>
                          @{a.alias}
                        </span>
                      ))}
                    </td>
                    <td>
                      {readOnly ? (
                        v.current_stage
                      ) : (
                        <select class="input small" aria-label={`Stage of version ${v.version}`} value={v.current_stage} onChange={(e) => act(() => mlflow.transitionStage(name, v.version, e.currentTarget.value))}>
                          {STAGES.map((s) => (
                            <option>{s}</option>
                          ))}
                        </select>
                      )}
                    </td>
                    <td>{v.run_id ? <a href={href(`/runs/${v.run_id}`)} class="mono">{v.run_id.slice(0, 12)}…</a> : <span class="mono small">{v.source}</span>}</td>
                    <td title={fmtTime(v.creation_time)}>{fmtAgo(v.creation_time)}</td>
                    <td>
                      {Object.entries(v.tags).map(([k, val]) => (
                        <span class="chip">
                          {k}: {val}
                        </span>
                      ))}
                    </td>
                    <td>
                      <EditableText value={v.description ?? ""} readOnly={readOnly} placeholder="—" onSave={(d) => mlflow.updateVersion(name, v.version, d).then(model.reload)} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </section>
          <History events={m.history} />
        </div>
        <div class="col-side">
          <AliasCard model={m} readOnly={readOnly} act={act} />
          <ModelTags model={m} readOnly={readOnly} act={act} />
        </div>
      </div>
    </div>
  );
}

/** One version (MLflow's #/models/<name>/versions/<v>): stage, aliases, source, tags, description. */
export function ModelVersionPage({ name, version }: { name: string; version: number }) {
  const model = useLoad(() => tl.registeredModel(name), [name]);
  useLive(() => model.reload(), [name]);
  const head = (
    <div class="page-head">
      <div>
        <div class="crumbs">
          <a href={href("/models")}>Registered models</a> › <a href={href(`/models/${encodeURIComponent(name)}`)}>{name}</a> ›
        </div>
        <h1 data-testid="version-title">
          {name} v{version}
        </h1>
      </div>
    </div>
  );
  if (!model.data) return <div class="page">{head}{model.error ? <ErrorBox error={model.error} /> : <Spinner />}</div>;
  const v = model.data.versions.find((x) => x.version === version);
  if (!v) return <div class="page">{head}<Empty>{name} has no version {version}{getAsOf() !== null ? " at this moment" : ""}.</Empty></div>;
  const aliases = model.data.aliases.filter((a) => a.version === version);
  const tags = Object.entries(v.tags);
  return (
    <div class="page">
      {head}
      <div class="run-overview">
        <div class="col-main">
          <section class="card" data-testid="version-details">
            <h2>Details</h2>
            <KeyValueTable
              rows={[
                ["Stage", v.current_stage],
                ["Aliases", aliases.map((a) => <span class="chip alias">@{a.alias}</span>)],
                ["Source run", v.run_id ? <a href={href(`/runs/${v.run_id}`)} class="mono">{v.run_id}</a> : ""],
                ["Source", <span class="mono small">{v.source}</span>],
                ["Registered", `${fmtTime(v.creation_time)} by ${v.user_id || "unknown"}`],
                ["Status", v.status],
              ]}
            />
          </section>
          <section class="card">
            <h2>Description</h2>
            {v.description ? <div class="text md" dangerouslySetInnerHTML={{ __html: markdown(v.description) }} /> : <div class="muted">No description</div>}
          </section>
        </div>
        <div class="col-side">
          <section class="card">
            <h2>Tags</h2>
            {tags.length ? <KeyValueTable rows={tags.map(([k, val]) => [k, val])} /> : <div class="muted">No tags.</div>}
          </section>
        </div>
      </div>
    </div>
  );
}

/** A logged model (MLflow's #/experiments/<id>/models/<model id>): its MLmodel in its run's artifacts
 * (where logged models are shown), or its experiment for a model logged without a run. */
export function LoggedModelPage({ modelId }: { modelId: string }) {
  const found = useLoad(() => mlflow.loggedModel(modelId), [modelId]);
  useEffect(() => {
    const info = found.data?.model.info;
    if (info?.source_run_id) navigate(`/runs/${info.source_run_id}`, { tab: "artifacts", model: modelId, path: "MLmodel" }, true);
    else if (info) navigate(`/experiments/${info.experiment_id}`, {}, true);
  }, [found.data]);
  return <div class="page">{found.error ? <ErrorBox error={found.error} /> : <Spinner />}</div>;
}

function AliasCard({ model, readOnly, act }: { model: ModelDetail; readOnly: boolean; act: (fn: () => Promise<unknown>) => Promise<void> }) {
  const name = model.registered_model.name;
  const [alias, setAlias] = useState("");
  const [version, setVersion] = useState(String(model.versions[0]?.version ?? ""));
  return (
    <section class="card" data-testid="aliases">
      <h2>Aliases</h2>
      {model.aliases.length ? (
        <table class="kv">
          <tbody>
            {model.aliases.map((a) => (
              <tr key={a.alias}>
                <th>@{a.alias}</th>
                <td>
                  {readOnly ? (
                    `v${a.version}`
                  ) : (
                    <select class="input small" aria-label={`Version of alias ${a.alias}`} value={String(a.version)} onChange={(e) => act(() => mlflow.setAlias(name, a.alias, e.currentTarget.value))}>
                      {model.versions.map((v) => (
                        <option value={String(v.version)}>v{v.version}</option>
                      ))}
                    </select>
                  )}
                </td>
                <td class="muted small">{fmtAgo(a.set_at)}</td>
                {!readOnly && (
                  <td class="actions">
                    <button class="icon-btn" aria-label={`Delete alias ${a.alias}`} onClick={() => act(() => mlflow.deleteAlias(name, a.alias))}>
                      ×
                    </button>
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        <div class="muted">No aliases.</div>
      )}
      {!readOnly && (
        <div class="row gap-s add-tag">
          <input class="input small" placeholder="alias" aria-label="New alias" value={alias} onInput={(e) => setAlias(e.currentTarget.value)} />
          <select class="input small" aria-label="Version for new alias" value={version} onChange={(e) => setVersion(e.currentTarget.value)}>
            {model.versions.map((v) => (
              <option value={String(v.version)}>v{v.version}</option>
            ))}
          </select>
          <button class="btn small" disabled={!alias} onClick={() => act(() => mlflow.setAlias(name, alias, version)).then(() => setAlias(""))}>
            Set alias
          </button>
        </div>
      )}
    </section>
  );
}

function ModelTags({ model, readOnly, act }: { model: ModelDetail; readOnly: boolean; act: (fn: () => Promise<unknown>) => Promise<void> }) {
  const name = model.registered_model.name;
  const [key, setKey] = useState("");
  const [value, setValue] = useState("");
  const tags = Object.entries(model.registered_model.tags);
  return (
    <section class="card">
      <h2>Tags</h2>
      {tags.length ? (
        <table class="kv tags">
          <tbody>
            {tags.map(([k, v]) => (
              <tr key={k}>
                <th>{k}</th>
                <td>
                  <EditableText value={v} readOnly={readOnly} onSave={(nv) => act(() => mlflow.setModelTag(name, k, nv))} />
                </td>
                {!readOnly && (
                  <td class="actions">
                    <button class="icon-btn" aria-label={`Delete tag ${k}`} onClick={() => act(() => mlflow.deleteModelTag(name, k))}>
                      ×
                    </button>
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
      ) : (
        <div class="muted">No tags.</div>
      )}
      {!readOnly && (
        <div class="row gap-s add-tag">
          <input class="input small" placeholder="key" aria-label="New model tag key" value={key} onInput={(e) => setKey(e.currentTarget.value)} />
          <input class="input small" placeholder="value" aria-label="New model tag value" value={value} onInput={(e) => setValue(e.currentTarget.value)} />
          <button class="btn small" disabled={!key} onClick={() => act(() => mlflow.setModelTag(name, key, value)).then(() => (setKey(""), setValue("")))}>
            Add tag
          </button>
        </div>
      )}
    </section>
  );
}

function describe(e: RegistryEvent): string {
  const v = e.version !== null ? ` v${e.version}` : "";
  switch (e.kind) {
    case "RegisteredModelCreated":
      return `created the model`;
    case "RegisteredModelRenamed":
      return `renamed ${e.old_name ?? ""} → ${e.name}`;
    case "RegisteredModelDescriptionSet":
      return `set the description: “${e.description ?? ""}”`;
    case "RegisteredModelTagSet":
      return `set tag ${e.key} = ${e.value}`;
    case "RegisteredModelTagDeleted":
      return `deleted tag ${e.key}`;
    case "ModelVersionCreated":
      return `registered${v}`;
    case "ModelVersionStageSet":
      return `moved${v} to stage ${e.stage}`;
    case "ModelVersionDescriptionSet":
      return `described${v}: “${e.description ?? ""}”`;
    case "ModelVersionTagSet":
      return `set tag ${e.key} = ${e.value} on${v}`;
    case "ModelVersionTagDeleted":
      return `deleted tag ${e.key} of${v}`;
    case "ModelVersionDeleted":
      return `deleted${v}`;
    case "ModelAliasSet":
      return `pointed @${e.alias} at${v}`;
    case "ModelAliasDeleted":
      return `removed @${e.alias}`;
    default:
      return e.kind + v;
  }
}

function History({ events }: { events: RegistryEvent[] }) {
  return (
    <section class="card" data-testid="history">
      <h2>History ({events.length})</h2>
      {events.length ? (
        <ol class="timeline">
          {events.map((e) => (
            <li>
              <span class="muted small mono" title={fmtTime(e.time)}>
                {fmtTime(e.time)}
              </span>
              <span class="actor">{e.actor}</span>
              <span>{describe(e)}</span>
              <a class="link small" href={href(location.hash.slice(1).split("?")[0], { as_of: e.time + 1 })} title="See the model as it was right after this change">
                as of then
              </a>
            </li>
          ))}
        </ol>
      ) : (
        <Empty>No changes recorded.</Empty>
      )}
    </section>
  );
}
