"""``tracklog import``, ``export``, ``sync`` and ``files``: moving data in, out and between stores."""

from __future__ import annotations

import sys

import click

from tracklog.cli._common import store_option
from tracklog.tracking.local import normalize_uri

__all__ = ["export_group", "files_command", "import_group", "sync_command"]


def _default_store(store: str | None) -> str:
    from tracklog._config import get_tracking_uri

    return store or get_tracking_uri()


def _progress() -> bool:
    return sys.stderr.isatty()


@click.group("import", short_help="Bring runs from another tool into a store.")
def import_group() -> None:
    """Bring runs from another tool into a store (idempotent: importing again adds nothing)."""


@import_group.command("mlflow", short_help="Import an MLflow tracking URI (mlruns, sqlite, a server).")
@click.argument("source")
@store_option
@click.option("--experiment", "experiments", multiple=True, metavar="NAME",
              help="Only this experiment (repeat for more; default: all, deleted ones too).")
@click.option("--no-artifacts", is_flag=True, help="Copy no artifacts (runs' and logged models').")
def import_mlflow_command(source: str, store: str | None, experiments: tuple[str, ...], no_artifacts: bool) -> None:
    """Import everything an MLflow tracking URI holds: a mlruns folder, sqlite:///…, or an http(s):// server.

    Experiments, runs (ids kept), every metric point, artifacts, logged models and the model
    registry come over with their original times and users. Rerun it to resume an import that
    stopped, or to bring what is new.
    """
    from tracklog.transfer import import_mlflow

    dest = _default_store(store)
    report = import_mlflow(source, dest, experiments=list(experiments) or None, artifacts=not no_artifacts,
                           progress=_progress())
    for warning in report.warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(f"imported from {source} into {normalize_uri(dest)}: {report.experiments} experiment(s), "
               f"{report.runs} run(s) ({report.runs_skipped} already there), {report.metric_points:,} metric point(s), "
               f"{report.artifacts} artifact file(s), {report.logged_models} logged model(s), "
               f"{report.registered_models} registered model(s) with {report.model_versions} version(s)")


@import_group.command("tensorboard", short_help="Import a TensorBoard log folder (one run per event-file folder).")
@click.argument("logdir")
@store_option
@click.option("--experiment", default=None, metavar="NAME",
              help="Into this experiment, created if missing (default: LOGDIR's folder name).")
def import_tensorboard_command(logdir: str, store: str | None, experiment: str | None) -> None:
    """Import a TensorBoard log folder: each folder with event files becomes a run.

    Scalars come over as metric points (step and wall time), the hparams plugin's
    hyperparameters as params, text summaries as artifacts; a run folder inside another is its
    nested run. Rerun it to resume an import that stopped, or to bring what is new.
    """
    from tracklog.transfer import import_tensorboard

    dest = _default_store(store)
    report = import_tensorboard(logdir, dest, experiment=experiment, progress=_progress())
    for warning in report.warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(f"imported from {report.source} into {normalize_uri(dest)}: {report.experiments} new experiment(s), "
               f"{report.runs} run(s) ({report.runs_skipped} already there), {report.metric_points:,} metric point(s), "
               f"{report.artifacts} artifact file(s)")


@click.group("export")
def export_group() -> None:
    """Write a store into another tool, so nobody is locked in."""


@export_group.command("mlflow", short_help="Export the store into an MLflow tracking URI.")
@click.argument("dest")
@store_option
@click.option("--experiment", "experiments", multiple=True, metavar="NAME",
              help="Only this experiment (repeat for more; default: all, deleted ones too).")
@click.option("--no-artifacts", is_flag=True, help="Copy no artifacts.")
def export_mlflow_command(dest: str, store: str | None, experiments: tuple[str, ...], no_artifacts: bool) -> None:
    """Write the store into an MLflow tracking URI: a mlruns folder, sqlite:///…, or an http(s):// server.

    MLflow mints new run ids: each run keeps its tracklog id in the tag tracklog.run_id, and a
    second export skips the runs DEST already has.
    """
    from tracklog.transfer import export_mlflow

    report = export_mlflow(_default_store(store), dest, experiments=list(experiments) or None,
                           artifacts=not no_artifacts, progress=_progress())
    for warning in report.warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(f"exported into {dest}: {report.experiments} new experiment(s), {report.runs} run(s) "
               f"({report.runs_skipped} already there), {report.metric_points:,} metric point(s), "
               f"{report.artifacts} artifact file(s), {report.logged_models} logged model(s), "
               f"{report.registered_models} registered model(s) with {report.model_versions} version(s)")


@click.command("sync", short_help="Copy what DEST lacks from SRC, exactly once (one URI: publish its waiting WAL).")
@click.argument("src")
@click.argument("dest", required=False)
@click.option("--watch", is_flag=True, help="Keep syncing (every --interval seconds) until interrupted.")
@click.option("--interval", default=5.0, show_default=True, help="Seconds between passes with --watch.")
@click.option("--no-artifacts", is_flag=True, help="Copy events only, no artifact files.")
def sync_command(src: str, dest: str | None, watch: bool, interval: float, no_artifacts: bool) -> None:
    """Copy what DEST lacks from SRC, exactly once (two stores: folders, s3://…, any fsspec URL).

    Events keep their writer ids, times and users; experiments with the same name merge into
    DEST's; repeated syncs copy only what is new. Safe to run while others log to either store.

    With one URI, publish the events that wait in this machine's local WAL for that store or
    tracking server (http://…) (logged while it was unreachable, by processes that have ended),
    exactly once.
    """
    if dest is None:
        _publish_waiting(src)
        return
    from tracklog.transfer import SyncReport, sync

    def show(report: SyncReport) -> None:
        for warning in report.warnings:
            click.echo(f"warning: {warning}", err=True)
        merged = "".join(f", experiment {a} merged into {b}" for a, b in sorted(report.merged.items()))
        click.echo(f"synced {report.source} -> {report.dest}: {report.events:,} event(s) in {report.segments} "
                   f"segment(s), {report.artifacts} artifact file(s){merged}")

    sync(src, dest, watch=watch, interval=interval, artifacts=not no_artifacts, on_pass=show)


def _publish_waiting(uri: str) -> None:
    from tracklog._http import is_remote

    if is_remote(uri):  # a tracking server: what this machine logged while it was away
        from tracklog._http import server_for
        from tracklog.tracking.offline import publish_server_wal

        segments, events = publish_server_wal(server_for(uri))
        click.echo(f"published {events:,} event(s) from {segments} WAL segment(s) that waited on this machine for "
                   f"{server_for(uri).base_url}")
        return
    from eventlog.log import publish_wal

    segments, events = publish_wal(normalize_uri(uri))
    click.echo(f"published {events:,} event(s) from {segments} WAL segment(s) that waited on this machine for "
               f"{normalize_uri(uri)}")


@click.command("files", short_help="List a store's live Parquet files, for other engines.")
@click.argument("uri", required=False)
@click.option("--stream", type=click.Choice(["metric", "control", "all"]), default="all", show_default=True,
              help="Which stream: metric points, every other event, or both.")
def files_command(uri: str | None, stream: str) -> None:
    """List the live Parquet files of a store, one per line, for Spark, Polars, DuckDB, Dask or Ray.

    Read them as plain Parquet: compaction never makes an event appear twice in this list.
    """
    from tracklog.transfer import dataset

    found = dataset(_default_store(uri))
    for name in ("metric", "control") if stream == "all" else (stream,):
        for path in found.files[name]:
            click.echo(path)
