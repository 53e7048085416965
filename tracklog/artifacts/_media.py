"""What `Client.log_dict`, `log_figure`, `log_image` and `log_table` take, turned into files.

Each follows MLflow's rules and layout (YAML by extension, plotly as HTML, numpy pixel ranges,
``images/<key>+step+…`` with a thumbnail, tables as pandas ``orient="split"`` JSON that a second
call appends to); the files go through the client's artifact methods (`client` here is a `tracklog.Client`,
passed in: this package sits below the tracking layer). pandas, PIL, numpy, matplotlib and
plotly are imported only when used.
"""

from __future__ import annotations

import contextlib
import json
import posixpath
import re
import sys
import time
import uuid
import warnings
from pathlib import Path
from typing import Any

from eventlog.errors import (
    ArtifactNotFoundError,
    InvalidArtifactPathError,
    InvalidInputError,
    InvalidKeyError,
    InvalidValueError,
)
from eventlog.validation import check_step, check_timestamp
from projections.entities import ViewType
from tracklog.artifacts import validate_artifact_path

Client = Any  # a tracklog.Client (this package cannot import the tracking layer above it)

__all__: list[str] = []  # private: `Client` calls these


def _write_dict(dictionary: Any, path: Path, artifact_file: str) -> None:
    """JSON, or YAML for ``.yml``/``.yaml`` (MLflow's rule); JSON stringifies what it cannot encode."""
    as_yaml = posixpath.splitext(artifact_file)[1].lower() in (".yml", ".yaml")
    try:
        if as_yaml:
            import yaml

            text = yaml.safe_dump(dictionary, indent=2, default_flow_style=False)
        else:
            text = json.dumps(dictionary, indent=2, default=str)
    except ImportError:
        raise
    except Exception as exc:  # json: TypeError/ValueError (cycles); yaml: RepresenterError
        raise InvalidValueError(f"log_dict cannot write {artifact_file!r} as {'YAML' if as_yaml else 'JSON'}: {exc}") from exc
    path.write_text(text, encoding="utf-8")


def _save_figure(figure: Any, path: Path, artifact_file: str, save_kwargs: dict[str, Any] | None) -> None:
    """A matplotlib figure through ``savefig``; a plotly one as HTML or an image, by extension."""
    kwargs = dict(save_kwargs or {})
    if "matplotlib" in sys.modules and isinstance(figure, _class("matplotlib.figure", "Figure")):
        try:
            figure.savefig(path, **kwargs)
        except ValueError as exc:  # "Format 'xyz' is not supported"
            raise InvalidValueError(f"log_figure cannot save {artifact_file!r}: {exc}") from exc
    elif "plotly" in sys.modules and isinstance(figure, _class("plotly.graph_objects", "Figure")):
        ext = path.suffix.lower()
        if ext == ".html":
            kwargs.setdefault("include_plotlyjs", "cdn")
            kwargs.setdefault("auto_open", False)
            figure.write_html(path, **kwargs)
        elif ext in (".png", ".jpeg", ".jpg", ".webp", ".svg", ".pdf"):
            figure.write_image(path, **kwargs)
        else:
            raise InvalidValueError(
                f"log_figure saves a plotly figure as .html, .png, .jpeg, .webp, .svg or .pdf; got {artifact_file!r}"
            )
    else:
        raise InvalidValueError(
            f"log_figure takes a matplotlib.figure.Figure or a plotly.graph_objects.Figure, got {type(figure).__name__}"
        )


def _class(module: str, name: str) -> Any:
    import importlib

    return getattr(importlib.import_module(module), name)


def _to_pil(image: Any) -> Any:
    """A PIL image from a PIL image, a numpy array (MLflow's rules) or anything with ``to_pil()``."""
    if hasattr(image, "to_pil"):  # mlflow.Image and look-alikes
        return image.to_pil()
    np = sys.modules.get("numpy")
    if np is not None and isinstance(image, np.ndarray):
        return _array_to_pil(image)
    if "PIL" in sys.modules and isinstance(image, _class("PIL.Image", "Image")):
        return image
    raise InvalidValueError(
        f"log_image takes a numpy.ndarray, a PIL.Image.Image or an mlflow.Image, got {type(image).__name__}"
    )


