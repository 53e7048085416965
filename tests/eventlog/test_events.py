"""The event catalogue is stored schema: its tags and column types are pinned here."""

from __future__ import annotations

import inspect

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from eventlog import events
from eventlog.codec import control_fields, control_table, events_from_table, metric_schema

PINNED_TAGS = {
    "ArtifactLogged", "DatasetInputLogged", "ExperimentCreated", "ExperimentDeleted",
    "ExperimentRenamed", "ExperimentRestored", "ExperimentTagDeleted", "ExperimentTagSet",
    "MetricLogged", "ModelLogged", "ParamLogged", "RegisteredModelCreated", "RegisteredModelRenamed", "RegisteredModelDescriptionSet", "RegisteredModelDeleted", "RegisteredModelTagSet", "RegisteredModelTagDeleted", "ModelVersionCreated", "ModelVersionDescriptionSet", "ModelVersionStageSet", "ModelVersionDeleted", "ModelVersionTagSet", "ModelVersionTagDeleted", "ModelAliasSet", "ModelAliasDeleted", "RunDeleted", "RunDescriptionSet", "RunEnded", "RunRenamed",
    "RunRestored", "RunResumed", "RunStarted", "RunTagDeleted", "RunTagSet",
    "LoggedModelStatusSet", "LoggedModelTagSet", "LoggedModelTagDeleted", "LoggedModelParamLogged",
    "LoggedModelDeleted", "ModelOutputLogged", "ModelInputLogged", "LoggedModelMetricLogged",
    "RunHeartbeatSent", "RunHeartbeatLost",
    "TraceStarted", "SpanLogged", "TraceEnded", "TraceTagSet", "TraceTagDeleted", "TraceDeleted",
    "AssessmentLogged", "AssessmentDeleted", "TraceLinked",
    "ExperimentMerged", "SourceImported",  # issue 15: moving data
}


def test_the_tag_set_is_pinned() -> None:
    """Renaming or removing an event kind breaks every stored log: it must show up here."""
    assert set(events.event_kinds()) == PINNED_TAGS


@pytest.mark.parametrize("cls", list(events.event_kinds().values()))
def test_events_are_frozen_kw_only_and_gc_free(cls: type) -> None:
    config = cls.__struct_config__
    assert config.frozen and not config.gc
    params = inspect.signature(cls).parameters.values()
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in params)
    assert cls.__name__.endswith(("Created", "Renamed", "Deleted", "Restored", "Set", "Started",
                                  "Resumed", "Ended", "Logged", "Sent", "Lost", "Merged", "Imported", "Linked"))


@pytest.mark.parametrize("cls", list(events.event_kinds().values()))
def test_stored_fields_are_scalars(cls: type) -> None:
    for field in msgspec.structs.fields(cls):
        assert field.type in (str, int, float, bool), f"{cls.__name__}.{field.name}"


def test_a_control_column_keeps_one_type() -> None:
    columns = control_fields()
    assert columns["value"] is str and columns["size"] is int and columns["kind"] is str
    assert "value" in metric_schema().names and str(metric_schema().field("value").type) == "double"


_text = st.text(max_size=20)
_int = st.integers(min_value=-(2**63), max_value=2**63 - 1)
_envelope = {"writer_id": _text, "writer_seq": st.integers(0, 2**62), "ts": st.integers(0, 2**62), "actor": _text}


def _strategy(cls: type) -> st.SearchStrategy:
    fields = {}
    for f in msgspec.structs.fields(cls):
        fields[f.name] = {str: _text, int: _int, float: st.floats(allow_nan=False), bool: st.booleans()}[f.type]
    return st.builds(cls, **fields)


_any_control = st.one_of([_strategy(c) for c in events.CONTROL_EVENTS])


@given(st.lists(_any_control, max_size=8))
def test_control_events_round_trip_through_arrow(evs: list) -> None:
    assert events_from_table(control_table(evs)) == evs


@given(st.one_of(_any_control, _strategy(events.MetricLogged)))
def test_events_round_trip_through_msgpack(ev) -> None:
    data = msgspec.msgpack.encode(ev)
    assert msgspec.msgpack.decode(data, type=events.AnyEvent) == ev
