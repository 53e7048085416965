"""``tracklog import``, ``export``, ``sync`` and ``files``: moving data in, out and between stores."""

from __future__ import annotations

import sys

import click

from tracklog.cli._common import store_option
from tracklog.tracking.local import normalize_uri

__all__ = ["import_group"]


def _default_store(store: str | None) -> str:
    from tracklog._config import get_tracking_uri

    return store or get_tracking_uri()


def _progress() -> bool:
    return sys.stderr.isatty()


@click.group("import")
def import_group() -> None:
    """Bring runs from another tool into a store (idempotent: importing again adds nothing)."""


@import_group.command("mlflow")
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
