"""The ``tracklog`` command line.

Every command takes ``--store URI`` (default: ``TRACKLOG_TRACKING_URI`` or ``./tracklog-runs``): a
store (a folder or an fsspec URL) or a tracking server (``http(s)://…``); only ``compact`` and
``doctor`` need the store itself. Commands that only read never create a store. Errors print one
line naming what was wrong and exit with status 1 — never a traceback.
"""

from __future__ import annotations

import math
import random
import sys
import time
import warnings
from collections.abc import Iterable, Sequence
from typing import Any

import click
import msgspec

import tracklog
from eventlog import CorruptFileError, CorruptFileWarning, TracklogError
from eventlog.compaction import compact as run_compaction
from eventlog.compaction import parse_duration, remove_expired
from projections.catalog import Catalog
from projections.check import check_catalog, rebuild_catalog
from projections.entities import ViewType, encode_hook
from tracklog.cli._common import VIEWS as _VIEWS
from tracklog.cli._common import client as _client
from tracklog.cli._common import ms as _ms
from tracklog.cli._common import parse_when as _parse_when
from tracklog.cli._common import store_itself as _store_itself
from tracklog.cli._common import store_option as _store_option
from tracklog.cli._common import table as _table
from tracklog.cli.transfer import export_group as _export_group
from tracklog.cli.transfer import files_command as _files_command
from tracklog.cli.transfer import import_group as _import_group
from tracklog.cli.transfer import sync_command as _sync_command
from tracklog.models.cli import models as _models
from tracklog.projects._cli import run_command
from tracklog.server.cli import server_command as _server
from tracklog.server.cli import ui_command as _ui

__all__ = ["main"]

@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="tracklog")
def cli() -> None:
    """tracklog: ML experiment tracking on an event log, with MLflow's API."""


# ---- experiments ------------------------------------------------------------------------


@cli.group()
def experiments() -> None:
    """List and manage experiments."""


@experiments.command("list")
@_store_option
@click.option("--view", type=click.Choice(["active", "deleted", "all"]), default="active", show_default=True,
              help="Which experiments: active ones, deleted ones, or all.")
def experiments_list(store: str | None, view: str) -> None:
    """List experiments, newest first."""
    exps = _client(store, reading=True).search_experiments(view_type=_VIEWS[view], max_results=None)
    click.echo(_table(["experiment_id", "name", "stage", "created"],
                      [(e.experiment_id, e.name, e.lifecycle_stage, _ms(e.creation_time)) for e in exps]))


@experiments.command("create")
@_store_option
@click.argument("name")
def experiments_create(store: str | None, name: str) -> None:
    """Create an experiment and print its id."""
    click.echo(_client(store).create_experiment(name))


@experiments.command("rename")
@_store_option
@click.argument("experiment_id")
@click.argument("new_name")
def experiments_rename(store: str | None, experiment_id: str, new_name: str) -> None:
    """Rename an experiment. Its id and runs stay; the old name is free again."""
    _client(store).rename_experiment(experiment_id, new_name)


def _lifecycle_command(group: click.Group, verb: str, method: str, argument: str) -> None:
    """``<group> delete|restore ID``: one event, published at once."""
    noun = argument.removesuffix("_id").replace("_", " ")
    what = "nothing is erased" if verb == "delete" else "undoes a delete"

    @group.command(verb, help=f"{verb.capitalize()} the {noun} with this id (an event: {what}).")
    @_store_option
    @click.argument(argument)
    def command(store: str | None, **ids: str) -> None:
        client = _client(store)
        getattr(client, method)(ids[argument])
        client.flush()


for _verb in ("delete", "restore"):
    _lifecycle_command(experiments, _verb, f"{_verb}_experiment", "experiment_id")


# ---- runs --------------------------------------------------------------------------------


@cli.group()
def runs() -> None:
    """List, inspect, delete and restore runs."""


@runs.command("list")
@_store_option
@click.option("--experiment-id", "-x", default=None, help="Only this experiment.")
@click.option("--view", type=click.Choice(["active", "deleted", "all"]), default="active", show_default=True,
              help="Which runs: active ones, deleted ones, or all.")
def runs_list(store: str | None, experiment_id: str | None, view: str) -> None:
    """List runs, newest first, with their latest metrics."""
    client = _client(store, reading=True)
    if experiment_id:
        ids = [client.get_experiment(experiment_id).experiment_id]  # an unknown id: a clear error
    else:
        ids = [e.experiment_id for e in client.search_experiments(view_type=ViewType.ALL, max_results=None)]
    rows = []
    for run in _every_run(client, ids, _VIEWS[view]):
        metrics = ", ".join(f"{k}={v:.4g}" for k, v in sorted(run.data.metrics.items())[:4])
        rows.append((run.info.run_id, run.info.run_name, run.info.experiment_id, str(run.info.status),
                     _ms(run.info.start_time), metrics))
    click.echo(_table(["run_id", "name", "experiment_id", "status", "started", "metrics"], rows))


