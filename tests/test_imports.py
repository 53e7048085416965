"""The import graph: no cycles among tracklog's modules, and the layers import only downward.

The graph is read with `ast` from the source files, so every import counts — at the top of a
module, inside a function, under ``if TYPE_CHECKING:``. An edge goes to the module an import
names: ``from tracklog.tracking import client`` to ``tracklog.tracking.client`` (a submodule),
``from tracklog.tracking.client import Client`` to ``tracklog.tracking.client``.
"""

from __future__ import annotations

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGES = ("eventlog", "projections", "query", "tracklog")
LAYERS = ["eventlog", "projections", "query", "tracklog"]  # each may import only those before it


def _modules() -> dict[str, pathlib.Path]:
    out = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


MODULES = _modules()


def _resolve(name: str) -> str | None:
    """The deepest module of ours that `name` (a dotted path) lies in, or None."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module: str, path: pathlib.Path) -> set[str]:
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(filter(None, (_resolve(alias.name) for alias in node.names)))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for alias in node.names:
                target = f"{source}.{alias.name}"
                found.add(target if target in MODULES else _resolve(source) or "")
    found.discard("")
    found.discard(module)
    return found


GRAPH = {module: _imports(module, path) for module, path in MODULES.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        out.append(sorted(component))
            elif child not in index:
                index[child] = low[child] = counter
                counter += 1
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(graph.get(child, ())))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return out


def test_the_graph_is_read() -> None:
    """The reader sees imports at every depth (a check of the test itself)."""
    assert "tracklog.tracking.client" in GRAPH["tracklog.tracking.fluent"]
    assert "projections.catalog" in GRAPH["tracklog.tracking.local"]
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycles_among_tracklogs_modules() -> None:
    ours = {m: {t for t in targets if t.startswith("tracklog")} for m, targets in GRAPH.items() if m.startswith("tracklog")}
    cycles = _cycles(ours)
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


@pytest.mark.parametrize("layer", LAYERS)
def test_layers_import_only_downward(layer: str) -> None:
    allowed = set(LAYERS[: LAYERS.index(layer) + 1])
    wrong = sorted(f"{m} -> {t}" for m, targets in GRAPH.items() if m.split(".")[0] == layer
                   for t in targets if t.split(".")[0] not in allowed)
    assert not wrong, f"{layer} imports layers above it:\n" + "\n".join(wrong)


HEAVY = ("pandas", "pyarrow", "duckdb", "starlette", "numpy", "fsspec", "msgspec")


def test_import_tracklog_loads_no_heavy_dependency() -> None:
    """`import tracklog` alone loads none of the store's libraries; its public names load on first use."""
    import subprocess
    import sys

    probe = ("import sys, tracklog; print(','.join(sorted({m.split('.')[0] for m in sys.modules} & set(sys.argv[1:]))));"
             " tracklog.log_metric; print('eventlog' in sys.modules)")
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", probe, *HEAVY], capture_output=True, text=True, env=env, cwd=ROOT,
                          check=True)
    loaded, used = done.stdout.splitlines()
    assert loaded == "", f"`import tracklog` loaded {loaded}"
    assert used == "True"  # the lazy name resolved to the real function, which needs the event log
