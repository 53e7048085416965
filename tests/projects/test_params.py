"""Parameters: type checks, path/uri resolution, and quoting that keeps values out of the shell."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import pytest

from tracklog.projects import EntryPoint, InvalidParameterError, Parameter
from tracklog.projects._params import resolve_parameters


def _entry(*params: Parameter, command: str | None = None) -> EntryPoint:
    command = command or "run " + " ".join(f"--{p.name} {{{p.name}}}" for p in params)
    return EntryPoint(name="main", command=command, parameters={p.name: p for p in params})


def test_defaults_fill_in_and_extras_pass_through(tmp_path: Path) -> None:
    entry = _entry(Parameter(name="alpha", type="float", default="0.5"), Parameter(name="n", type="int", default="3"))
    resolved = resolve_parameters(entry, {"n": 7, "seed": 42}, project_dir=str(tmp_path))
    assert resolved.values == {"alpha": "0.5", "n": "7"} and resolved.extras == {"seed": "42"}
    assert resolved.command == "run --alpha 0.5 --n 7 --seed 42"


@pytest.mark.parametrize(("type_name", "value", "message"), [
    ("float", "fast", "parameter 'x' of entry point 'main' must be a float (like 0.5 or 1e-3), got 'fast'"),
    ("float", "", "must be a float"),
    ("int", "2.5", "parameter 'x' of entry point 'main' must be an integer, got '2.5'"),
    ("int", "ten", "must be an integer, got 'ten'"),
])
def test_type_errors(type_name: str, value: str, message: str, tmp_path: Path) -> None:
    entry = _entry(Parameter(name="x", type=type_name, default="1"))
    with pytest.raises(InvalidParameterError, match=message.replace("(", r"\(").replace(")", r"\)")):
        resolve_parameters(entry, {"x": value}, project_dir=str(tmp_path))


def test_good_values_of_each_type(tmp_path: Path) -> None:
    entry = _entry(Parameter(name="f", type="float"), Parameter(name="i", type="int"), Parameter(name="s"))
    resolved = resolve_parameters(entry, {"f": "1e-3", "i": "-4", "s": "anything at all"}, project_dir=str(tmp_path))
    assert resolved.values == {"f": "1e-3", "i": "-4", "s": "anything at all"}  # passed as given, not reformatted


def test_missing_required_parameters_are_all_named(tmp_path: Path) -> None:
    entry = _entry(Parameter(name="data", type="path"), Parameter(name="lr", type="float"), Parameter(name="k", default="1"))
    with pytest.raises(InvalidParameterError, match=r"entry point 'main' needs a value for 'data', 'lr': pass -P data=VALUE"):
        resolve_parameters(entry, {}, project_dir=str(tmp_path))


def test_values_cannot_escape_into_the_shell(tmp_path: Path) -> None:
    """A value is one argument, whatever it holds: no second command, no expansion."""
    marker = tmp_path / "pwned"
    entry = _entry(Parameter(name="msg"), command="printf '%s\\n' {msg}")
    hostile = f"x'; touch {marker}; echo '$HOME $(id) `id`"
    resolved = resolve_parameters(entry, {"msg": hostile, f"k; touch {marker}": "v"}, project_dir=str(tmp_path))
    out = subprocess.run(["bash", "-c", resolved.command], capture_output=True, text=True, check=True)
    assert out.stdout.splitlines() == [hostile, f"--k; touch {marker}", "v"]
    assert not marker.exists()
    assert shlex.split(resolved.command)[2] == hostile


def test_path_values_are_made_absolute_and_must_exist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = tmp_path / "project"
    (project / "data").mkdir(parents=True)
    (project / "data" / "default.csv").write_text("a\n")
    (tmp_path / "given.csv").write_text("b\n")
    monkeypatch.chdir(tmp_path)
    entry = _entry(Parameter(name="data", type="path", default="data/default.csv"))
    # a default is relative to the project; a value the user gives, to where the user is
    assert resolve_parameters(entry, {}, project_dir=str(project)).values["data"] == str(project / "data" / "default.csv")
    given = resolve_parameters(entry, {"data": "given.csv"}, project_dir=str(project))
    assert given.values["data"] == str(tmp_path / "given.csv")
    assert resolve_parameters(entry, {"data": f"file://{tmp_path}/given.csv"}, project_dir=str(project)).values["data"] == str(tmp_path / "given.csv")
    with pytest.raises(InvalidParameterError, match=r"parameter 'data' of entry point 'main' is a path, but 'nope.csv' does not exist \(looked for .*/nope.csv\)"):
        resolve_parameters(entry, {"data": "nope.csv"}, project_dir=str(project))


def test_remote_path_values_are_downloaded(tmp_path: Path) -> None:
    import fsspec

    with fsspec.open("memory://tracklog-params/train.csv", "w") as fh:
        fh.write("x,y\n1,2\n")
    entry = _entry(Parameter(name="data", type="path"))
    resolved = resolve_parameters(entry, {"data": "memory://tracklog-params/train.csv"}, project_dir=str(tmp_path), storage_dir=str(tmp_path / "dl"))
    assert resolved.values["data"] == str(tmp_path / "dl" / "param_0" / "train.csv")
    assert Path(resolved.values["data"]).read_text() == "x,y\n1,2\n"
    with pytest.raises(InvalidParameterError, match=r"downloading 'memory://tracklog-params/missing.csv' failed"):
        resolve_parameters(entry, {"data": "memory://tracklog-params/missing.csv"}, project_dir=str(tmp_path), storage_dir=str(tmp_path / "dl2"))


@pytest.mark.parametrize(("value", "ok"), [
    ("s3://bucket/key.csv", True),
    ("https://example.com/data.csv", True),
    ("hdfs://namenode/path", True),
    ("s3://", False),
    ("s3://bucket/with space", False),
    ("no-scheme-and-missing", False),
    ("", False),
])
def test_uri_values_are_validated(value: str, ok: bool, tmp_path: Path) -> None:
    entry = _entry(Parameter(name="src", type="uri", default="s3://b/k"))
    if ok:
        assert resolve_parameters(entry, {"src": value}, project_dir=str(tmp_path)).values["src"] == value
    else:
        with pytest.raises(InvalidParameterError, match=r"parameter 'src' of entry point 'main' must be a URI"):
            resolve_parameters(entry, {"src": value}, project_dir=str(tmp_path))


def test_uri_value_may_be_an_existing_local_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "local.csv").write_text("")
    monkeypatch.chdir(tmp_path)
    entry = _entry(Parameter(name="src", type="uri"))
    assert resolve_parameters(entry, {"src": "local.csv"}, project_dir="/").values["src"] == str(tmp_path / "local.csv")


def test_bad_extra_names_and_values(tmp_path: Path) -> None:
    entry = _entry()
    with pytest.raises(InvalidParameterError, match=r"parameter name '--x': expected a name like 'alpha'"):
        resolve_parameters(entry, {"--x": "1"}, project_dir=str(tmp_path))
    with pytest.raises(InvalidParameterError, match=r"parameter 'x': expected a single value, got \[1, 2\]"):
        resolve_parameters(entry, {"x": [1, 2]}, project_dir=str(tmp_path))
