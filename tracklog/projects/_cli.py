"""The body of ``tracklog run`` (its options are declared in `tracklog.cli`)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

import click

from tracklog._config import set_tracking_uri
from tracklog.projects import _runner as projects

__all__ = ["parse_params", "run_command"]


def parse_params(pairs: Sequence[str]) -> dict[str, str]:
    """``["alpha=0.5", "name=a=b"]`` → ``{"alpha": "0.5", "name": "a=b"}``."""
    params: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"expected KEY=VALUE, got {pair!r}", param_hint="-P/--param")
        params[key.strip()] = value
    return params


def run_command(
    *, store: str | None, uri: str, entry_point: str, version: str | None, params: Sequence[str],
    env_manager: str | None, experiment_name: str | None, experiment_id: str | None,
    run_name: str | None, build_only: bool,
) -> None:
    _log_to_stderr()
    parameters = parse_params(params)
    if build_only:
        built = projects.build(uri, entry_point, version, parameters, env_manager)
        env = built.environment
        click.echo(f"project      {built.project.name or built.fetched.source_name}")
        click.echo(f"entry point  {built.entry_point.name}")
        click.echo(f"environment  {env.manager}{f' at {env.prefix}' if env.prefix else ''}")
        click.echo(f"command      {built.parameters.command}")
        return
    if store:
        set_tracking_uri(store)
    projects.run(  # logs "=== Run <id> FINISHED ===" to stderr; failures raise ProjectRunFailedError
        uri, entry_point, version, parameters, experiment_name=experiment_name,
        experiment_id=experiment_id, env_manager=env_manager, run_name=run_name,
    )


def _log_to_stderr() -> None:
    logger = logging.getLogger("tracklog.projects")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("tracklog: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
