"""The tests' oracle: a parsed filter evaluated in Python, with the semantics the SQL compiler gives it.

No production code evaluates filters in Python any more (every search is SQL on the catalog);
this independent statement of MLflow's semantics is held equal to `query.compile` by
`tests/query/test_search.py` on random filters and runs.

`predicate` turns the nodes `query.filter.parse` builds into a predicate over a
``lookup(key) -> value`` function. Its semantics are `query.compile`'s, rule for rule (a
property test holds the two equal on random filters and runs): a missing value (None) matches
only ``IS NULL`` (``!=`` and ``NOT IN`` never match it); a NaN metric satisfies ``!=`` and no
other comparison; ``LIKE`` is case-sensitive, ``ILIKE`` not, ``%`` is any run of characters,
``_`` any one, and a backslash escapes the character after it.

>>> from query.filter import parse
>>> match = predicate(parse("tags.team LIKE 'r\\\\_%' and metrics.acc != 0.5"))
>>> match(lambda key: {"team": "r_isk", "acc": float("nan")}[key.name])
True
>>> match(lambda key: {"team": "rxisk", "acc": 0.9}[key.name])
False
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from functools import cache
from typing import Any

from query.filter import And, Comparison, Key, Node, Or

__all__ = ["like", "predicate"]

Lookup = Callable[[Key], Any]


@cache
def _like_regex(pattern: str, insensitive: bool) -> re.Pattern[str]:
    parts = []
    chars = iter(pattern)
    for ch in chars:
        if ch == "\\":
            parts.append(re.escape(next(chars, "\\")))  # the escaped character, literally
        else:
            parts.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
    return re.compile("".join(parts), re.S | (re.I if insensitive else 0))


def like(value: str, pattern: str, *, insensitive: bool = False) -> bool:
    """SQL's ``LIKE`` with PostgreSQL's default escape character, the backslash."""
    return _like_regex(pattern, insensitive).fullmatch(value) is not None


_NUMERIC = {
    "=": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
}


def _compare(op: str, value: Any, target: Any) -> bool:
    if op == "IS NULL":
        return value is None
    if op == "IS NOT NULL":
        return value is not None
    if value is None:
        return False
    if op in ("IN", "NOT IN"):
        inside = str(value) in target
        return inside if op == "IN" else not inside
    if op in ("LIKE", "ILIKE"):
        return like(str(value), str(target), insensitive=op == "ILIKE")
    if isinstance(target, float | int) and not isinstance(target, bool):
        if not isinstance(value, float | int):
            try:
                value = float(value)
            except (TypeError, ValueError):
                return False
        if isinstance(value, float) and math.isnan(value):
            return op == "!="  # a NaN satisfies != only
        return bool(_NUMERIC[op](value, target))
    return bool(_NUMERIC[op](str(value), str(target)))


def predicate(node: Node | None) -> Callable[[Lookup], bool]:
    """A function of a lookup that says whether the item matches `node` (None matches all)."""
    if node is None:
        return lambda lookup: True
    if isinstance(node, Comparison):
        key, op, target = node.key, node.op, node.value
        return lambda lookup: _compare(op, lookup(key), target)
    parts = [predicate(item) for item in node.items]
    if isinstance(node, And):
        return lambda lookup: all(p(lookup) for p in parts)
    assert isinstance(node, Or)
    return lambda lookup: any(p(lookup) for p in parts)
