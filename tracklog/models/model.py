"""The MLmodel format, as MLflow writes it, and the files saved beside it.

A model is a folder: an ``MLmodel`` YAML file naming its flavors (how to load it), its
signature and input example, plus ``requirements.txt``, ``python_env.yaml`` and ``conda.yaml``
describing the environment it needs. tracklog writes the same keys MLflow does, so MLflow
loads a tracklog model and tracklog loads an MLflow model. Keys it does not know are kept
(`Model.extra`) and written back unchanged.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import uuid
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from eventlog.errors import (
    InvalidInputError,
    InvalidModelError,  # the one error tree
    NotFoundError,
)
from tracklog._version import __version__
from tracklog.models.signature import ModelSignature, infer_signature

__all__ = ["MLMODEL_FILE", "Model", "ModelInfo", "save_input_example", "write_environment"]

MLMODEL_FILE = "MLmodel"
_KNOWN = ("artifact_path", "flavors", "model_uuid", "model_id", "run_id", "utc_time_created", "signature",
          "saved_input_example_info", "metadata", "model_size_bytes")


def _yaml() -> Any:
    import yaml

    return yaml


@dataclass
class Model:
    """The content of an ``MLmodel`` file."""

    artifact_path: str | None = None
    run_id: str | None = None
    model_id: str | None = None
    flavors: dict[str, dict[str, Any]] = field(default_factory=dict)
    model_uuid: str = field(default_factory=lambda: uuid.uuid4().hex)
    utc_time_created: str = field(default_factory=lambda: str(_dt.datetime.now(_dt.UTC).replace(tzinfo=None)))
    signature: ModelSignature | None = None
    saved_input_example_info: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    model_size_bytes: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def add_flavor(self, name: str, **params: Any) -> Model:
        self.flavors[name] = params
        return self

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.artifact_path is not None:
            out["artifact_path"] = self.artifact_path
        out["flavors"] = self.flavors
        out["model_id"] = self.model_id
        out["model_size_bytes"] = self.model_size_bytes
        out["model_uuid"] = self.model_uuid
        if self.run_id is not None:
            out["run_id"] = self.run_id
        if self.saved_input_example_info is not None:
            out["saved_input_example_info"] = self.saved_input_example_info
        if self.signature is not None:
            out["signature"] = self.signature.to_dict()
        if self.metadata is not None:
            out["metadata"] = self.metadata
        out["tracklog_version"] = __version__
        out["utc_time_created"] = self.utc_time_created
        return {**self.extra, **out}

    def to_yaml(self) -> str:
        return str(_yaml().safe_dump(self.to_dict(), default_flow_style=False, sort_keys=True))

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write ``MLmodel`` into the folder `path` (or to `path` itself if it names the file)."""
        target = Path(path)
        if target.is_dir():
            target = target / MLMODEL_FILE
        target.write_text(self.to_yaml())

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "MLmodel") -> Model:
        if not isinstance(data, dict) or not isinstance(data.get("flavors"), dict):
            raise InvalidModelError(f"{where} has no 'flavors' mapping; it is not an MLmodel file")
        signature = data.get("signature")
        return cls(
            artifact_path=data.get("artifact_path"),
            run_id=data.get("run_id"),
            model_id=data.get("model_id"),
            flavors=data["flavors"],
            model_uuid=data.get("model_uuid") or uuid.uuid4().hex,
            utc_time_created=str(data.get("utc_time_created", "")),
            signature=ModelSignature.from_dict(signature) if isinstance(signature, dict) else None,
            saved_input_example_info=data.get("saved_input_example_info"),
            metadata=data.get("metadata"),
            model_size_bytes=data.get("model_size_bytes"),
            extra={k: v for k, v in data.items() if k not in _KNOWN and k != "tracklog_version"},
        )

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Model:
        """Read the ``MLmodel`` of a model folder (local path), or the file itself."""
        target = Path(path)
        if target.is_dir():
            target = target / MLMODEL_FILE
        if not target.is_file():
            raise NotFoundError(f"no MLmodel file at {target}: is {Path(path)} a saved model?")
        yaml = _yaml()
        try:
            data = yaml.safe_load(target.read_text())
        except yaml.YAMLError as exc:
            raise InvalidModelError(f"{target} is not valid YAML: {exc}") from exc
        return cls.from_dict(data, str(target))

    def load_input_example(self, path: str | os.PathLike[str]) -> Any:
        """The saved input example (a DataFrame for ``dataframe`` examples), or None."""
        info = self.saved_input_example_info
        if not info or not info.get("artifact_path"):
            return None
        data = json.loads((Path(path) / info["artifact_path"]).read_text())
        if info.get("type") == "dataframe":
            import pandas as pd

            if info.get("pandas_orient", "split") == "split":
                return pd.DataFrame(data["data"], columns=data.get("columns"), index=data.get("index"))
            return pd.DataFrame(data)
        if info.get("type") == "ndarray":
            import numpy as np

            return np.asarray(data["inputs"] if isinstance(data, dict) and "inputs" in data else data)
        return data


