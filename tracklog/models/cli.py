"""``tracklog models …``: serve and score any pyfunc model, and the model registry's commands."""

from __future__ import annotations

import sys
from pathlib import Path

import click

import tracklog
from eventlog.errors import InvalidInputError
from tracklog.cli._common import client as client_of
from tracklog.cli._common import ms as _ms
from tracklog.cli._common import parse_when as _parse_when
from tracklog.cli._common import table as _table
from tracklog.models.pyfunc import load_model
from tracklog.models.serve import parse_input, predictions_json, serve
from tracklog.server.cli import parse_size
from tracklog.tracking.fluent import register_model

__all__ = ["models"]


@click.group()
def models() -> None:
    """The model registry and model scoring.

    Registry: list, versions, register, alias, history. Scoring: serve, predict (any MLflow-format model).
    """


_model_option = click.option("--model-uri", "-m", required=True, metavar="URI",
                             help="runs:/<run_id>/<name>, models:/<id-or-name…>, a folder or a URL.")
_store_option = click.option(
    "--store", "store", envvar="TRACKLOG_TRACKING_URI", default=None, metavar="URI",
    help="The store or tracking server (http(s)://…) that holds the registry and resolves runs:/ and models:/ "
         "URIs (default: TRACKLOG_TRACKING_URI, else ./tracklog-runs).",
)


def _use_store(store: str | None, model_uri: str) -> None:
    if store:
        tracklog.set_tracking_uri(store)
    if model_uri.startswith(("runs:/", "models:/")):
        _client(None, reading=True)  # the URI is resolved in the store, which must be there


