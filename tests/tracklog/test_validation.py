"""MLflow's validation rules, table-driven from tests/fixtures/validation_cases.json."""

from __future__ import annotations

import json
import pathlib
import re

import pytest

import tracklog
from eventlog import errors
from eventlog.validation import check_batch_size

_CASES = json.loads((pathlib.Path(__file__).parent.parent / "fixtures" / "validation_cases.json").read_text())["cases"]


def _expand(args: dict) -> dict:
    args = dict(args)
    if "_repeat" in args:
        args["value"] = args["value"] * args.pop("_repeat")
    if "_key_repeat" in args:
        args["key"] = args["key"] * args.pop("_key_repeat")
    if "_name_repeat" in args:
        args["name"] = args["name"] * args.pop("_name_repeat")
    return args


@pytest.mark.parametrize("case", _CASES, ids=lambda c: f"{c['call']}-{c['error'][0] if c['error'] else 'ok'}-{str(c['args'].get('key', c['args'].get('name', '')))[:12]}")
def test_validation_case(tracking_uri: str, case: dict) -> None:
    client = tracklog.Client()
    run_id = client.create_run("0").info.run_id
    args = _expand(case["args"])
    call = {
        "log_metric": lambda: client.log_metric(run_id, **args),
        "log_param": lambda: client.log_param(run_id, **args),
        "set_tag": lambda: client.set_tag(run_id, **args),
        "create_experiment": lambda: client.create_experiment(**args),
    }[case["call"]]
    if case["error"] is None:
        call()
        return
    cls = getattr(errors, case["error"][0])
    with pytest.raises(cls, match=re.escape(case["error"][1])):
        call()


def test_nothing_is_recorded_by_a_rejected_call(tracking_uri: str) -> None:
    client = tracklog.Client()
    run_id = client.create_run("0").info.run_id
    with pytest.raises(errors.InvalidKeyError):
        client.log_batch(run_id, metrics=[tracklog.Metric(key="ok", value=1.0, timestamp=0, step=0),
                                          tracklog.Metric(key="not ok!", value=1.0, timestamp=0, step=0)])
    assert client.get_run(run_id).data.metrics == {}


def test_nan_and_infinities_are_kept(tracking_uri: str) -> None:
    client = tracklog.Client()
    run_id = client.create_run("0").info.run_id
    for step, value in enumerate([float("nan"), float("inf"), float("-inf")]):
        client.log_metric(run_id, "m", value, step=step)
    values = [m.value for m in client.get_metric_history(run_id, "m")]
    assert values[0] != values[0] and values[1:] == [float("inf"), float("-inf")]


def test_numpy_scalars_are_metric_values(tracking_uri: str) -> None:
    np = pytest.importorskip("numpy")
    client = tracklog.Client()
    run_id = client.create_run("0").info.run_id
    client.log_metric(run_id, "m", np.float32(0.5), step=np.int64(3))
    assert client.get_metric_history(run_id, "m")[0].step == 3


@pytest.mark.parametrize(("metrics", "params", "tags", "message"), [
    (1001, 0, 0, "at most 1000 metrics, got 1001"),
    (0, 101, 0, "at most 100 params, got 101"),
    (0, 0, 101, "at most 100 tags, got 101"),
    (950, 100, 0, "at most 1000 metrics, params and tags in all, got 1050"),
])
def test_batch_limits(metrics: int, params: int, tags: int, message: str) -> None:
    with pytest.raises(errors.BatchTooLargeError, match=message):
        check_batch_size(metrics, params, tags)


def test_logging_to_a_deleted_run_is_refused_and_restoring_allows_it(tracking_uri: str) -> None:
    client = tracklog.Client()
    run_id = client.create_run("0").info.run_id
    client.delete_run(run_id)
    with pytest.raises(errors.RunNotActiveError, match=f"The run {run_id} must be in the 'active' state"):
        client.log_metric(run_id, "m", 1.0)
    with pytest.raises(errors.RunNotActiveError):
        client.log_param(run_id, "p", 1)
    client.restore_run(run_id)
    client.log_metric(run_id, "m", 1.0)
    assert client.get_run(run_id).data.metrics == {"m": 1.0}


