"""The ``tracklog`` command line.

Every command takes ``--store URI`` (default: ``TRACKLOG_TRACKING_URI`` or ``./tracklog``).
Errors print one line naming what was wrong and exit with status 1 — never a traceback.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import click
import msgspec

from eventlog import TracklogError

__all__ = ["main"]

_store_option = click.option(
    "--store", "store", envvar="TRACKLOG_TRACKING_URI", default=None, metavar="URI",
    help="Tracking store: a folder, file://…, s3://…, memory://… (default ./tracklog).",
)


def _client(store: str | None) -> Any:
    from tracklog.client import Client

    return Client(store)


def _ms(value: int | None) -> str:
    if not value:
        return ""
    return datetime.fromtimestamp(value / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    rows = [[str(c) for c in r] for r in rows]
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)


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
@click.option("--view", type=click.Choice(["active", "deleted", "all"]), default="active", show_default=True)
def experiments_list(store: str | None, view: str) -> None:
    """List experiments, newest first."""
    from projections import ViewType

    views = {"active": ViewType.ACTIVE_ONLY, "deleted": ViewType.DELETED_ONLY, "all": ViewType.ALL}
    exps = _client(store).search_experiments(view_type=views[view], max_results=None)
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
    _client(store).rename_experiment(experiment_id, new_name)


def _lifecycle_command(group: click.Group, verb: str, method: str, argument: str) -> None:
    """``<group> delete|restore ID``: one event, published at once."""

    @group.command(verb, help=f"{verb.capitalize()} by id (a {verb} event; nothing is erased).")
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
    """List and inspect runs."""


@runs.command("list")
@_store_option
@click.option("--experiment-id", "-x", default=None, help="Only this experiment.")
@click.option("--view", type=click.Choice(["active", "deleted", "all"]), default="active", show_default=True)
def runs_list(store: str | None, experiment_id: str | None, view: str) -> None:
    """List runs, newest first, with their latest metrics."""
    from projections import ViewType

    views = {"active": ViewType.ACTIVE_ONLY, "deleted": ViewType.DELETED_ONLY, "all": ViewType.ALL}
    state = _client(store)._b.state()
    rows = []
    for run in sorted(state.runs.values(), key=lambda r: -r.start_time):
        if not run.started or (experiment_id and run.experiment_id != experiment_id):
            continue
        if not views[view].admits(run.lifecycle.value):
            continue
        metrics = ", ".join(f"{k}={v[1]:.4g}" for k, v in sorted(run.latest.items())[:4])
        rows.append((run.run_id, run.run_name.value, run.experiment_id, run.status.value, _ms(run.start_time), metrics))
    click.echo(_table(["run_id", "name", "experiment_id", "status", "started", "metrics"], rows))


@runs.command("describe")
@_store_option
@click.argument("run_id")
def runs_describe(store: str | None, run_id: str) -> None:
    """Print a run as JSON (MLflow's field names)."""
    run = _client(store).get_run(run_id)
    click.echo(msgspec.json.format(msgspec.json.encode(run).decode(), indent=2))


for _verb in ("delete", "restore"):
    _lifecycle_command(runs, _verb, f"{_verb}_run", "run_id")


# ---- SQL and compaction -----------------------------------------------------------------------


@cli.command("sql")
@_store_option
@click.argument("query")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json", "parquet"]), default="table", show_default=True)
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True), default=None, help="Write to this file (required for parquet on a terminal).")
@click.option("--as-of", "as_of", default=None, metavar="WHEN", help="Query the store as it was: ISO time (UTC unless it says) or epoch ms.")
def sql_command(store: str | None, query: str, fmt: str, output: str | None, as_of: str | None) -> None:
    """Run read-only SQL over the views (runs, metrics, params, tags, experiments, events…)."""
    import tracklog

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


def _parse_when(text: str | None) -> Any:
    if text is None:
        return None
    if text.strip().isdigit():
        return int(text)
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(f"expected an ISO time like 2026-11-26T10:00 or epoch ms, got {text!r}", param_hint="--as-of") from None


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
@click.option("--stream", type=click.Choice(["metric", "control", "all"]), default="all", show_default=True)
def compact(store: str | None, retention: str, stream: str) -> None:
    """Merge small segments into large sorted files; delete what earlier compactions consumed."""
    from eventlog import EventLog
    from eventlog.compaction import compact as run_compaction
    from eventlog.compaction import parse_duration, remove_expired
    from tracklog._config import get_tracking_uri

    keep = parse_duration(retention)
    log = EventLog.open(store or get_tracking_uri())

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
    """Check a store: open it (put-if-absent self-test), recover dead writers' WALs, read every segment,
    and compare the catalog with the log."""
    from eventlog import CorruptFileError, EventLog
    from tracklog._config import get_tracking_uri

    uri = store or get_tracking_uri()
    log = EventLog.open(uri)
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
    import warnings

    from eventlog import CorruptFileWarning
    from projections.catalog import Catalog
    from projections.check import check_catalog, rebuild_catalog

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
    """Train a few toy models with the MLflow-style API and show what was recorded."""
    import math
    import random

    import tracklog

    if store:
        tracklog.set_tracking_uri(store)
    tracklog.set_experiment("demo")
    started = time.perf_counter()
    points = 0
    for i in range(n_runs):
        lr = round(10 ** random.uniform(-4, -1), 5)
        with tracklog.start_run(run_name=f"demo-{i}", tags={"model": "toy"}):
            tracklog.log_params({"lr": lr, "layers": random.choice([2, 4, 8])})
            for step in range(steps):
                loss = math.exp(-lr * step * 5) + random.gauss(0, 0.01)
                tracklog.log_metric("loss", loss, step=step)
                tracklog.log_metric("acc", 1 - loss / 2, step=step)
                points += 2
    elapsed = time.perf_counter() - started
    click.echo(f"logged {points:,} metric points in {n_runs} runs in {elapsed:.2f}s into {tracklog.get_tracking_uri()}\n")
    ctx = click.get_current_context()
    ctx.invoke(runs_list, store=tracklog.get_tracking_uri(), experiment_id=None, view="active")


from tracklog.models.cli import models as _models  # noqa: E402 - registered after the built-in commands

cli.add_command(_models)


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
@click.option("--run-name", default=None)
@click.option("--build-only", is_flag=True, help="Fetch the project, check it and build its environment; start no run.")
def run_project(**options: Any) -> None:
    """Run an MLflow project (a folder, or a git URI with #subdirectory) in a new run."""
    from tracklog.projects._cli import run_command

    run_command(**options)


# ---- the tracking server ---------------------------------------------------------------------

from tracklog.server.cli import server_command as _server  # noqa: E402
from tracklog.server.cli import ui_command as _ui  # noqa: E402

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