@models.command("serve")
@_model_option
@_store_option
@click.option("--host", "-h", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", "-p", default=5000, show_default=True, type=int, help="Port to listen on.")
@click.option("--workers", "-w", default=1, show_default=True, type=click.IntRange(1, 64), help="Server processes.")
@click.option("--max-body-size", default=None, metavar="SIZE",
              help="Largest request body, e.g. 100MB (default: TRACKLOG_SERVE_MAX_BODY, else 100 MB); larger gets 413.")
def serve_command(model_uri: str, store: str | None, host: str, port: int, workers: int, max_body_size: str | None) -> None:
    """Serve a model over HTTP. /invocations takes MLflow's JSON and CSV bodies; also /ping, /health, /version."""
    _use_store(store, model_uri)
    serve(model_uri, host=host, port=port, workers=workers,
          max_body=parse_size(max_body_size) if max_body_size is not None else None)


@models.command("predict")
@_model_option
@_store_option
@click.option("--input-path", "-i", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="A JSON body as /invocations takes it, or a CSV file.")
@click.option("--output-path", "-o", default=None, type=click.Path(dir_okay=False, writable=True, path_type=Path),
              help="Write the predictions here (default: stdout).")
@click.option("--content-type", "-t", type=click.Choice(["json", "csv"]), default=None,
              help="Input format (default: from the file's extension).")
def predict_command(model_uri: str, store: str | None, input_path: Path, output_path: Path | None,
                    content_type: str | None) -> None:
    """Score a file with a model. Prints (or writes) {"predictions": …}."""
    _use_store(store, model_uri)
    if not input_path.is_file():
        raise InvalidInputError(f"input file {input_path} does not exist")
    kind = content_type or ("csv" if input_path.suffix.lower() == ".csv" else "json")
    model = load_model(model_uri)
    schema = model.metadata.signature.inputs if model.metadata.signature is not None else None
    data, params = parse_input(input_path.read_bytes(), "text/csv" if kind == "csv" else "application/json", schema)
    out = predictions_json(model.predict(data, params=params))
    if output_path is None:
        sys.stdout.write(out.decode() + "\n")
    else:
        output_path.write_bytes(out + b"\n")


# ---- the registry ---------------------------------------------------------------------------

_as_of_option = click.option("--as-of", "as_of", default=None, metavar="WHEN",
                             help="Show the registry as it was: ISO time (UTC unless it says) or epoch ms.")


def _client(store: str | None, *, reading: bool = False):  # type: ignore[no-untyped-def]
    return client_of(store, reading=reading)


def _as_of(value: str | None):  # type: ignore[no-untyped-def]
    if value is None:
        return None
    return _parse_when(value)


def _echo_table(headers: list[str], rows: list[list[object]]) -> None:
    click.echo(_table(headers, rows))


@models.command("list")
@_store_option
@click.option("--filter", "filter_string", default=None, help="e.g. \"name LIKE 'fraud%'\" or \"tags.team = 'risk'\".")
@_as_of_option
def list_command(store: str | None, filter_string: str | None, as_of: str | None) -> None:
    """Registered models with their latest version and aliases."""
    found = _client(store, reading=True).search_registered_models(filter_string, max_results=100_000, as_of=_as_of(as_of))
    rows = [[m.name, max((v.version for v in m.latest_versions), default=""),
             ", ".join(f"{a}->{v}" for a, v in sorted(m.aliases.items())), _ms(m.last_updated_timestamp),
             m.description or ""] for m in found]
    _echo_table(["name", "latest", "aliases", "updated (UTC)", "description"], rows)


@models.command("versions")
@_store_option
@click.argument("name")
@_as_of_option
def versions_command(store: str | None, name: str, as_of: str | None) -> None:
    """The versions of one registered model."""
    client = _client(store, reading=True)
    when = _as_of(as_of)
    client.get_registered_model(name, as_of=when)  # a clear error for an unknown name
    found = client.search_model_versions(f"name = '{name.replace(chr(39), chr(39) * 2)}'", as_of=when,
                                         order_by=["version_number DESC"])
    rows = [[v.version, v.current_stage, ", ".join(v.aliases), v.run_id or "", v.source or "",
             _ms(v.creation_timestamp)] for v in found]
    _echo_table(["version", "stage", "aliases", "run_id", "source", "created (UTC)"], rows)


@models.command("register")
@_store_option
@_model_option
@click.option("--name", "-n", required=True, help="Registered model name (created if missing).")
@click.option("--tag", "tags", multiple=True, metavar="KEY=VALUE", help="Version tag (repeatable).")
def register_command(store: str | None, model_uri: str, name: str, tags: tuple[str, ...]) -> None:
    """Register a model as a new version. The model: runs:/…, models:/<id>, or a folder."""
    parsed = {}
    for item in tags:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidInputError(f"--tag takes KEY=VALUE, got {item!r}")
        parsed[key] = value
    version = register_model(model_uri, name, tags=parsed or None, client=_client(store))
    click.echo(f"registered {name} version {version.version} from {version.source}")


@models.command("alias")
@_store_option
@click.argument("name")
@click.argument("alias")
@click.argument("version", required=False)
@click.option("--delete", "delete", is_flag=True, help="Remove the alias instead of setting it.")
def alias_command(store: str | None, name: str, alias: str, version: str | None, delete: bool) -> None:
    """Point ALIAS of model NAME at VERSION (or --delete it)."""
    client = _client(store)
    if delete:
        client.delete_registered_model_alias(name, alias)
        click.echo(f"deleted alias {name}@{alias}")
        return
    if version is None:
        raise InvalidInputError("give the VERSION the alias should point at, or --delete")
    client.set_registered_model_alias(name, alias, version)
    click.echo(f"{name}@{alias} -> version {int(version)}")


@models.command("history")
@_store_option
@click.argument("name", required=False)
@click.option("--limit", default=50, show_default=True, help="Most recent changes shown.")
def history_command(store: str | None, name: str | None, limit: int) -> None:
    """Show every registry change, newest first. Who moved which alias when, and so on."""
    where = f"WHERE name = '{name.replace(chr(39), chr(39) * 2)}'" if name else ""  # a server takes no parameters
    query = (f"SELECT time, kind, actor, name, version, alias, stage, key, value FROM registry_history {where} "
             f"ORDER BY ts DESC, writer_id, writer_seq LIMIT {int(limit)}")
    table = tracklog.sql(query, uri=store).arrow()
    rows = list(zip(*(c.to_pylist() for c in table.columns), strict=True)) if table.num_rows else []
    _echo_table(["time (UTC)", "change", "actor", "model", "version", "alias", "stage", "key", "value"],
                [["" if c is None else (c.strftime("%Y-%m-%d %H:%M:%S") if hasattr(c, "strftime") else c) for c in r]
                 for r in rows])
