"""The one page-token format of every search (runs, experiments, registry, logged models), on
every surface (Python, REST, the UI).

A token is url-safe base64 of ``{"s": signature, "k": keys}``: the signature of the search it
belongs to (filter, order, scope), and the sort keys of the last row of the page. The next page
is the rows strictly after that row in the sort order (keyset paging), so pages stay stable
while rows are added. A token given to another search, or altered, is refused with a message
that says which.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Sequence
from typing import Any

from eventlog.errors import InvalidValueError

__all__ = ["after_clause", "decode_token", "encode_token", "signature"]


def signature(*parts: Any) -> str:
    """A short digest of what defines a search; a token only continues the search it came from."""
    return hashlib.sha256(json.dumps(parts, default=str, sort_keys=True).encode()).hexdigest()[:12]


def encode_token(sig: str, keys: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps({"s": sig, "k": keys}).encode()).decode()


def decode_token(token: str, sig: str) -> list[Any]:
    """The sort keys a token holds; raises `InvalidValueError` for a foreign or damaged token."""
    try:
        payload = json.loads(base64.urlsafe_b64decode(token.encode()))
        keys, token_sig = payload["k"], payload["s"]
        if not isinstance(keys, list):
            raise TypeError("keys")
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidValueError(f"page_token {token[:16]!r}… is not a token this API returned") from exc
    if token_sig != sig:
        raise InvalidValueError(f"page_token {token[:16]!r}… belongs to a different search "
                                "(its filter, order or scope changed)")
    return keys


def after_clause(last: Sequence[Any], sort: Sequence[tuple[str, str, bool]], id_column: str,
                 add: Any) -> str:
    """SQL for "strictly after the row whose keys are `last`" in the order of `sort`.

    `sort` holds ``(rank SQL, value SQL, descending)`` per key — rank 0 for a value, higher for
    NaN and missing, always ascending — and the id breaks ties, ascending. `last` is
    ``[[rank, value], …, id]``; `add` turns a value into a parameter placeholder.
    """
    *pairs, last_id = last
    if len(pairs) != len(sort):
        raise InvalidValueError("page_token does not fit this search's order")
    ors: list[str] = []
    equal: list[str] = []
    for (last_rank, last_value), (rank, value, desc) in zip(pairs, sort, strict=True):
        ors.append(_all([*equal, f"{rank} > {add(last_rank)}"]))
        if last_rank == 0:  # a value: later values of the same rank come after it
            ors.append(_all([*equal, f"{rank} = 0", f"{value} {'<' if desc else '>'} {add(last_value)}"]))
            equal += [f"{rank} = 0", f"{value} = {add(last_value)}"]
        else:  # NaN or missing: every row of that rank ties on this key
            equal.append(f"{rank} = {add(last_rank)}")
    ors.append(_all([*equal, f"{id_column} > {add(last_id)}"]))
    return "(" + " OR ".join(ors) + ")"


def _all(parts: list[str]) -> str:
    return "(" + " AND ".join(parts) + ")"