def _every_run(client: Any, experiment_ids: list[str], view: int) -> Iterable[Any]:
    """Every run of the experiments, newest first, page by page (a store or a server alike)."""
    token = None
    while True:
        page = client.search_runs(experiment_ids, run_view_type=view, max_results=1000,
                                  order_by=["attributes.start_time DESC"], page_token=token)
        yield from page
        token = page.token
        if not token:
            return


@runs.command("describe")
@_store_option
@click.argument("run_id")
def runs_describe(store: str | None, run_id: str) -> None:
    """Print a run as JSON (MLflow's field names)."""
    run = _client(store, reading=True).get_run(run_id)
    shown = {"info": run.info, "data": {"metrics": run.data.metrics, "params": run.data.params, "tags": run.data.tags},
             "inputs": run.inputs, "outputs": run.outputs}  # as `mlflow runs describe` prints a run
    click.echo(msgspec.json.format(msgspec.json.encode(shown, enc_hook=encode_hook).decode(), indent=2))


for _verb in ("delete", "restore"):
    _lifecycle_command(runs, _verb, f"{_verb}_run", "run_id")


# ---- SQL and compaction -----------------------------------------------------------------------


@cli.command("sql")
@_store_option
@click.argument("query")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json", "parquet"]), default="table", show_default=True,
              help="How to print the result.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True), default=None, help="Write to this file (required for parquet on a terminal).")
@click.option("--as-of", "as_of", default=None, metavar="WHEN", help="Query the store as it was: ISO time (UTC unless it says) or epoch ms.")
def sql_command(store: str | None, query: str, fmt: str, output: str | None, as_of: str | None) -> None:
    """Run read-only SQL over the views. Views: runs, metrics, params, tags, experiments, events…"""
    result = tracklog.sql(query, as_of=_parse_when(as_of), uri=store)
    data = _render(result.arrow(), fmt)
    if output:
        with open(output, "wb") as fh:
            fh.write(data)
    elif fmt == "parquet" and sys.stdout.isatty():
        raise click.UsageError("parquet is binary: pass --output FILE or redirect stdout")
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()


def _render(table: Any, fmt: str) -> bytes:
    import io

    if fmt == "table":
        rows = zip(*(c.to_pylist() for c in table.columns), strict=True) if table.num_columns else []
        return (_table(table.column_names, rows) + f"\n({table.num_rows} rows)\n").encode()
    if fmt == "json":
        return msgspec.json.encode(table.to_pylist()) + b"\n"
    sink = io.BytesIO()
    if fmt == "csv":
        import pyarrow.csv as pacsv

        pacsv.write_csv(table, sink)
    else:
        import pyarrow.parquet as pq

        pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


@cli.command()
@_store_option
@click.option("--retention", default="1h", show_default=True, help="Delete consumed files this long after their commit (s, m, h, d).")
@click.option("--stream", type=click.Choice(["metric", "control", "all"]), default="all", show_default=True,
              help="Which stream of the log: metric points, every other event, or both.")
def compact(store: str | None, retention: str, stream: str) -> None:
    """Merge small segments into large sorted files. Also deletes what earlier compactions consumed."""
    keep = parse_duration(retention)
    log = _store_itself(store, "compact")

    def progress(items: Any, label: str) -> Any:
        with click.progressbar(items, label=label, file=sys.stderr) as bar:
            yield from bar

    for name in ("control", "metric") if stream == "all" else (stream,):
        report = run_compaction(log.store, name, compactor=log.writer.writer_id, progress=progress)
        deleted = remove_expired(log.store, name, keep)
        if report.commit is None:
            click.echo(f"{name:8} nothing to compact; {deleted} expired file(s) deleted")
        else:
            click.echo(f"{name:8} commit {report.commit}: {report.consumed} file(s) → {report.produced}, "
                       f"{report.rows:,} events, {report.bytes_before:,} → {report.bytes_after:,} bytes; "
                       f"{deleted} expired file(s) deleted")


# ---- doctor and demo ------------------------------------------------------------------------


@cli.command()
@_store_option
@click.option("--repair/--no-repair", default=True, show_default=True,
              help="Rebuild the catalog (a cache of the log) when it disagrees with the log.")
def doctor(store: str | None, repair: bool) -> None:
    """Check a store and recover what it can. Opens it (put-if-absent self-test), recovers dead writers' WALs, reads every segment, and compares the catalog with the log."""
    log = _store_itself(store, "doctor")
    click.echo(f"store        {log.uri}")
    click.echo(f"WAL folder   {log.writer.wal_dir}")
    click.echo(f"recovered    {log.recover()} WAL segment(s) of dead writers")
    problems = 0
    for stream in ("control", "metric"):
        files = log.files(stream)  # type: ignore[arg-type]
        rows = 0
        with click.progressbar(files, label=f"reading {stream:7}", file=sys.stderr) as bar:
            for path in bar:
                try:
                    rows += log.read(path).num_rows
                except CorruptFileError as exc:
                    problems += 1
                    click.echo(f"PROBLEM      {exc}")
        click.echo(f"{stream:12} {len(files)} segment(s), {rows} event(s)")
    problems += _doctor_catalog(log, repair)
    click.echo("ok" if not problems else f"{problems} problem(s)")
    if problems:
        sys.exit(1)