@dataclass
class ModelInfo:
    """What `log_model` returns (MLflow's ``ModelInfo`` fields)."""

    artifact_path: str
    flavors: dict[str, Any]
    model_uri: str
    model_uuid: str
    run_id: str | None
    saved_input_example_info: dict[str, Any] | None
    signature: ModelSignature | None
    utc_time_created: str
    model_id: str | None = None
    name: str | None = None
    registered_model_version: int | None = None
    metadata: dict[str, Any] | None = None

    @property
    def signature_dict(self) -> dict[str, Any] | None:
        return self.signature.to_dict() if self.signature is not None else None


# ---- input examples -----------------------------------------------------------------------


def _json_default(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, bytes):
        import base64

        return base64.b64encode(value).decode()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def save_input_example(model: Model, path: Path, example: Any) -> Any:
    """Write ``input_example.json`` and ``serving_input_example.json``; return the example as given.

    DataFrames (and dicts/records, as DataFrames) are stored ``split``-oriented, numpy arrays as
    ``{"inputs": …}``, as MLflow does.
    """
    import numpy as np
    import pandas as pd

    if isinstance(example, dict) and all(not isinstance(v, dict) for v in example.values()):
        frame = pd.DataFrame({k: v if isinstance(v, list | tuple | np.ndarray) else [v] for k, v in example.items()})
    elif isinstance(example, list) and example and all(isinstance(r, dict) for r in example):
        frame = pd.DataFrame(example)
    elif isinstance(example, pd.Series):
        frame = example.to_frame()
    else:
        frame = example if isinstance(example, pd.DataFrame) else None
    if frame is not None:
        split = json.loads(frame.to_json(orient="split", index=False, date_format="iso"))
        stored = {"columns": split["columns"], "data": split["data"]}
        serving = {"dataframe_split": stored}
        info = {"artifact_path": "input_example.json", "type": "dataframe", "pandas_orient": "split",
                "serving_input_path": "serving_input_example.json"}
    elif isinstance(example, np.ndarray):
        stored = {"inputs": example.tolist()}
        serving = stored
        info = {"artifact_path": "input_example.json", "type": "ndarray", "format": "tf-serving",
                "serving_input_path": "serving_input_example.json"}
    else:
        raise InvalidInputError(
            f"input_example must be a pandas DataFrame or Series, a numpy array, a dict of columns or a "
            f"list of records; got {type(example).__name__}")
    (path / "input_example.json").write_text(json.dumps(stored, default=_json_default))
    (path / "serving_input_example.json").write_text(json.dumps(serving, default=_json_default, indent=2))
    model.saved_input_example_info = info
    return frame if frame is not None else example


def signature_from_example(predict: Any, example: Any) -> ModelSignature | None:
    """Infer a signature by running `predict` on the example; None (and no error) if that fails."""
    try:
        return infer_signature(example, predict(example))
    except Exception:  # noqa: BLE001 - a model that cannot predict on its example gets no output schema
        try:
            return infer_signature(example)
        except InvalidInputError:
            return None


# ---- environment --------------------------------------------------------------------------


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def write_environment(path: Path, packages: list[str], extra_pip_requirements: list[str] | None = None,
                      pip_requirements: list[str] | None = None) -> None:
    """``requirements.txt``, ``python_env.yaml`` and ``conda.yaml`` pinning `packages` as installed."""
    if pip_requirements is not None:
        requirements = list(pip_requirements)
    else:
        requirements = []
        for package in packages:
            version = _version(package)
            requirements.append(f"{package}=={version}" if version else package)
        requirements += list(extra_pip_requirements or [])
    (path / "requirements.txt").write_text("\n".join(requirements) + "\n")
    python = platform.python_version()
    pip = _version("pip") or "24.0"
    yaml = _yaml()
    (path / "python_env.yaml").write_text(yaml.safe_dump({
        "python": python,
        "build_dependencies": [f"pip=={pip}", f"setuptools=={_version('setuptools') or '69.0'}", "wheel"],
        "dependencies": ["-r requirements.txt"],
    }, sort_keys=False))
    (path / "conda.yaml").write_text(yaml.safe_dump({
        "channels": ["conda-forge"],
        "dependencies": [f"python={python}", f"pip<={pip}", {"pip": requirements}],
        "name": "tracklog-env",
    }, sort_keys=False))


def python_function_env() -> dict[str, Any]:
    return {"env": {"conda": "conda.yaml", "virtualenv": "python_env.yaml"}, "python_version": platform.python_version()}


def folder_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
