"""MLflow's input rules, checked before anything is recorded.

The limits are MLflow's (``mlflow/utils/validation.py``), so data that MLflow accepts is
accepted here and data it refuses is refused — but unlike MLflow, nothing is silently
truncated: an over-long value is an error that says how long it was and what the limit is.
"""

from __future__ import annotations

import math
import numbers
import posixpath
import re
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from eventlog.errors import (
    BatchTooLargeError,
    InvalidKeyError,
    InvalidValueError,
    ValueTooLongError,
)

__all__ = [
    "MAX_ENTITY_KEY_LENGTH",
    "MAX_EXPERIMENT_NAME_LENGTH",
    "MAX_EXPERIMENT_TAG_VAL_LENGTH",
    "MAX_METRICS_PER_BATCH",
    "MAX_PARAMS_TAGS_PER_BATCH",
    "MAX_PARAM_VAL_LENGTH",
    "MAX_TAG_VAL_LENGTH",
    "MetricColumns",
    "MetricLink",
    "check_batch_size",
    "check_experiment_name",
    "check_key",
    "check_metric_points",
    "check_metric_value",
    "check_run_id",
    "check_step",
    "check_string_value",
    "check_timestamp",
]

MAX_PARAMS_TAGS_PER_BATCH = 100
MAX_METRICS_PER_BATCH = 1000
MAX_ENTITIES_PER_BATCH = 1000
MAX_PARAM_VAL_LENGTH = 6000
MAX_TAG_VAL_LENGTH = 8000
MAX_EXPERIMENT_NAME_LENGTH = 500
MAX_EXPERIMENT_TAG_VAL_LENGTH = 20000
MAX_ENTITY_KEY_LENGTH = 250
MAX_DATASET_NAME_LENGTH = 500
MAX_DATASET_DIGEST_LENGTH = 36

_KEY_CHARS = re.compile(r"[/\w.\- :]*")
_RUN_ID = re.compile(r"[a-zA-Z0-9][\w\-]{0,255}")
_ALLOWED = "alphanumerics, underscores (_), dashes (-), periods (.), spaces ( ), colons (:) and slashes (/)"
_INT64 = (-(2**63), 2**63 - 1)


def check_key(what: str, key: Any) -> str:
    """Check a metric, param or tag key; `what` names it in the message ("metric key")."""
    if not isinstance(key, str):
        raise InvalidKeyError(f"{what} must be a string, got {type(key).__name__} {key!r}")
    if not key:
        raise InvalidKeyError(f"{what} must not be empty")
    if len(key) > MAX_ENTITY_KEY_LENGTH:
        raise ValueTooLongError(
            f"{what} {key[:40]!r}… is {len(key)} characters long; the limit is {MAX_ENTITY_KEY_LENGTH}"
        )
    match = _KEY_CHARS.match(key)
    assert match is not None
    if match.end() != len(key):
        bad = key[match.end()]
        raise InvalidKeyError(
            f"{what} {key!r} has {bad!r} at position {match.end()}; names may only contain {_ALLOWED}"
        )
    norm = posixpath.normpath(key)
    if norm != key or norm == "." or norm.startswith("..") or norm.startswith("/"):
        raise InvalidKeyError(
            f"{what} {key!r} is treated as a file path in places and must not resolve to another "
            f"name; it would resolve to {norm!r}"
        )
    return key


def check_string_value(what: str, key: str, value: Any, limit: int) -> str:
    """Turn a param/tag value into its stored string (MLflow stores ``str(value)``) and check its length."""
    text = value if isinstance(value, str) else str(value)
    if len(text) > limit:
        raise ValueTooLongError(
            f"{what} for key {key!r} is {len(text)} characters long; the limit is {limit}"
        )
    return text


def check_metric_value(key: str, value: Any) -> float:
    """A metric value is a real number (NaN and ±inf are kept); bools and strings are refused."""
    # numpy scalars register as numbers.Real; a 0-d array or a tensor offers __float__
    if isinstance(value, bool | str) or not (isinstance(value, numbers.Real) or hasattr(value, "__float__")):
        raise InvalidValueError(
            f"metric {key!r} must have a numeric value (a 64-bit float), got {type(value).__name__} {value!r}"
        )
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError) as exc:
        raise InvalidValueError(
            f"metric {key!r} must have a numeric value (a 64-bit float), got {value!r}"
        ) from exc


