"""How deep JSON nests, measured before it is decoded: the servers refuse bodies nested too deep.

msgspec decodes recursively; a body of a hundred thousand ``[`` would exhaust the recursion
limit (a RecursionError, a 500). `json_depth` measures the nesting first, in C-speed passes
over the bytes, so the tracking server and the scoring server refuse such a body with a 400.
"""

from __future__ import annotations

import re

import numpy as np

__all__ = ["MAX_DEPTH", "json_depth"]

MAX_DEPTH = 64  # MLflow's deepest body (a log-batch) nests 3 levels; a dataset schema or a tensor a few more
_STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*"')
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_AS_SQUARE = bytes.maketrans(b"{}", b"[]")


def json_depth(data: bytes, limit: int = MAX_DEPTH) -> int:
    """How deep the arrays and objects of JSON text `data` nest (brackets inside strings do not
    count), or some number above `limit` as soon as it is clear the depth exceeds it. `data` need
    not be valid JSON. Linear and in C (regex, bytes.translate, numpy): a 16 MB body takes
    milliseconds, whatever its shape."""
    openers = data.count(b"[") + data.count(b"{")
    if openers <= limit:  # cannot nest deeper than it has brackets
        return openers
    brackets = _STRINGS.sub(b"", data).translate(_AS_SQUARE, _NOT_BRACKETS)
    steps = 92 - np.frombuffer(brackets, dtype=np.uint8).astype(np.int8)  # "[" (91) → +1, "]" (93) → -1
    depth = deepest = 0
    for start in range(0, len(steps), 1 << 20):
        levels = np.cumsum(steps[start:start + (1 << 20)], dtype=np.int64) + depth
        deepest = max(deepest, int(levels.max()))
        if deepest > limit:
            break
        depth = int(levels[-1])
    return deepest
