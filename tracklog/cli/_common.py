"""What the ``tracklog`` commands share: the ``--store`` option, the client of a store or server,
times and tables as text. (`tracklog.models.cli` imports these too.)"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import click

from eventlog import EventLog, UnsupportedStoreError
from projections import ViewType
from tracklog._config import get_tracking_uri
from tracklog.tracking.client import Client

__all__ = ["STORE_HELP", "VIEWS", "client", "ms", "parse_when", "store_itself", "store_option", "table"]

STORE_HELP = ("Where the runs are: a folder, file://…, s3://…, memory://…, or a tracking server's http(s)://… "
              "(default: TRACKLOG_TRACKING_URI, else ./tracklog-runs).")
store_option = click.option("--store", "store", envvar="TRACKLOG_TRACKING_URI", default=None, metavar="URI",
                             help=STORE_HELP)
VIEWS = {"active": ViewType.ACTIVE_ONLY, "deleted": ViewType.DELETED_ONLY, "all": ViewType.ALL}


def client(store: str | None, *, reading: bool = False) -> Any:
    """`tracklog.Client` of a store or, for ``http(s)://``, of a tracking server (the same methods).

    `reading`: the command only reads, so a store that does not exist is an error (never created).
    """
    found = Client(store)
    if reading:
        found.store.require_store()
    return found


def store_itself(store: str | None, command: str) -> Any:
    """The event log of a store that exists, for commands that work on its files, not through a server."""
    uri = store or get_tracking_uri()
    if uri.startswith(("http://", "https://")):
        raise UnsupportedStoreError(
            f"`tracklog {command}` works on the store's files, not through a tracking server ({uri}): run it "
            "where the store is reachable, with --store set to the server's own --store (a folder or bucket)"
        )
    log = EventLog.open(uri)
    log.require_exists()
    return log


def ms(value: int | None) -> str:
    if not value:
        return ""
    return datetime.fromtimestamp(value / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    rows = [[str(c) for c in r] for r in rows]
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)


def parse_when(text: str | None) -> Any:
    if text is None:
        return None
    if text.strip().isdigit():
        return int(text)
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(f"expected an ISO time like 2026-11-26T10:00 or epoch ms, got {text!r}", param_hint="--as-of") from None
