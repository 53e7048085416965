"""MLflow's search grammar: a tokenizer and a recursive-descent parser building typed nodes.

    metrics.acc > 0.9 and params.lr = '0.01'
    tags.`mlflow.user` ILIKE 'ann%' and attributes.status IN ('FINISHED', 'FAILED')
    (metrics.loss < 0.1 or metrics.acc >= 0.95) and datasets.context = 'training'

Beyond MLflow: ``OR`` and parentheses; ``IN``/``NOT IN`` and ``IS [NOT] NULL`` on every entity.
Trace search (``parse(…, traces=True)``) adds MLflow 3's ``span.*``, ``feedback.*`` and
``expectation.*`` keys and ``RLIKE`` (a regular expression, RE2's syntax, matching anywhere).
Every node keeps the column it started at, so an error points into the filter string:

    >>> parse("metrics.acc > 'high'")
    Traceback (most recent call last):
    ...
    eventlog.errors.FilterSyntaxError: col 15: metrics compare with numbers; expected a number, found 'high'
      metrics.acc > 'high'
                    ^
"""

from __future__ import annotations

import functools
import re
import threading
from typing import TYPE_CHECKING, Union

import msgspec

from eventlog.errors import FilterSyntaxError

if TYPE_CHECKING:
    import duckdb

__all__ = [
    "EXPERIMENT_ATTRIBUTES",
    "RUN_ATTRIBUTES",
    "TRACE_ENTITIES",
    "And",
    "Comparison",
    "FilterSyntaxError",
    "Key",
    "Node",
    "Or",
    "parse",
    "parse_order_by",
    "to_string",
]

ENTITIES = {
    "metric": "metric", "metrics": "metric",
    "param": "param", "params": "param", "parameter": "param", "parameters": "param",
    "tag": "tag", "tags": "tag",
    "attribute": "attribute", "attributes": "attribute", "attr": "attribute", "run": "attribute",
    "dataset": "dataset", "datasets": "dataset",
    # traces (MLflow 3): trace.status is attributes.status; metadata.x (or request_metadata.x) a metadata key
    "trace": "attribute", "metadata": "metadata", "request_metadata": "metadata",
}
# trace search only (MLflow 3's SearchTraceUtils): a span's fields, and a trace's assessments by name
TRACE_ENTITIES = {"span": "span", "feedback": "feedback", "expectation": "expectation"}
RUN_ATTRIBUTES = {
    "run_id": "string", "run_name": "string", "status": "string", "user_id": "string", "artifact_uri": "string",
    "lifecycle_stage": "string", "experiment_id": "string", "start_time": "numeric", "end_time": "numeric",
}
EXPERIMENT_ATTRIBUTES = {
    "experiment_id": "string", "name": "string", "lifecycle_stage": "string", "artifact_location": "string",
    "creation_time": "numeric", "last_update_time": "numeric",
}
ATTRIBUTE_ALIASES = {"created": "start_time", "Created": "start_time", "run name": "run_name",
                     "Run name": "run_name", "Run Name": "run_name", "run_uuid": "run_id"}
DATASET_KEYS = {"name", "digest", "context"}
NUMERIC_OPS = ("=", "!=", "<", "<=", ">", ">=")
STRING_OPS = ("=", "!=", "LIKE", "ILIKE", "IN", "NOT IN")
NULL_OPS = ("IS NULL", "IS NOT NULL")
# MLflow 3's comparators of the trace-only keys (SearchTraceUtils.VALID_*_COMPARATORS)
SPAN_FIELDS = ("name", "type", "status")
SPAN_OPS = ("=", "!=", "IN", "NOT IN", "LIKE", "ILIKE", "RLIKE")
SPAN_CONTENT_OPS = ("LIKE", "ILIKE")
ASSESSMENT_OPS = ("=", "!=", "LIKE", "ILIKE", "RLIKE", "IS NULL", "IS NOT NULL")


class Key(msgspec.Struct, frozen=True):
    # metric | param | tag | attribute | dataset; traces: metadata, span (name: name, type, status,
    # content or attributes.<attribute>), feedback, expectation (name: the assessment's name)
    entity: str
    name: str
    pos: int = msgspec.field(default=0)


class Comparison(msgspec.Struct, frozen=True, tag=True):
    key: Key
    op: str
    value: float | str | tuple[str, ...] | None
    pos: int = 0


class And(msgspec.Struct, frozen=True, tag=True):
    items: tuple[Node, ...]


class Or(msgspec.Struct, frozen=True, tag=True):
    items: tuple[Node, ...]


Node = Union[Comparison, And, Or]  # noqa: UP007 - msgspec needs a Union object