def _doctor_catalog(log: Any, repair: bool) -> int:
    """Compare the catalog with the log; rebuild it on disagreement (with `repair`). The problems found."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CorruptFileWarning)  # reported above, file by file
        catalog = Catalog(log)
        if catalog.path == ":memory:":
            click.echo("catalog      in use by another process (a server?): not checked")
            return 0
        found = check_catalog(catalog)
        for problem in found:
            click.echo(f"PROBLEM      {problem}")
        if found and repair:
            catalog = rebuild_catalog(catalog)
            again = check_catalog(catalog)
            click.echo("catalog      rebuilt from the log" + ("" if not again else f", still: {'; '.join(again)}"))
        elif found:
            click.echo(f"catalog      disagrees with the log: `tracklog doctor --repair` rebuilds {catalog.path}")
        else:
            click.echo(f"catalog      agrees with the log ({catalog.path})")
        catalog.close()
    return len(found)


@cli.command()
@_store_option
@click.option("--runs", "n_runs", default=5, show_default=True, help="How many runs to train.")
@click.option("--steps", default=2000, show_default=True, help="Metric steps per run.")
def demo(store: str | None, n_runs: int, steps: int) -> None:
    """Train a few toy models and list their runs. The MLflow-style API at work.

    Idempotent: a run already in the store (same name, finished) is not trained again.
    """
    if store:
        tracklog.set_tracking_uri(store)
    experiment = tracklog.set_experiment("demo")
    client = tracklog.MlflowClient()
    done = {r.info.run_name for r in _every_run(client, [experiment.experiment_id], ViewType.ACTIVE_ONLY)
            if r.info.status == "FINISHED"}
    todo = [i for i in range(n_runs) if f"demo-{i}" not in done]
    started = time.perf_counter()
    for i in todo:
        _train_toy_model(i, steps)
    elapsed = time.perf_counter() - started
    where = tracklog.get_tracking_uri()
    if todo:
        click.echo(f"logged {len(todo) * steps * 2:,} metric points in {len(todo)} run{'s' * (len(todo) != 1)} in {elapsed:.2f}s into {where}\n")
    else:
        click.echo(f"the {n_runs} demo runs are already in {where} (nothing logged twice)\n")
    ctx = click.get_current_context()
    ctx.invoke(runs_list, store=where, experiment_id=experiment.experiment_id, view="active")


def _train_toy_model(i: int, steps: int) -> None:
    """A made-up training curve: the loss falls from ln(10) (10 classes) towards a floor set by the
    model's size, with multiplicative noise, so it stays positive; accuracy stays within [0, 1]."""
    rng = random.Random(i)  # the same run every time
    lr = round(10 ** rng.uniform(-3, -1), 5)
    layers = rng.choice([2, 4, 8])
    floor = 0.05 + 0.4 / layers
    with tracklog.start_run(run_name=f"demo-{i}", tags={"model": "toy"}):
        tracklog.log_params({"lr": lr, "layers": layers})
        for step in range(steps):
            loss = (floor + (math.log(10) - floor) * math.exp(-lr * step * 3)) * math.exp(rng.gauss(0, 0.02))
            accuracy = min(1.0, max(0.0, 1 - loss / 2.5 + rng.gauss(0, 0.005)))
            tracklog.log_metrics({"loss": loss, "acc": accuracy}, step=step)



cli.add_command(_models)
for _command in (_import_group, _export_group, _sync_command, _files_command):  # issue 15: moving data
    cli.add_command(_command)


# ---- projects ------------------------------------------------------------------------------


@cli.command("run")
@_store_option
@click.argument("uri")
@click.option("--entry-point", "-e", default="main", show_default=True, help="An entry point of the MLproject, or a .py/.sh file of the project.")
@click.option("--version", "-v", "version", default=None, help="Git commit, branch or tag to check out.")
@click.option("--param", "-P", "params", multiple=True, metavar="KEY=VALUE", help="A parameter; repeat for more. Undeclared ones become --KEY VALUE.")
@click.option("--env-manager", type=click.Choice(["local", "virtualenv", "uv", "conda"]), default=None,
              help="Where to run: this interpreter, or a cached environment built from the project's file (default: follows the project).")
@click.option("--experiment-name", default=None, help="Run in this experiment (created if missing).")
@click.option("--experiment-id", default=None, help="Run in the experiment with this id.")
@click.option("--run-name", default=None, help="Name of the new run (default: a random one, as MLflow's).")
@click.option("--build-only", is_flag=True, help="Fetch the project, check it and build its environment; start no run.")
def run_project(**options: Any) -> None:
    """Run an MLflow project in a new run. URI: a folder, or a git URI with #subdirectory."""
    run_command(**options)


# ---- the tracking server ---------------------------------------------------------------------


cli.add_command(_server)
cli.add_command(_ui)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``tracklog`` script."""
    try:
        cli.main(args=argv, prog_name="tracklog", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except TracklogError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
