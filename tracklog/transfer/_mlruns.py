"""A look over an MLflow ``mlruns`` folder before MLflow's file store reads it.

MLflow's file store trusts its folder: it follows symlinks (a run folder linked elsewhere is
read, its artifacts copied), opens whatever is named like its files (a FIFO blocks it for ever)
and reads each ``meta.yaml`` whole. An import treats the folder as hostile, so this walk (which
follows no symlink) stops it first, with a `TransferError` naming the file:

- a symlink whose target is outside the folder (a run or experiment folder, an artifact…);
- a FIFO, socket or device anywhere in it;
- a ``meta.yaml`` (or a param or tag file) over `META_LIMIT` bytes: MLflow's own are < 2 kB.

What MLflow then fails to parse (a ``meta.yaml`` that is not YAML or has wrong types, a metric
file with garbage lines) stops the import with a `TransferError` naming the entity being read
and MLflow's message (which names the file): see `tracklog.transfer.mlflow_import`.
"""

from __future__ import annotations

import os
import stat

from eventlog.errors import TransferError

__all__ = ["META_LIMIT", "check_mlruns"]

META_LIMIT = 1 << 20  # bytes of a meta.yaml, param or tag file (MLflow caps values at 8 kB, tags at 8 MB… in a db)


def check_mlruns(root: str) -> None:
    """Raise `TransferError` for the first hostile entry under the folder `root` (see above)."""
    real_root = os.path.realpath(root)
    for dirpath, dirnames, filenames in os.walk(root):  # never descends into a symlinked folder
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            mode = os.lstat(path).st_mode
            if stat.S_ISLNK(mode):
                target = os.path.realpath(path)
                if os.path.commonpath([real_root, target]) != real_root:
                    raise TransferError(f"the MLflow folder {root} is not imported: {path} is a symlink to {target}, "
                                        "outside it (an import reads only what the folder holds)")
            elif stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
                raise TransferError(f"the MLflow folder {root} is not imported: {path} is not a regular file "
                                    "(a FIFO, socket or device; reading it would block or never end)")
            elif stat.S_ISREG(mode) and _is_meta(dirpath, name) and os.lstat(path).st_size > META_LIMIT:
                raise TransferError(f"the MLflow folder {root} is not imported: {path} has {os.lstat(path).st_size:,} "
                                    f"bytes, over the {META_LIMIT:,} such a file may have")


def _is_meta(dirpath: str, name: str) -> bool:
    return name == "meta.yaml" or os.path.basename(dirpath) in ("params", "tags")