def _check_int64(what: str, key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        if isinstance(value, float) and value.is_integer() and not math.isinf(value):
            value = int(value)
        else:
            raise InvalidValueError(
                f"{what} of metric {key!r} must be an integer (64-bit), got {type(value).__name__} {value!r}"
            )
    value = int(value)
    if not _INT64[0] <= value <= _INT64[1]:
        raise InvalidValueError(f"{what} of metric {key!r} is {value}, outside the 64-bit range")
    return value


def check_step(key: str, step: Any) -> int:
    return _check_int64("step", key, step)


def check_timestamp(key: str, timestamp: Any) -> int:
    value = _check_int64("timestamp", key, timestamp)
    if value < 0:
        raise InvalidValueError(
            f"timestamp of metric {key!r} must be a nonnegative number of ms since the epoch, got {value}"
        )
    return value


class MetricColumns(NamedTuple):
    """Checked metric points of one batch, column by column."""

    keys: list[str]
    values: list[float]
    steps: list[int]
    timestamps: list[int]


class MetricLink(NamedTuple):
    """A batch's point that is also a logged model's metric (MLflow 3), on a dataset if named."""

    model_id: str
    dataset_name: str
    dataset_digest: str


def check_metric_points(metrics: Sequence[Any], known_keys: set[str], remember: Callable[[str], None],
                        now_ms: int) -> MetricColumns:
    """Check metric entities (``key, value, step, timestamp`` attributes) as `log_batch` gets
    them; returns them as columns, a missing step as 0 and a missing timestamp as `now_ms`.

    Column at a time: the common batch — known keys, floats, int steps and timestamps in range —
    costs a few C-level passes; a column with anything else goes through the full checks point
    by point, whose errors name the point's index. `known_keys` are keys checked before;
    `remember` is told each newly checked key.
    """
    keys = [m.key for m in metrics]
    values = [m.value for m in metrics]
    steps = [m.step for m in metrics]
    stamps = [m.timestamp for m in metrics]
    try:
        all_known = known_keys.issuperset(keys)
    except TypeError:  # an unhashable key: the checks below name it
        all_known = False
    if not all_known:
        for i, key in enumerate(keys):
            if key.__class__ is not str or key not in known_keys:
                remember(check_key(f"metrics[{i}].key", key))
    if set(map(type, values)) - {float}:
        values = [v if v.__class__ is float else check_metric_value(k, v) for k, v in zip(keys, values, strict=True)]
    if set(map(type, steps)) - {int} or (steps and not _INT64[0] <= min(steps) <= max(steps) <= _INT64[1]):
        steps = [0 if s is None else check_step(k, s) for k, s in zip(keys, steps, strict=True)]
    if set(map(type, stamps)) - {int} or (stamps and not 0 <= min(stamps) <= max(stamps) <= _INT64[1]):
        stamps = [now_ms if t is None else check_timestamp(k, t) for k, t in zip(keys, stamps, strict=True)]
    return MetricColumns(keys, values, steps, stamps)


def check_experiment_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidValueError(f"experiment name must be a non-empty string, got {name!r}")
    if len(name) > MAX_EXPERIMENT_NAME_LENGTH:
        raise ValueTooLongError(
            f"experiment name {name[:40]!r}… is {len(name)} characters long; the limit is "
            f"{MAX_EXPERIMENT_NAME_LENGTH}"
        )
    return name


def check_run_id(run_id: Any) -> str:
    if not isinstance(run_id, str) or not _RUN_ID.fullmatch(run_id):
        raise InvalidValueError(
            f"run id must be 1-256 characters of letters, digits, '_' and '-', starting with a "
            f"letter or digit; got {run_id!r}"
        )
    return run_id


def check_batch_size(metrics: int, params: int, tags: int) -> None:
    """MLflow's log_batch limits: 1000 metrics, 100 params and tags, 1000 entities in all."""
    if metrics > MAX_METRICS_PER_BATCH:
        raise BatchTooLargeError(
            f"a batch may hold at most {MAX_METRICS_PER_BATCH} metrics, got {metrics}"
        )
    if params > MAX_PARAMS_TAGS_PER_BATCH:
        raise BatchTooLargeError(
            f"a batch may hold at most {MAX_PARAMS_TAGS_PER_BATCH} params, got {params}"
        )
    if tags > MAX_PARAMS_TAGS_PER_BATCH:
        raise BatchTooLargeError(
            f"a batch may hold at most {MAX_PARAMS_TAGS_PER_BATCH} tags, got {tags}"
        )
    if metrics + params + tags > MAX_ENTITIES_PER_BATCH:
        raise BatchTooLargeError(
            f"a batch may hold at most {MAX_ENTITIES_PER_BATCH} metrics, params and tags in all, "
            f"got {metrics + params + tags}"
        )
