"""The MLproject format: what parses, and errors that name the file, the line and the field."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from tests.projects.conftest import EXAMPLE
from tracklog.projects import (
    EntryPointNotFoundError,
    InvalidProjectError,
    Parameter,
    load_project,
)

CASES = json.loads((Path(__file__).parents[1] / "fixtures" / "invalid_mlprojects.json").read_text())


def test_the_example_project() -> None:
    project = load_project(str(EXAMPLE))
    assert project.name == "sklearn_project"
    assert project.env_type == "python_env" and project.env_file == str(EXAMPLE / "python_env.yaml")
    main, validate = project.entry_points["main"], project.entry_points["validate"]
    assert main.parameters["alpha"] == Parameter(name="alpha", type="float", default="0.5", line=10)
    assert validate.parameters["folds"].type == "int" and validate.parameters["folds"].default == "5"
    assert main.command.startswith("python train.py --alpha {alpha}")


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_invalid_file_names_line_and_field(case: dict, tmp_path: Path) -> None:
    for name, text in case.get("files", {}).items():
        (tmp_path / name).write_text(text)
    (tmp_path / "MLproject").write_text("\n".join(case["mlproject"]) + "\n")
    with pytest.raises(InvalidProjectError, match=case["match"]) as caught:
        load_project(str(tmp_path))
    err = caught.value
    assert (err.path, err.line, err.field) == (str(tmp_path / "MLproject"), case["line"], case["field"])
    where = f"{tmp_path / 'MLproject'}:{case['line']}: " if case["line"] else f"{tmp_path / 'MLproject'}: "
    assert str(err).startswith(where + (f"{case['field']}: " if case["field"] else ""))


def test_short_parameter_form_is_a_required_parameter(tmp_path: Path) -> None:
    (tmp_path / "mlproject").write_text(  # the file name is case-insensitive, as in MLflow
        "entry_points:\n  main:\n    parameters:\n      data: path\n      n: {type: integer}\n"
        "      name: str\n    command: cat {data} {n} {name}\n"
    )
    params = load_project(str(tmp_path)).entry_points["main"].parameters
    assert [(p.type, p.default) for p in params.values()] == [("path", None), ("int", None), ("string", None)]


def test_defaults_are_the_yaml_values_as_mlflow_reads_them(tmp_path: Path) -> None:
    """A default is str() of its YAML value (as MLflow formats it); null means required."""
    (tmp_path / "MLproject").write_text(
        "entry_points:\n  main:\n    parameters:\n      a: {type: float, default: 1.0e-3}\n"
        "      b: {default: true}\n      c: {default: ~}\n      d: {type: string, default: '007'}\n"
        "    command: echo {a} {b} {c} {d}\n"
    )
    params = load_project(str(tmp_path)).entry_points["main"].parameters
    assert {k: p.default for k, p in params.items()} == {"a": "0.001", "b": "True", "c": None, "d": "007"}


def test_folder_without_mlproject_runs_its_scripts(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text("print('hi')\n")
    (tmp_path / "prep data.sh").write_text("echo hi\n")
    (tmp_path / "python_env.yaml").write_text("python: '3.11'\n")
    project = load_project(str(tmp_path))
    assert project.mlproject is None and project.env_type == "python_env"
    assert project.entry_point("train.py").command == "python train.py"
    assert project.entry_point("prep data.sh").command == "bash 'prep data.sh'"
    with pytest.raises(EntryPointNotFoundError, match=r"entry point 'other.py': no such file in"):
        project.entry_point("other.py")
    with pytest.raises(EntryPointNotFoundError, match=r"entry point '../x.py': no such file"):
        project.entry_point("../x.py")


def test_unknown_entry_point_lists_the_declared_ones() -> None:
    project = load_project(str(EXAMPLE))
    with pytest.raises(EntryPointNotFoundError, match=r"entry point 'train' not found in .*MLproject: declared entry points are main, validate"):
        project.entry_point("train")


def test_conda_yaml_is_the_default_when_there_is_no_python_env(tmp_path: Path) -> None:
    (tmp_path / "conda.yaml").write_text("dependencies: [python=3.11]\n")
    (tmp_path / "MLproject").write_text("entry_points:\n  main: {command: 'true'}\n")
    project = load_project(str(tmp_path))
    assert (project.env_type, project.env_file) == ("conda_env", str(tmp_path / "conda.yaml"))


def test_docker_env(tmp_path: Path) -> None:
    (tmp_path / "MLproject").write_text(
        "docker_env:\n  image: python:3.11-slim\n  volumes: ['/data:/data']\n"
        "  environment: [[STAGE, test], HOME]\nentry_points:\n  main: {command: 'true'}\n"
    )
    docker = load_project(str(tmp_path)).docker_env
    assert docker is not None and docker.image == "python:3.11-slim"
    assert docker.volumes == ("/data:/data",) and docker.environment == (("STAGE", "test"), "HOME")


def test_python_env_errors_name_their_file(tmp_path: Path) -> None:
    from tracklog.projects._spec import read_conda_env, read_python_env

    env = tmp_path / "python_env.yaml"
    env.write_text("python: 3.10\ndependencies: [numpy, pandas]\n")
    assert read_python_env(str(env)).python == "3.10"  # as written, not the YAML float 3.1
    env.write_text("python: '3.11'\ndependencies: scikit-learn\n")
    with pytest.raises(InvalidProjectError, match=re.escape(f"{env}:2: dependencies: expected a list of strings, got 'scikit-learn'")):
        read_python_env(str(env))
    conda = tmp_path / "conda.yaml"
    conda.write_text("dependencies:\n  - python>=3.9\n")
    with pytest.raises(InvalidProjectError, match=re.escape(f"{conda}:2: dependencies[0]: expected python pinned as python=X.Y")):
        read_conda_env(str(conda))
    conda.write_text("dependencies:\n  - python=3.11.*\n  - numpy\n  - pip\n  - pip: [scikit-learn==1.9.1]\n")
    spec = read_conda_env(str(conda))
    assert (spec.python, spec.dependencies) == ("3.11", ("scikit-learn==1.9.1",))


def test_commands_match_mlflows_for_the_same_values(tmp_path: Path) -> None:
    """Same MLproject, same values: tracklog renders the command MLflow renders."""
    pytest.importorskip("mlflow")
    from mlflow.projects import _project_spec

    from tracklog.projects._params import resolve_parameters

    (tmp_path / "MLproject").write_text(
        "entry_points:\n  main:\n    parameters:\n      alpha: {type: float, default: 0.5}\n"
        "      name: {type: string, default: plain}\n    command: python t.py --alpha {alpha} --name {name}\n"
    )
    given = {"name": "it's a $HOME; rm -rf /", "extra flag": "x y"}
    ours = resolve_parameters(load_project(str(tmp_path)).entry_point("main"), given, project_dir=str(tmp_path))
    theirs = _project_spec.load_project(str(tmp_path)).get_entry_point("main").compute_command(given, None)
    assert ours.command == theirs
    assert os.linesep not in ours.command


def test_custom_keys_mlflow_ignores_are_ignored_with_a_warning(tmp_path: Path) -> None:
    (tmp_path / "MLproject").write_text(
        "name: p\nowner_team: risk\nentry_points:\n  main:\n    command: echo hi\n")
    with pytest.warns(UserWarning, match=r"MLproject:2: owner_team: unknown key ignored"):
        project = load_project(str(tmp_path))
    assert list(project.entry_points) == ["main"]
