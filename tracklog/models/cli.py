"""``tracklog models …``: serve and predict with any pyfunc model (the registry adds its commands here)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

__all__ = ["models"]


@click.group()
def models() -> None:
    """Serve and score MLflow-format models."""


_model_option = click.option("--model-uri", "-m", required=True, metavar="URI",
                             help="runs:/<run_id>/<name>, models:/<id-or-name…>, a folder or a URL.")
_store_option = click.option(
    "--store", "store", envvar="TRACKLOG_TRACKING_URI", default=None, metavar="URI",
    help="Tracking store that resolves runs:/ and models:/ URIs (default ./tracklog).",
)


def _use_store(store: str | None) -> None:
    if store:
        import tracklog

        tracklog.set_tracking_uri(store)


@models.command("serve")
@_model_option
@_store_option
@click.option("--host", "-h", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", "-p", default=5000, show_default=True, type=int)
@click.option("--workers", "-w", default=1, show_default=True, type=click.IntRange(1, 64), help="Server processes.")
def serve_command(model_uri: str, store: str | None, host: str, port: int, workers: int) -> None:
    """Serve a model: /invocations (MLflow's JSON and CSV bodies), /ping, /health, /version."""
    from tracklog.models.serve import serve

    _use_store(store)
    serve(model_uri, host=host, port=port, workers=workers)


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
    """Score a file with a model and print (or write) {"predictions": …}."""
    from eventlog.errors import InvalidInputError
    from tracklog.models.pyfunc import load_model
    from tracklog.models.serve import parse_input, predictions_json

    _use_store(store)
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
