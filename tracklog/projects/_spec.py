"""The MLproject format: a project's name, environment and entry points, read from YAML.

The format is MLflow's, so existing projects run unchanged. tracklog is stricter where MLflow
fails late or silently: unknown keys, parameter types, defaults of the wrong type and command
placeholders that name no parameter are reported at load time, with the file, line and field.
"""

from __future__ import annotations

import os
import string
from typing import Literal

import msgspec
import yaml

from eventlog.errors import EntryPointNotFoundError
from tracklog.projects._yaml import Document

__all__ = [
    "PARAMETER_TYPES",
    "DockerEnv",
    "EntryPoint",
    "EnvType",
    "Parameter",
    "Project",
    "PythonEnv",
    "load_project",
    "read_conda_env",
    "read_python_env",
]

EnvType = Literal["python_env", "conda_env", "docker_env"]
ENV_TYPES: tuple[EnvType, ...] = ("python_env", "conda_env", "docker_env")
PARAMETER_TYPES = ("string", "float", "int", "path", "uri")
_TYPE_ALIASES = {"str": "string", "integer": "int"}
_TOP_KEYS = ("name", *ENV_TYPES, "entry_points", "databricks_spark_job")
_NOT_IN_NAME = set(".[]{}:!") | set(string.whitespace)


class Parameter(msgspec.Struct, frozen=True, kw_only=True):
    """A declared parameter: its type (one of `PARAMETER_TYPES`) and default (None: required)."""

    name: str
    type: str = "string"
    default: str | None = None
    line: int | None = None


class EntryPoint(msgspec.Struct, frozen=True, kw_only=True):
    """A command template with ``{param}`` placeholders, and the parameters it declares."""

    name: str
    command: str
    parameters: dict[str, Parameter] = {}
    line: int | None = None


class DockerEnv(msgspec.Struct, frozen=True, kw_only=True):
    image: str
    volumes: tuple[str, ...] = ()
    environment: tuple[str | tuple[str, str], ...] = ()  # names to copy, or (name, value) pairs


class PythonEnv(msgspec.Struct, frozen=True, kw_only=True):
    """``python_env.yaml``: the Python version and the pip requirements of an environment."""

    python: str | None = None
    build_dependencies: tuple[str, ...] = ()
    dependencies: tuple[str, ...] = ()


class Project(msgspec.Struct, frozen=True, kw_only=True):
    """A project folder as its MLproject file (or, without one, its scripts) describes it."""

    directory: str
    name: str | None = None
    mlproject: str | None = None
    env_type: EnvType | None = None
    env_file: str | None = None
    docker_env: DockerEnv | None = None
    entry_points: dict[str, EntryPoint] = {}

    def entry_point(self, name: str) -> EntryPoint:
        """The entry point `name`; as in MLflow, a ``.py`` or ``.sh`` file of the project also is one."""
        if name in self.entry_points:
            return self.entry_points[name]
        ext = os.path.splitext(name)[1]
        if ext in (".py", ".sh"):
            path = os.path.normpath(os.path.join(self.directory, name))
            if not os.path.isfile(path) or os.path.relpath(path, self.directory).startswith(os.pardir):
                raise EntryPointNotFoundError(f"entry point {name!r}: no such file in {self.directory}")
            from shlex import quote

            return EntryPoint(name=name, command=f"{'python' if ext == '.py' else 'bash'} {quote(name)}")
        declared = ", ".join(sorted(self.entry_points)) or "none"
        where = self.mlproject or f"{self.directory} (no MLproject file)"
        raise EntryPointNotFoundError(
            f"entry point {name!r} not found in {where}: declared entry points are {declared}; "
            "the name of a .py or .sh file in the project also works"
        )


def load_project(directory: str) -> Project:
    """Read the project in `directory`: its ``MLproject`` file (any case), else its defaults.

    Raises:
        InvalidProjectError: the file breaks the format; the message names file, line and field.
    """
    directory = os.path.abspath(directory)
    path = next((os.path.join(directory, f) for f in sorted(os.listdir(directory)) if f.lower() == "mlproject"), None)
    if path is None:
        env_type, env_file = _default_env(directory)
        return Project(directory=directory, env_type=env_type, env_file=env_file)
    doc = Document.read(path)
    if doc.root is None:
        raise doc.error(None, None, "the file is empty; expected a mapping with entry_points")
    top = doc.mapping(doc.root, "", _TOP_KEYS)
    name = doc.scalar(top["name"][1], "name") if "name" in top else None
    env_type, env_file, docker_env = _environment(doc, top, directory)
    entry_points: dict[str, EntryPoint] = {}
    if "entry_points" in top:
        for ep_name, (key, node) in doc.mapping(top["entry_points"][1], "entry_points").items():
            entry_points[ep_name] = _entry_point(doc, ep_name, key, node)
    return Project(directory=directory, name=name, mlproject=path, entry_points=entry_points,
                   env_type=env_type, env_file=env_file, docker_env=docker_env)