def _array_to_pil(array: Any) -> Any:
    """H x W, H x W x 1, 3 or 4; bool, ints in [0, 255], floats in [0, 1] (else min-max rescaled)."""
    import numpy as np
    from PIL import Image

    if array.dtype.kind not in "biuf":
        raise InvalidValueError(f"log_image: an image array must hold bools, integers or floats, got dtype {array.dtype}")
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (1, 3, 4)):
        raise InvalidValueError(f"log_image: an image array must be H x W or H x W x 1, 3 or 4, got shape {array.shape}")
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.dtype.kind in "iu":
        if array.size and (array.min() < 0 or array.max() > 255):
            raise InvalidValueError(
                f"log_image: integer pixels must be in [0, 255], found {array.min()} to {array.max()}"
            )
        return Image.fromarray(array.astype(np.uint8))
    if array.dtype.kind == "f" and array.size and (array.min() < 0 or array.max() > 1):
        warnings.warn(f"log_image: float pixels outside [0, 1] ({array.min()} to {array.max()}) are rescaled by min/max",
                      stacklevel=4)
        span = array.max() - array.min()
        array = (array - array.min()) / (span if span else 1)
    return Image.fromarray((array * 255).astype(np.uint8))


_IMAGE_KEY = re.compile(r"[a-zA-Z0-9_\-./ ]+")
THUMBNAIL_SIZE = 256  # MLflow's compressed image: the longer side


def _log_image(client: Client, run_id: str, image: Any, artifact_file: str | None, key: str | None,
               step: int | None, timestamp: int | None) -> None:
    """MLflow's two forms: a static image at `artifact_file`, or step `step` of the image `key`."""
    if (artifact_file is None) == (key is None):
        raise InvalidInputError(
            "log_image takes exactly one of artifact_file (a static image) or key (with step: a "
            f"time-stepped image); got artifact_file={artifact_file!r}, key={key!r}"
        )
    if artifact_file is not None and (step is not None or timestamp is not None):
        raise InvalidInputError("log_image: step and timestamp go with key, not with artifact_file")
    pil = _to_pil(image)
    if key is not None:
        _log_image_step(client, run_id, pil, key, step, timestamp)
        return
    with client.staged_artifact(run_id, artifact_file) as path:
        try:
            pil.save(path)
        except (ValueError, KeyError, OSError) as exc:  # unknown extension, mode the format cannot hold
            raise InvalidValueError(f"log_image cannot save {artifact_file!r}: {exc}") from exc


