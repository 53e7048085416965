// Experiments: the list with run counts and last activity; create, rename, delete; open the runs
// of one or several.

import { useState } from "preact/hooks";
import { mlflow, tl, type ExperimentRow } from "../api";
import { EditableText, Empty, ErrorBox, Modal, Spinner, useLoad } from "../components";
import { fmtAgo, fmtTime } from "../format";
import { useLive } from "../live";
import { getAsOf, href, navigate } from "../state";

export function ExperimentsPage() {
  const [view, setView] = useState("ACTIVE_ONLY");
  const exps = useLoad(() => tl.experiments(view), [view]);
  const [filter, setFilter] = useState("");
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [creating, setCreating] = useState(false);
  const [deleting, setDeleting] = useState<ExperimentRow>();
  const readOnly = getAsOf() !== null;
  useLive(() => exps.reload(), []);

  const rows = (exps.data?.experiments ?? []).filter((e) => e.name.toLowerCase().includes(filter.toLowerCase()));
  const toggle = (id: string) => {
    const next = new Set(selected);
    next.has(id) ? next.delete(id) : next.add(id);
    setSelected(next);
  };
  return (
    <div class="page">
      <div class="page-head">
        <h1>Experiments</h1>
        <div class="row gap">
          <input class="input search" placeholder="Filter by name" value={filter} onInput={(e) => setFilter(e.currentTarget.value)} />
          <select class="input" value={view} aria-label="Lifecycle" onChange={(e) => setView(e.currentTarget.value)}>
            <option value="ACTIVE_ONLY">Active</option>
            <option value="DELETED_ONLY">Deleted</option>
            <option value="ALL">All</option>
          </select>
          <button
            class="btn"
            disabled={!selected.size}
            data-testid="open-selected"
            onClick={() => navigate(`/experiments/${[...selected].join(",")}`)}
          >
            Compare runs of {selected.size || ""} selected
          </button>
          {!readOnly && (
            <button class="btn primary" onClick={() => setCreating(true)}>
              New experiment
            </button>
          )}
        </div>
      </div>
      <ErrorBox error={exps.error} />
      {!exps.data && exps.loading && <Spinner />}
      {exps.data && !rows.length && <Empty>No experiments{filter && " match"}.</Empty>}
      {!!rows.length && (
        <div class="card flush">
          <table class="table" data-testid="experiments-table">
            <thead>
              <tr>
                <th class="check" />
                <th>Name</th>
                <th>ID</th>
                <th class="num">Runs</th>
                <th class="num">Running</th>
                <th>Last activity</th>
                <th>Created</th>
                <th>Tags</th>
                {!readOnly && <th />}
              </tr>
            </thead>
            <tbody>
              {rows.map((e) => (
                <tr key={e.experiment_id} class={e.lifecycle_stage === "deleted" ? "deleted" : ""}>
                  <td class="check">
                    <input type="checkbox" aria-label={`Select ${e.name}`} checked={selected.has(e.experiment_id)} onChange={() => toggle(e.experiment_id)} />
                  </td>
                  <td class="name-cell">
                    {readOnly ? (
                      <a href={href(`/experiments/${e.experiment_id}`)}>{e.name}</a>
                    ) : (
                      <RenameCell exp={e} onDone={exps.reload} />
                    )}
                  </td>
                  <td class="mono muted">{e.experiment_id}</td>
                  <td class="num">{e.run_count.toLocaleString()}</td>
                  <td class="num">{e.running ? <span class="badge running">{e.running}</span> : ""}</td>
                  <td title={fmtTime(e.last_activity)}>{fmtAgo(e.last_activity)}</td>
                  <td title={fmtTime(e.creation_time)}>{e.creation_time ? fmtTime(e.creation_time).slice(0, 16) : ""}</td>
                  <td>
                    {Object.entries(e.tags)
                      .filter(([k]) => !k.startsWith("mlflow."))
                      .map(([k, v]) => (
                        <span class="chip">
                          {k}: {v}
                        </span>
                      ))}
                  </td>
                  {!readOnly && (
                    <td class="actions">
                      {e.lifecycle_stage !== "deleted" && e.experiment_id !== "0" && (
                        <button class="link small danger" onClick={() => setDeleting(e)}>
                          Delete
                        </button>
                      )}
                    </td>
                  )}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {creating && <CreateDialog onClose={() => setCreating(false)} onCreated={(id) => navigate(`/experiments/${id}`)} />}
      {deleting && (
        <DeleteDialog
          exp={deleting}
          onClose={() => setDeleting(undefined)}
          onDeleted={() => {
            setDeleting(undefined);
            exps.reload();
          }}
        />
      )}
    </div>
  );
}

function RenameCell({ exp, onDone }: { exp: ExperimentRow; onDone: () => void }) {
  const [editing, setEditing] = useState(false);
  if (editing) {
    return (
      <EditableText
        value={exp.name}
        startEditing
        onCancel={() => setEditing(false)}
        onSave={async (name) => {
          await mlflow.renameExperiment(exp.experiment_id, name);
          setEditing(false);
          onDone();
        }}
      />
    );
  }
  return (
    <span class="row gap">
      <a href={href(`/experiments/${exp.experiment_id}`)}>{exp.name}</a>
      {exp.experiment_id !== "0" && (
        <button class="link small hover-only" aria-label={`Rename ${exp.name}`} onClick={() => setEditing(true)}>
          Rename
        </button>
      )}
    </span>
  );
}

function CreateDialog({ onClose, onCreated }: { onClose: () => void; onCreated: (id: string) => void }) {
  const [name, setName] = useState("");
  const [error, setError] = useState<Error>();
  const create = async () => {
    try {
      const { experiment_id } = await mlflow.createExperiment(name.trim());
      onCreated(experiment_id);
    } catch (e) {
      setError(e as Error);
    }
  };
  return (
    <Modal title="New experiment" onClose={onClose}>
      <label class="field">
        Name
        <input class="input" autoFocus value={name} onInput={(e) => setName(e.currentTarget.value)} onKeyDown={(e) => e.key === "Enter" && create()} />
      </label>
      <ErrorBox error={error} />
      <div class="row gap end">
        <button class="btn" onClick={onClose}>
          Cancel
        </button>
        <button class="btn primary" disabled={!name.trim()} onClick={create}>
          Create
        </button>
      </div>
    </Modal>
  );
}

function DeleteDialog({ exp, onClose, onDeleted }: { exp: ExperimentRow; onClose: () => void; onDeleted: () => void }) {
  const [error, setError] = useState<Error>();
  return (
    <Modal title={`Delete ${exp.name}?`} onClose={onClose}>
      <p>
        The experiment and its {exp.run_count} runs move to the deleted list; nothing is erased (restore them with{" "}
        <code>tracklog experiments restore {exp.experiment_id}</code>).
      </p>
      <ErrorBox error={error} />
      <div class="row gap end">
        <button class="btn" onClick={onClose}>
          Cancel
        </button>
        <button
          class="btn danger"
          onClick={async () => {
            try {
              await mlflow.deleteExperiment(exp.experiment_id);
              onDeleted();
            } catch (e) {
              setError(e as Error);
            }
          }}
        >
          Delete
        </button>
      </div>
    </Modal>
  );
}
