"""The examples in docstrings run and print what they say."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["eventlog.log", "eventlog.storage", "tracklog", "tracklog.tracking.client", "tracklog.tracking.fluent", "tracklog.artifacts", "query.filter",
           "tracklog.models.signature", "tracklog.models.pyfunc", "tracklog.models.sklearn",
           "tracklog.tracing.fluent"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str, tracking_uri: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0, f"{name} has no examples"
    assert result.failed == 0
