"""The model registry's rules: names, versions, aliases, stages and ``models:/`` URIs.

The registry's operations are `tracklog.Client` methods with MLflow's names
(``create_registered_model``, ``create_model_version``, ``set_registered_model_alias``…),
answered by the tracking store: every change is an event (``RegisteredModel*``,
``ModelVersion*``, ``ModelAlias*``), so the registry at any past moment is a query away — the
getters and searches take ``as_of=`` (a datetime or epoch milliseconds). Names are unique and
version numbers unique and consecutive per model, even across processes and machines: each is
a claim created put-if-absent in the store (``_claims/``) before its event is written.

This module holds what the client checks before it asks: the rules for names and aliases, the
stages, and the parsing of ``models:/<name>/<version>``, ``models:/<name>@<alias>``,
``models:/<name>/latest`` and ``models:/<name>/<stage>`` URIs.
"""

from __future__ import annotations

import re
from typing import Any

from eventlog.errors import (
    InvalidInputError,
    ModelAliasNotFoundError,
    ModelVersionNotFoundError,
    RegisteredModelAlreadyExistsError,
    RegisteredModelNotFoundError,
)
from projections.entities import STAGES

__all__ = [
    "STAGES",
    "ModelAliasNotFoundError",
    "ModelVersionNotFoundError",
    "RegisteredModelAlreadyExistsError",
    "RegisteredModelNotFoundError",
    "check_alias",
    "check_model_name",
    "check_stage",
    "check_version",
    "parse_models_uri",
]

_ALIAS = re.compile(r"^[\w\-]*$")
_VERSION_ALIAS = re.compile(r"^[vV]\d+$")
_MAX_ALIAS = 255
_MAX_NAME = 256


def check_model_name(name: Any, what: str = "name") -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidInputError(f"Missing value for required parameter '{what}': a registered model needs a name")
    if "/" in name or ":" in name:
        raise InvalidInputError(f"Invalid model name {name!r}. Names cannot contain '/' or ':'.")
    if len(name) > _MAX_NAME:
        raise InvalidInputError(f"Invalid model name: {len(name)} characters, at most {_MAX_NAME}")
    return name


def check_version(version: Any) -> int:
    try:
        number = int(version)
    except (TypeError, ValueError):
        raise InvalidInputError(f"Parameter 'version' must be an integer, got {version!r}") from None
    if number < 1:
        raise InvalidInputError(f"Parameter 'version' must be a positive integer, got {version!r}")
    return number


def check_alias(alias: Any) -> str:
    if not isinstance(alias, str) or not alias:
        raise InvalidInputError("Registered model alias name cannot be empty.")
    if not _ALIAS.match(alias):
        raise InvalidInputError(f"Invalid alias name: {alias!r}. Names may only contain alphanumerics, "
                                "underscores (_), and dashes (-).")
    if len(alias) > _MAX_ALIAS:
        raise InvalidInputError(f"Registered model alias name is {len(alias)} characters, at most {_MAX_ALIAS}")
    if alias.lower() == "latest":
        raise InvalidInputError("'latest' alias name (case insensitive) is reserved.")
    if _VERSION_ALIAS.match(alias):
        raise InvalidInputError(f"Version alias name {alias!r} is reserved.")
    return alias


def check_stage(stage: Any) -> str:
    for canonical in STAGES:
        if isinstance(stage, str) and stage.lower() == canonical.lower():
            return canonical
    raise InvalidInputError(f"Invalid Model Version stage: {stage!r}. Value must be one of {', '.join(STAGES)}.")


def parse_models_uri(uri: str) -> tuple[str, str, str]:
    """``models:/name/3`` → (name, "3", "version"); ``@alias`` → "alias"; ``/latest``; ``/Stage`` → "stage";
    ``models:/m-<id>`` (a logged model) → (id, "", "logged")."""
    if not isinstance(uri, str) or not uri.startswith("models:/"):
        raise InvalidInputError(f"not a models:/ URI: {uri!r}")
    rest = uri[len("models:/"):].strip("/")
    if re.fullmatch(r"m-[0-9a-f]{32}", rest):
        return rest, "", "logged"
    if "@" in rest and "/" not in rest:
        name, _, alias = rest.partition("@")
        if not name or not alias:
            raise InvalidInputError(f"{uri!r}: an alias URI is models:/<name>@<alias>")
        return name, alias, "alias"
    name, _, selector = rest.partition("/")
    if not name or not selector or "/" in selector:
        raise InvalidInputError(f"{uri!r}: expected models:/<name>/<version|stage|latest> or models:/<name>@<alias>")
    if selector.isdigit():
        return name, selector, "version"
    if selector.lower() == "latest":
        return name, selector, "latest"
    return name, check_stage(selector), "stage"