def _log_image_step(client: Client, run_id: str, image: Any, key: str, step: int | None, timestamp: int | None) -> None:
    """MLflow's time-stepped layout: ``images/<key, '/' as '~'>+step+<n>+timestamp+<ms>+<uuid>.png``
    plus a ``…+compressed.webp`` thumbnail, and the run tag ``mlflow.loggedImages``."""
    import tempfile

    if not isinstance(key, str) or not _IMAGE_KEY.fullmatch(key):
        raise InvalidKeyError(
            f"log_image key {key!r} may hold only letters, digits, '_', '-', '.', ' ' and '/'"
        )
    step = check_step(key, step or 0)
    timestamp = check_timestamp(key, timestamp or time.time_ns() // 1_000_000)
    stem = f"{key.replace('/', '~')}+step+{step}+timestamp+{timestamp}+{uuid.uuid4()}"
    client.require_active_run(run_id)
    with tempfile.TemporaryDirectory(prefix="tracklog-image-") as tmp:
        image.save(Path(tmp, f"{stem}.png"))
        _thumbnail(image).save(Path(tmp, f"{stem}+compressed.webp"))
        client.log_artifacts(run_id, tmp, "images")
    client.set_tag(run_id, "mlflow.loggedImages", True)


def _thumbnail(image: Any) -> Any:
    width, height = image.size
    scale = THUMBNAIL_SIZE / max(width, height, 1)
    return image.resize((max(1, int(width * scale)), max(1, int(height * scale))))


# ---- tables ---------------------------------------------------------------------------------

_LOGGED_ARTIFACTS_TAG = "mlflow.loggedArtifacts"


def _table_file(artifact_file: str) -> str:
    rel = validate_artifact_path(artifact_file)
    if not rel.endswith((".json", ".parquet")):
        raise InvalidArtifactPathError(
            f"a table is a .json or .parquet file, got artifact_file {artifact_file!r}"
        )
    return rel


def _to_frame(data: Any) -> Any:
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        return data
    if not isinstance(data, dict):
        raise InvalidValueError(f"log_table takes a dict or a pandas.DataFrame, got {type(data).__name__}")
    try:
        return pd.DataFrame(data)
    except ValueError:  # all scalars: one row
        return pd.DataFrame([data])


def _read_table(path: Path) -> Any:
    import pandas as pd

    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    return pd.read_json(path, orient="split")


def _log_table(client: Client, run_id: str, data: Any, artifact_file: str) -> None:
    """Write a table as JSON (pandas ``orient="split"``) or Parquet; rows are appended to a table
    already logged under that name (as MLflow does: read, concatenate, write back)."""
    import tempfile

    import pandas as pd

    rel = _table_file(artifact_file)
    frame = _to_frame(data)
    client.require_active_run(run_id)
    with tempfile.TemporaryDirectory(prefix="tracklog-table-") as tmp, contextlib.suppress(ArtifactNotFoundError):
        existing = client.download_artifacts(run_id, rel, tmp)
        frame = pd.concat([_read_table(Path(existing)), frame], ignore_index=True)
    with client.staged_artifact(run_id, rel) as path:
        try:
            if rel.endswith(".json"):
                frame.to_json(path, orient="split", index=False, date_format="iso")
            else:
                frame.to_parquet(path, index=False)
        except (TypeError, ValueError, OverflowError) as exc:
            raise InvalidValueError(f"log_table cannot write {artifact_file!r}: {exc}") from exc
    _tag_table(client, run_id, rel)


def _tag_table(client: Client, run_id: str, rel: str) -> None:
    """The run tag MLflow's UI and `load_table` use to find tables."""
    tag = client.get_run(run_id).data.tags.get(_LOGGED_ARTIFACTS_TAG)
    held = json.loads(tag or "[]")
    entry = {"path": rel, "type": "table"}
    if entry not in held:
        client.set_tag(run_id, _LOGGED_ARTIFACTS_TAG, json.dumps([*held, entry]))


def _load_table(client: Client, experiment_id: str, artifact_file: str, run_ids: list[str] | None,
                extra_columns: list[str] | None) -> Any:
    """Concatenate the table `artifact_file` of every run of the experiment (or of `run_ids`)
    that logged it with `log_table`; `extra_columns` adds run columns such as ``run_id`` or
    ``params.lr`` (MLflow's `search_runs` layout), suffixed ``_`` on a name clash."""
    import tempfile

    import pandas as pd

    rel = _table_file(artifact_file)
    runs = _runs_with_table(client, str(experiment_id), rel, run_ids)
    frames = []
    with tempfile.TemporaryDirectory(prefix="tracklog-table-") as tmp:
        for i, row in enumerate(runs):
            frame = _read_table(Path(client.download_artifacts(row["run_id"], rel, str(Path(tmp, str(i))))))
            for column in extra_columns or ():
                if column not in row:
                    raise InvalidInputError(f"load_table: no run column {column!r}; expected one of {sorted(row)}")
                frame[f"{column}_" if column in frame else column] = row[column]
            frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def _runs_with_table(client: Client, experiment_id: str, rel: str, run_ids: list[str] | None) -> list[dict[str, Any]]:
    rows = client.search_runs_table([experiment_id], "", ViewType.ACTIVE_ONLY, None, None).to_pylist()
    entry = {"path": rel, "type": "table"}
    tag = f"tags.{_LOGGED_ARTIFACTS_TAG}"
    found = [r for r in rows if (not run_ids or r["run_id"] in run_ids) and entry in json.loads(r.get(tag) or "[]")]
    if not found:
        raise ArtifactNotFoundError(
            f"no run of experiment {experiment_id}{' among ' + str(run_ids) if run_ids else ''} "
            f"logged a table {rel!r} with log_table"
        )
    if run_ids and len(found) != len(set(run_ids)):
        warnings.warn(f"load_table: only {len(found)} of {len(set(run_ids))} runs have the table {rel!r}", stacklevel=3)
    return found
