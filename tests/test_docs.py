"""The documentation is true to the letter: every ```python block of README.md and docs/*.md runs
as pasted — a file's blocks in order, in one fresh Python process, in a fresh empty folder — and
the README's quick start runs twice in a row in the same folder.

A block may be marked by an HTML comment on the line before its fence (invisible on GitHub):

- ``<!-- snippet: skip REASON -->`` — not run; the reason says why (keep these rare);
- ``<!-- snippet: with examples/ -->`` — the folder gets the repository's ``examples/`` first, for
  snippets that run the example project by its relative path, as a reader in a checkout would.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

import tracklog

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_FENCE = re.compile(r"^```python\s*$")
_MARK = re.compile(r"^<!--\s*snippet:\s*(?P<what>[\w/]+)(?:\s+(?P<arg>.*?))?\s*-->\s*$")

# runs the blocks one after another in one namespace; a failure names the block's line in the file
RUNNER = textwrap.dedent("""
    import json, sys, traceback
    namespace = {"__name__": "__main__"}
    for line, code in json.load(open(sys.argv[1])):
        try:
            exec(compile(code, f"{sys.argv[2]}:{line}", "exec"), namespace)
        except BaseException:
            traceback.print_exc()
            sys.exit(f"the block at {sys.argv[2]}:{line} failed")
""")


@dataclass
class Block:
    line: int  # of the first line of code, in the markdown file
    code: str
    mark: str | None
    arg: str | None


def python_blocks(path: Path) -> list[Block]:
    lines = path.read_text().splitlines()
    blocks, i = [], 0
    while i < len(lines):
        if _FENCE.match(lines[i]):
            mark = _MARK.match(lines[i - 1]) if i else None
            end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
            blocks.append(Block(i + 2, "\n".join(lines[i + 1:end]) + "\n", mark and mark["what"], mark and mark["arg"]))
            i = end
        i += 1
    return blocks


def _env(folder: Path) -> dict[str, str]:
    drop = ("TRACKLOG_TRACKING_URI", "MLFLOW_TRACKING_URI", "TRACKLOG_EXPERIMENT_NAME", "TRACKLOG_EXPERIMENT_ID",
            "MLFLOW_EXPERIMENT_NAME", "MLFLOW_EXPERIMENT_ID", "TRACKLOG_RUN_ID", "MLFLOW_RUN_ID")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env["TRACKLOG_CACHE_DIR"] = str(folder / ".cache")
    env["MPLBACKEND"] = "Agg"
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"  # the `tracklog` script of this env
    return env


def run_blocks(blocks: list[Block], folder: Path, where: str) -> subprocess.CompletedProcess[str]:
    (folder / "snippets.json").write_text(json.dumps([(b.line, b.code) for b in blocks]))
    return subprocess.run([sys.executable, "-c", RUNNER, str(folder / "snippets.json"), where], cwd=folder,
                          env=_env(folder), capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_python_snippet_runs_as_pasted(doc: Path, tmp_path: Path) -> None:
    blocks = python_blocks(doc)
    for block in blocks:
        assert block.mark in (None, "skip", "with"), f"{doc.name}:{block.line}: unknown snippet mark {block.mark!r}"
        assert block.mark != "skip" or block.arg, f"{doc.name}:{block.line}: a skipped snippet says why"
    runnable = [b for b in blocks if b.mark != "skip"]
    if not runnable:
        pytest.skip(f"{doc.name} has no Python snippet to run")
    folder = tmp_path / "reader"
    folder.mkdir()
    if any(b.mark == "with" and b.arg == "examples/" for b in runnable):
        (folder / "examples").symlink_to(ROOT / "examples", target_is_directory=True)
    out = run_blocks(runnable, folder, str(doc.relative_to(ROOT)))
    assert out.returncode == 0, f"{out.stdout[-3000:]}\n{out.stderr[-6000:]}"


def test_the_readme_quick_start_runs_twice_in_one_folder(tmp_path: Path) -> None:
    """Running the quick start again where it ran once works (its store folder must not shadow the
    package), and the second run adds a run beside the first."""
    quick_start = python_blocks(ROOT / "README.md")[0]
    for attempt in (1, 2):
        out = run_blocks([quick_start], tmp_path, "README.md")
        assert out.returncode == 0, f"run {attempt}:\n{out.stderr[-4000:]}"
    store = tmp_path / "tracklog-runs"
    assert store.is_dir() and not (tmp_path / "tracklog").exists()
    names = tracklog.sql("SELECT run_name FROM runs", uri=str(store)).arrow().column(0).to_pylist()
    assert names == ["baseline", "baseline"]