_TOKEN = re.compile(
    r"""(?P<ws>\s+)
      | (?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![\w.]))
      | (?P<ident>[A-Za-z_][\w.]*)
      | (?P<string>'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.|"")*")
      | (?P<backtick>`[^`]*`)
      | (?P<op><>|!=|<=|>=|=|<|>)
      | (?P<punct>[(),])""",
    re.X,
)
_KEYWORDS = {"AND", "OR", "NOT", "IN", "LIKE", "ILIKE", "RLIKE", "IS", "NULL"}


class _Token(msgspec.Struct, frozen=True):
    kind: str  # number | ident | string | backtick | op | punct | keyword | end
    text: str
    pos: int


def _tokenize(text: str) -> list[_Token]:
    tokens, pos = [], 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise FilterSyntaxError(text, pos, f"unexpected character {text[pos]!r}")
        kind = m.lastgroup or ""
        if kind != "ws":
            word = m.group()
            if kind == "ident" and word.upper() in _KEYWORDS:
                tokens.append(_Token("keyword", word.upper(), pos))
            else:
                tokens.append(_Token(kind, word, pos))
        pos = m.end()
    tokens.append(_Token("end", "", len(text)))
    return tokens


def _unquote(token: _Token) -> str:
    """A quoted string's value: an escaped quote (doubled, or after a backslash) is the quote; any
    other backslash stays, as MLflow keeps it (so ``LIKE 'x\\_y'`` reaches LIKE as ``x\\_y``)."""
    body, quote = token.text[1:-1], token.text[0]
    if quote == "`":
        return body
    return re.sub(r"\\(.)|" + re.escape(quote * 2), lambda m: quote if m.group(1) in (None, quote) else m.group(), body)