def _default_env(directory: str) -> tuple[EnvType | None, str | None]:
    # as MLflow: python_env.yaml, else conda.yaml, next to MLproject
    defaults: tuple[tuple[EnvType, str], ...] = (("python_env", "python_env.yaml"), ("conda_env", "conda.yaml"))
    for env_type, file in defaults:
        if os.path.isfile(os.path.join(directory, file)):
            return env_type, os.path.join(directory, file)
    return None, None


def _environment(doc: Document, top: dict[str, tuple[yaml.Node, yaml.Node]], directory: str
                 ) -> tuple[EnvType | None, str | None, DockerEnv | None]:
    given = [k for k in ENV_TYPES if k in top]
    if len(given) > 1:
        second = max(given, key=lambda k: top[k][0].start_mark.line)
        raise doc.error(top[second][0], second, f"a project has one environment, but {' and '.join(given)} are both given")
    if not given:
        return (*_default_env(directory), None)
    env_type = given[0]
    key, node = top[env_type]
    if env_type == "docker_env":
        return env_type, None, _docker_env(doc, node)
    file = doc.scalar(node, env_type)
    path = os.path.normpath(os.path.join(directory, file))
    if not os.path.isfile(path):
        raise doc.error(node, env_type, f"names the file {file!r}, which does not exist in {directory}")
    return env_type, path, None


def _docker_env(doc: Document, node: yaml.Node) -> DockerEnv:
    fields = doc.mapping(node, "docker_env", ("image", "volumes", "environment"))
    if "image" not in fields:
        raise doc.error(node, "docker_env.image", "missing: name the Docker image to run in")
    image = doc.scalar(fields["image"][1], "docker_env.image")
    volumes = doc.string_list(fields["volumes"][1], "docker_env.volumes") if "volumes" in fields else ()
    environment: list[str | tuple[str, str]] = []
    if "environment" in fields:
        env_node = fields["environment"][1]
        if not isinstance(env_node, yaml.SequenceNode):
            raise doc.error(env_node, "docker_env.environment", "expected a list of names and [name, value] pairs")
        for i, item in enumerate(env_node.value):
            where = f"docker_env.environment[{i}]"
            if isinstance(item, yaml.SequenceNode):
                pair = doc.string_list(item, where)
                if len(pair) != 2:
                    raise doc.error(item, where, f"expected a [name, value] pair, got {len(pair)} items")
                environment.append((pair[0], pair[1]))
            else:
                environment.append(doc.scalar(item, where))
    return DockerEnv(image=image, volumes=volumes, environment=tuple(environment))


def _entry_point(doc: Document, name: str, key: yaml.Node, node: yaml.Node) -> EntryPoint:
    field = f"entry_points.{name}"
    fields = doc.mapping(node, field, ("command", "parameters"))
    if "command" not in fields:
        raise doc.error(key, f"{field}.command", "missing: every entry point needs a command")
    parameters: dict[str, Parameter] = {}
    if "parameters" in fields and not fields["parameters"][1].tag.endswith(":null"):
        for p_name, (p_key, p_node) in doc.mapping(fields["parameters"][1], f"{field}.parameters").items():
            parameters[p_name] = _parameter(doc, f"{field}.parameters.{p_name}", p_name, p_key, p_node)
    command_node = fields["command"][1]
    command = doc.scalar(command_node, f"{field}.command")
    _check_placeholders(doc, command_node, f"{field}.command", command, parameters)
    return EntryPoint(name=name, command=command, parameters=parameters, line=key.start_mark.line + 1)


def _parameter(doc: Document, field: str, name: str, key: yaml.Node, node: yaml.Node) -> Parameter:
    if _NOT_IN_NAME & set(name):
        raise doc.error(key, field, "a parameter name may not contain spaces or any of . [ ] { } : !")
    default: str | None = None
    if isinstance(node, yaml.MappingNode):
        fields = doc.mapping(node, field, ("type", "default", "description"))
        type_node = fields.get("type", (None, None))[1]
        type_name = doc.scalar(type_node, f"{field}.type") if type_node is not None else "string"
        if "default" in fields:
            default = _default(doc, fields["default"][1], f"{field}.default")
    else:
        type_node = node
        type_name = doc.scalar(node, field)
    type_name = _TYPE_ALIASES.get(type_name, type_name)
    if type_name not in PARAMETER_TYPES:
        where = f"{field}.type" if isinstance(node, yaml.MappingNode) else field
        raise doc.error(type_node, where, f"unknown parameter type {type_name!r}; expected one of {', '.join(PARAMETER_TYPES)}")
    if default is not None:
        problem = check_scalar(type_name, default)
        if problem:
            raise doc.error(node, f"{field}.default", f"the default {problem}")
    return Parameter(name=name, type=type_name, default=default, line=key.start_mark.line + 1)


