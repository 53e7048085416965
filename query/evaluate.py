"""Evaluating a parsed filter in Python, for small in-memory collections (the model registry).

The same nodes `query.filter.parse` builds for SQL compile here to a predicate over a
``lookup(key) -> value`` function: a missing value (None) matches only ``IS NULL`` (and
``!=`` / ``NOT IN`` never match it, as in SQL). ``LIKE`` is case-sensitive, ``ILIKE`` not;
``%`` is any run of characters and ``_`` any one.

>>> from query.filter import parse
>>> match = predicate(parse("name LIKE 'fraud%' and tags.team = 'risk'", {"name": "string"}))
>>> match(lambda key: {"name": "fraud-v2", "team": "risk"}[key.name])
True
"""

from __future__ import annotations

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
    for ch in pattern:
        parts.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
    return re.compile("".join(parts), re.S | (re.I if insensitive else 0))


def like(value: str, pattern: str, *, insensitive: bool = False) -> bool:
    return _like_regex(pattern, insensitive).fullmatch(value) is not None


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
    if isinstance(target, float | int) and not isinstance(value, float | int):
        try:
            value = float(value)
        except (TypeError, ValueError):
            return False
    elif isinstance(target, str):
        value = str(value)
    return {
        "=": value == target, "!=": value != target, "<": value < target,
        "<=": value <= target, ">": value > target, ">=": value >= target,
    }[op]


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