class _Parser:
    """One method per grammar rule:

        expr       := conj (OR conj)*
        conj       := primary (AND primary)*
        primary    := '(' expr ')' | comparison
        comparison := key op value
    """

    def __init__(self, text: str, attributes: dict[str, str], traces: bool = False) -> None:
        self.text = text
        self.attributes = attributes
        self.traces = traces
        self.entities = {**ENTITIES, **TRACE_ENTITIES} if traces else ENTITIES
        self.tokens = _tokenize(text)
        self.i = 0

    @property
    def tok(self) -> _Token:
        return self.tokens[self.i]

    def fail(self, message: str, token: _Token | None = None) -> FilterSyntaxError:
        token = token or self.tok
        found = {"end": "the end of the filter", "string": token.text}.get(token.kind, repr(token.text))
        return FilterSyntaxError(self.text, token.pos, f"{message}, found {found}")

    def take(self, kind: str, text: str | None = None) -> _Token | None:
        if self.tok.kind == kind and (text is None or self.tok.text == text):
            self.i += 1
            return self.tokens[self.i - 1]
        return None

    def expr(self) -> Node:
        items = [self.conj()]
        while self.take("keyword", "OR"):
            items.append(self.conj())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def conj(self) -> Node:
        items = [self.primary()]
        while self.take("keyword", "AND"):
            items.append(self.primary())
        return items[0] if len(items) == 1 else And(tuple(items))

    def primary(self) -> Node:
        if self.take("punct", "("):
            node = self.expr()
            if not self.take("punct", ")"):
                raise self.fail("expected ')'")
            return node
        return self.comparison()

    def key(self) -> Key:
        tok = self.tok
        if tok.kind == "backtick" or (tok.kind == "string" and tok.text[0] == '"'):
            raise self.fail("expected an entity such as metrics., params., tags. or attributes. before the quoted key")
        if tok.kind not in ("ident", "keyword"):
            raise self.fail("expected a key such as metrics.acc or params.lr")
        self.i += 1
        word = tok.text
        if "." not in word:
            return self._bare_key(tok)
        prefix, _, name = word.partition(".")
        entity = self.entities.get(prefix.lower() if prefix.lower() in self.entities else prefix)
        if entity is None:
            kinds = ("attributes (trace), tags, metadata, span, feedback, expectation" if self.traces
                     else "metrics, params, tags, attributes, datasets")
            raise FilterSyntaxError(self.text, tok.pos, f"unknown entity {prefix!r}; expected one of {kinds}")
        if not name or (entity == "span" and name == "attributes."):  # span.attributes.`a key`
            quoted = self.take("backtick") or self.take("string")
            if quoted is None:
                if name:
                    raise FilterSyntaxError(self.text, tok.pos, "Span attribute name cannot be empty after 'attributes.'")
                raise self.fail("expected a key name after the entity")
            name += _unquote(quoted)
        return self._checked(Key(entity, name, tok.pos))

    def _bare_key(self, tok: _Token) -> Key:
        name = ATTRIBUTE_ALIASES.get(tok.text, tok.text) if self.attributes is RUN_ATTRIBUTES else tok.text
        if name not in self.attributes:
            valid = ", ".join(sorted(self.attributes))
            raise FilterSyntaxError(
                self.text, tok.pos,
                f"unknown key {tok.text!r}; expected an attribute ({valid}) or an entity prefix, as in tags.{tok.text}",
            )
        return Key("attribute", name, tok.pos)

    def _checked(self, key: Key) -> Key:
        if key.entity == "attribute":
            name = ATTRIBUTE_ALIASES.get(key.name, key.name) if self.attributes is RUN_ATTRIBUTES else key.name
            if name not in self.attributes:
                valid = ", ".join(sorted(self.attributes))
                raise FilterSyntaxError(self.text, key.pos, f"unknown attribute {key.name!r}; expected one of {valid}")
            return Key("attribute", name, key.pos)
        if key.entity == "dataset" and key.name not in DATASET_KEYS:
            raise FilterSyntaxError(self.text, key.pos, f"unknown dataset key {key.name!r}; expected name, digest or context")
        if key.entity == "span" and key.name not in (*SPAN_FIELDS, "content") and not key.name.startswith("attributes."):
            raise FilterSyntaxError(self.text, key.pos, f"Invalid span attribute {key.name!r}. Supported attributes: "
                                                        "name, status, type, content, attributes.<attribute_name>")
        return key

    def allowed(self, key: Key) -> tuple[str, ...]:
        """The comparators `key` takes."""
        if key.entity == "span":
            return SPAN_CONTENT_OPS if key.name == "content" else SPAN_OPS
        if key.entity in ("feedback", "expectation"):
            return ASSESSMENT_OPS
        if self.numeric(key):
            return NUMERIC_OPS + NULL_OPS
        return STRING_OPS + ("RLIKE",) * self.traces + NULL_OPS

    def numeric(self, key: Key) -> bool:
        return key.entity == "metric" or (key.entity == "attribute" and self.attributes[key.name] == "numeric")

    def operator(self) -> str:
        tok = self.tok
        if self.take("op"):
            return "!=" if tok.text == "<>" else tok.text
        if self.take("keyword", "IS"):
            negated = bool(self.take("keyword", "NOT"))
            if not self.take("keyword", "NULL"):
                raise self.fail("expected NULL after IS")
            return "IS NOT NULL" if negated else "IS NULL"
        if self.take("keyword", "NOT"):
            if not self.take("keyword", "IN"):
                raise self.fail("expected IN after NOT")
            return "NOT IN"
        for word in ("LIKE", "ILIKE", "RLIKE", "IN"):
            if self.take("keyword", word):
                return word
        raise self.fail("expected a comparison operator (=, !=, <, <=, >, >=, LIKE, ILIKE, IN, NOT IN, IS NULL)")

    def comparison(self) -> Comparison:
        key = self.key()
        op_tok = self.tok
        op = self.operator()
        allowed = self.allowed(key)
        numeric = self.numeric(key)
        if op not in allowed:
            if key.entity in TRACE_ENTITIES:
                what = _key_text(key)
            else:
                what = f"{'numeric' if numeric else 'string'} key {key.entity}.{key.name}"
            scope = " (RLIKE is for trace search only, as in MLflow)" if op == "RLIKE" and not self.traces else ""
            raise FilterSyntaxError(self.text, op_tok.pos, f"{op} does not apply to {what}{scope}; "
                                                           f"expected one of {', '.join(allowed)}")
        if op in NULL_OPS:
            return Comparison(key, op, None, key.pos)
        if op in ("IN", "NOT IN"):
            return Comparison(key, op, self.string_list(), key.pos)
        value_tok = self.tok
        value = self.number(key) if numeric else self.string(key)
        if op == "RLIKE":
            _check_regex(self.text, value_tok.pos, str(value))
        return Comparison(key, op, value, key.pos)

    def number(self, key: Key) -> float:
        tok = self.take("number")
        if tok is None:
            what = "metrics" if key.entity == "metric" else f"attributes.{key.name}"
            raise self.fail(f"{what} compare with numbers; expected a number")
        return float(tok.text)

    def string(self, key: Key) -> str:
        tok = self.take("string")
        if tok is None:
            if key.entity in ("feedback", "expectation"):
                raise self.fail(f"{_key_text(key)} compares as a quoted string (the value's JSON, as MLflow: "
                                "'yes', 'true', '5'); expected a string such as 'value'")
            what = _key_text(key) if key.entity == "span" else f"{key.entity}s"
            raise self.fail(f"{what} compare with quoted strings; expected a string such as 'value'")
        return _unquote(tok)

    def string_list(self) -> tuple[str, ...]:
        if not self.take("punct", "("):
            raise self.fail("expected '(' to start the IN list")
        values = []
        while True:
            tok = self.take("string")
            if tok is None:
                raise self.fail("expected a quoted string in the IN list")
            values.append(_unquote(tok))
            if self.take("punct", ")"):
                return tuple(values)
            if not self.take("punct", ","):
                raise self.fail("expected ',' or ')' in the IN list")