def check_scalar(type_name: str, value: str) -> str | None:
    """Why `value` is not a `type_name` (``float``/``int``), or None if it is."""
    if type_name == "float":
        try:
            float(value)
        except ValueError:
            return f"must be a float (like 0.5 or 1e-3), got {value!r}"
    elif type_name == "int":
        try:
            int(value)
        except ValueError:
            return f"must be an integer, got {value!r}"
    return None


def _default(doc: Document, node: yaml.Node, field: str) -> str | None:
    if not isinstance(node, yaml.ScalarNode):
        raise doc.error(node, field, "expected a single value, not a list or mapping")
    value = doc.value(node)
    return None if value is None else str(value)  # str() of the YAML value, as MLflow does


def _check_placeholders(doc: Document, node: yaml.Node, field: str, command: str, parameters: dict[str, Parameter]) -> None:
    try:
        parsed = list(string.Formatter().parse(command))
    except ValueError as exc:
        raise doc.error(node, field, f"{exc} (write {{{{ and }}}} for literal braces)") from exc
    declared = ", ".join(parameters) or "none"
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if name == "" or name.isdigit() or spec or conversion or "." in name or "[" in name:
            shown = "{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
            raise doc.error(node, field, f"{shown} is not a parameter placeholder; write {{name}} with a declared parameter (declared: {declared})")
        if name not in parameters:
            raise doc.error(node, field, f"uses {{{name}}}, which is not a declared parameter (declared: {declared})")


# ---- environment files ---------------------------------------------------------------------


def read_python_env(path: str) -> PythonEnv:
    """Read a ``python_env.yaml`` (``python``, ``build_dependencies``, ``dependencies``)."""
    doc = Document.read(path)
    if doc.root is None:
        return PythonEnv()
    fields = doc.mapping(doc.root, "", ("python", "build_dependencies", "dependencies"))
    python = doc.scalar(fields["python"][1], "python") if "python" in fields else None
    lists = {k: doc.string_list(fields[k][1], k) for k in ("build_dependencies", "dependencies") if k in fields}
    return PythonEnv(python=python, **lists)


def read_conda_env(path: str) -> PythonEnv:
    """The Python version and pip requirements of a ``conda.yaml``, for a virtualenv/uv build
    of a conda project (conda packages other than python and pip cannot be installed by pip)."""
    import logging

    doc = Document.read(path)
    if doc.root is None:
        return PythonEnv()
    fields = doc.mapping(doc.root, "")
    if "dependencies" not in fields:
        return PythonEnv()
    deps_node = fields["dependencies"][1]
    if not isinstance(deps_node, yaml.SequenceNode):
        raise doc.error(deps_node, "dependencies", "expected a list")
    python: str | None = None
    pip: tuple[str, ...] = ()
    skipped: list[str] = []
    for i, item in enumerate(deps_node.value):
        where = f"dependencies[{i}]"
        if isinstance(item, yaml.MappingNode):
            sub = doc.mapping(item, where)
            if "pip" in sub:
                pip = doc.string_list(sub["pip"][1], f"{where}.pip")
            continue
        spec = doc.scalar(item, where).replace(" ", "")
        package = spec.split("=")[0].split("<")[0].split(">")[0]
        if package == "python":
            python = _conda_python(doc, item, where, spec)
        elif package != "pip":
            skipped.append(spec)
    if skipped:
        logging.getLogger("tracklog.projects").warning(
            "%s: conda packages %s are not pip requirements and are left out of the virtualenv", path, ", ".join(skipped))
    return PythonEnv(python=python, build_dependencies=("pip",), dependencies=tuple(pip))


def _conda_python(doc: Document, node: yaml.Node, field: str, spec: str) -> str:
    version = spec.removeprefix("python==").removeprefix("python=").removesuffix(".*")
    if version == spec or not version or any(c in version for c in "<>=!*,|"):
        raise doc.error(node, field, f"expected python pinned as python=X.Y or python=X.Y.Z, got {spec!r}")
    return version
