"""The filter grammar: table-driven cases, and printing and re-parsing as a property."""

from __future__ import annotations

import json
import pathlib

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from query.filter import (
    And,
    Comparison,
    FilterSyntaxError,
    Key,
    Or,
    parse,
    parse_order_by,
    to_string,
)

_CASES = json.loads((pathlib.Path(__file__).parent.parent / "fixtures" / "filter_cases.json").read_text())


@pytest.mark.parametrize(("text", "printed"), _CASES["valid"])
def test_valid_filters_print_canonically(text: str, printed: str) -> None:
    assert to_string(parse(text)) == printed


@pytest.mark.parametrize(("text", "column", "message"), _CASES["invalid"])
def test_errors_point_at_the_column(text: str, column: int, message: str) -> None:
    with pytest.raises(FilterSyntaxError) as info:
        parse(text)
    assert info.value.pos + 1 == column, str(info.value)
    assert message in str(info.value)
    assert str(info.value).splitlines()[-1].index("^") == column + 1  # the caret under the column


def test_blank_filters_match_everything() -> None:
    assert parse(None) is None and parse("  ") is None and to_string(None) == ""


@pytest.mark.parametrize(("clause", "key", "descending"), [
    ("metrics.acc DESC", Key("metric", "acc"), True),
    ("params.lr", Key("param", "lr"), False),
    ("attributes.start_time asc", Key("attribute", "start_time"), False),
    ("tags.`a b` DESC", Key("tag", "a b"), True),
    ("start_time DESC", Key("attribute", "start_time"), True),
])
def test_order_by(clause: str, key: Key, descending: bool) -> None:
    got, desc = parse_order_by(clause)
    assert (got.entity, got.name, desc) == (key.entity, key.name, descending)


def test_order_by_errors() -> None:
    with pytest.raises(FilterSyntaxError, match="expected ASC, DESC or the end"):
        parse_order_by("metrics.acc DOWN")


# ---- printing and re-parsing is the identity -------------------------------------------

_names = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="`\x00"), min_size=1, max_size=12)
def _writable(value: str) -> bool:
    """A value a filter string can hold: backslashes stay as written (MLflow's rule), so one
    ending a value, or standing before both kinds of quote, has no spelling."""
    return not value.endswith("\\") and not ("\\'" in value and '\\"' in value)


_strings = st.text(max_size=10).filter(_writable)
_metric = st.builds(lambda n, op, v: Comparison(Key("metric", n), op, v), _names,
                    st.sampled_from(["=", "!=", "<", "<=", ">", ">="]), st.floats(allow_nan=False, allow_infinity=False))
_string_cmp = st.builds(lambda e, n, op, v: Comparison(Key(e, n), op, v), st.sampled_from(["param", "tag"]), _names,
                        st.sampled_from(["=", "!=", "LIKE", "ILIKE"]), _strings)
_in_cmp = st.builds(lambda n, op, v: Comparison(Key("attribute", n), op, tuple(v)),
                    st.sampled_from(["status", "run_name", "run_id"]), st.sampled_from(["IN", "NOT IN"]),
                    st.lists(_strings, min_size=1, max_size=3))
_null_cmp = st.builds(lambda e, n, op: Comparison(Key(e, n), op, None), st.sampled_from(["param", "tag", "metric"]),
                      _names, st.sampled_from(["IS NULL", "IS NOT NULL"]))
_leaf = st.one_of(_metric, _string_cmp, _in_cmp, _null_cmp)


def _flat(cls):
    def build(items):
        flat = []
        for item in items:
            flat.extend(item.items if isinstance(item, cls) else [item])
        return cls(tuple(flat))
    return build


_tree = st.recursive(_leaf, lambda inner: st.one_of(
    st.lists(inner, min_size=2, max_size=3).map(_flat(And)),
    st.lists(inner, min_size=2, max_size=3).map(_flat(Or)),
), max_leaves=6)


def _strip(node):
    """The node without positions (printing does not keep them)."""
    if isinstance(node, And | Or):
        return type(node)(tuple(_strip(n) for n in node.items))
    return msgspec.structs.replace(node, key=Key(node.key.entity, node.key.name), pos=0)


@given(_tree)
def test_a_filter_prints_and_reparses_to_itself(node) -> None:
    assert _strip(parse(to_string(node))) == _strip(node)