def test_params_are_immutable_but_the_same_value_is_fine(tracking_uri: str) -> None:
    client = tracklog.Client()
    run_id = client.create_run("0").info.run_id
    client.log_param(run_id, "lr", 0.1)
    client.log_param(run_id, "lr", "0.1")
    with pytest.raises(errors.ParamChangedError, match=r"param 'lr' of run \w+ was logged as '0.1' and cannot become '0.2'"):
        client.log_param(run_id, "lr", 0.2)
    with pytest.raises(errors.ParamChangedError, match="appears twice in one batch"):
        client.log_batch(run_id, params=[tracklog.Param(key="a", value="1"), tracklog.Param(key="a", value="2")])


@pytest.mark.parametrize("published", [False, True])
def test_a_param_stays_immutable_after_its_run_ends(tracking_uri: str, published: bool) -> None:
    """While a run created here is open its params are checked from memory; after its end, from the store."""
    client = tracklog.Client()
    run_id = client.create_run("0").info.run_id
    client.log_batch(run_id, params=[tracklog.Param(key="lr", value="0.1"), tracklog.Param(key="bs", value="32")])
    client.set_terminated(run_id)
    if published:
        tracklog.flush()
    client.log_param(run_id, "lr", "0.1")
    with pytest.raises(errors.ParamChangedError, match=r"param 'bs' of run \w+ was logged as '32' and cannot become '64'"):
        client.log_param(run_id, "bs", 64)


def test_unknown_runs_and_experiments_raise_not_found(tracking_uri: str) -> None:
    client = tracklog.Client()
    with pytest.raises(errors.RunNotFoundError, match="Run with id='0123abcd' not found"):
        client.get_run("0123abcd")
    with pytest.raises(errors.RunNotFoundError):
        client.log_metric("0123abcd", "m", 1.0)
    with pytest.raises(errors.ExperimentNotFoundError, match="No Experiment with id='42'"):
        client.get_experiment("42")
    assert isinstance(errors.RunNotFoundError("x"), LookupError)
    assert isinstance(errors.InvalidKeyError("x"), ValueError)


@pytest.mark.parametrize(("bad", "error", "message"), [
    ({"value": "1.5"}, errors.InvalidValueError, "metric 'm' must have a numeric value"),
    ({"value": True}, errors.InvalidValueError, "got bool True"),
    ({"step": 2**63}, errors.InvalidValueError, "step of metric 'm' is 9223372036854775808, outside the 64-bit range"),
    ({"timestamp": -1}, errors.InvalidValueError, "must be a nonnegative number of ms since the epoch, got -1"),
    ({"key": ["m"]}, errors.InvalidKeyError, r"metrics\[599\].key must be a string, got list"),
])
def test_a_bad_point_anywhere_in_a_batch_refuses_the_whole_batch(tracking_uri: str, bad: dict, error: type,
                                                                  message: str) -> None:
    """log_batch checks its points column by column: the last of 600 still stops all of them."""
    client = tracklog.Client()
    run_id = client.create_run("0").info.run_id
    points = [tracklog.Metric(key="m", value=float(i), timestamp=i, step=i) for i in range(599)]
    points.append(tracklog.Metric(**{"key": "m", "value": 1.0, "timestamp": 1, "step": 1, **bad}))
    with pytest.raises(error, match=message):
        client.log_batch(run_id, metrics=points)
    assert client.get_run(run_id).data.metrics == {}
    assert len(client.get_metric_history(run_id, "m")) == 0


def test_batches_and_steps_convert_numbers_as_log_metric_does(tracking_uri: str) -> None:
    """ints and NumPy scalars become floats, a missing step 0 and a missing timestamp now, in
    log_batch and log_metrics as in log_metric."""
    np = pytest.importorskip("numpy")
    client = tracklog.Client()
    run_id = client.create_run("0").info.run_id
    client.log_batch(run_id, metrics=[tracklog.Metric(key="a", value=3, timestamp=5, step=np.int64(2)),
                                      tracklog.Metric(key="b", value=np.float32(0.5), timestamp=None, step=None)])
    tracklog.log_metrics({"c": 2, "d": np.float64(0.25)}, step=np.int32(4), run_id=run_id)
    history = {key: client.get_metric_history(run_id, key)[0] for key in "abcd"}
    assert [(h.value, h.step) for h in history.values()] == [(3.0, 2), (0.5, 0), (2.0, 4), (0.25, 4)]
    assert all(type(h.value) is float for h in history.values())
    assert history["a"].timestamp == 5 and history["b"].timestamp > 1_600_000_000_000