def parse(text: str | None, attributes: dict[str, str] = RUN_ATTRIBUTES, *, traces: bool = False) -> Node | None:
    """Parse a filter string; None or blank gives None (match everything).

    `attributes` names the attribute keys and their types: `RUN_ATTRIBUTES` for runs,
    `EXPERIMENT_ATTRIBUTES` for experiments. `traces`: MLflow 3's trace search grammar, with
    ``span.*``, ``feedback.*`` and ``expectation.*`` keys and ``RLIKE``.
    """
    if text is None or not text.strip():
        return None
    parser = _Parser(text, attributes, traces)
    node = parser.expr()
    if parser.tok.kind != "end":
        raise parser.fail("expected AND, OR or the end of the filter")
    return node


def parse_order_by(clause: str, attributes: dict[str, str] = RUN_ATTRIBUTES, *, traces: bool = False) -> tuple[Key, bool]:
    """``metrics.acc DESC`` → (Key, descending). Accepts the same keys as filters."""
    parser = _Parser(clause, attributes, traces)
    key = parser.key()
    descending = False
    if parser.tok.kind == "ident" and parser.tok.text.upper() in ("ASC", "DESC"):
        descending = parser.tok.text.upper() == "DESC"
        parser.i += 1
    if parser.tok.kind != "end":
        raise parser.fail("expected ASC, DESC or the end of the order_by clause")
    return key, descending


_PLAIN_NAME = re.compile(r"[A-Za-z_][\w.]*")
_ENTITY_PREFIX = {"metric": "metrics", "param": "params", "tag": "tags", "attribute": "attributes", "dataset": "datasets",
                  "metadata": "metadata", "span": "span", "feedback": "feedback", "expectation": "expectation"}


def _key_text(key: Key) -> str:
    prefix, name = _ENTITY_PREFIX[key.entity], key.name
    if key.entity == "span" and name.startswith("attributes."):
        prefix, name = "span.attributes", name.removeprefix("attributes.")
    plain = _PLAIN_NAME.fullmatch(name) and name.upper() not in _KEYWORDS
    return f"{prefix}.{name}" if plain else f"{prefix}.`{name}`"


_REGEX_LOCK = threading.Lock()  # a DuckDB connection is not safe for two threads at once


@functools.cache
def _regex_connection() -> duckdb.DuckDBPyConnection:
    import duckdb

    return duckdb.connect()


def _check_regex(text: str, pos: int, pattern: str) -> None:
    """An RLIKE pattern that DuckDB's regular expressions (RE2) refuse, as a FilterSyntaxError at
    the pattern (checked here, on a connection of its own: never a DuckDB error mid-search)."""
    import duckdb

    with _REGEX_LOCK:
        try:
            _regex_connection().execute("SELECT regexp_matches('', $p)", {"p": pattern}).fetchall()
        except duckdb.Error as exc:
            reason = str(exc).removeprefix("Invalid Input Error: ")
            raise FilterSyntaxError(text, pos, f"RLIKE takes a regular expression (RE2's syntax); {reason}") from None


def _string_text(value: str) -> str:
    """`value` quoted so that it parses back to itself (backslashes stay as they are)."""
    for quote in ("'", '"'):
        if not value.endswith("\\") and "\\" + quote not in value:
            return quote + value.replace(quote, "\\" + quote) + quote
    raise ValueError(f"{value!r} cannot be written as a filter string (a backslash before both quote kinds)")


def to_string(node: Node | None) -> str:
    """Print a node as a filter string that parses back to the same node (positions aside)."""
    if node is None:
        return ""
    if isinstance(node, And | Or):
        joiner = " and " if isinstance(node, And) else " or "
        return joiner.join(f"({to_string(n)})" if isinstance(n, And | Or) else to_string(n) for n in node.items)
    key = _key_text(node.key)
    if node.value is None:
        return f"{key} {node.op}"
    if isinstance(node.value, tuple):
        return f"{key} {node.op} ({', '.join(_string_text(v) for v in node.value)})"
    if isinstance(node.value, float):
        return f"{key} {node.op} {node.value!r}"
    return f"{key} {node.op} {_string_text(node.value)}"
