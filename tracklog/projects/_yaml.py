"""A YAML file read as PyYAML nodes, so that every error can name the file, the line and the field."""

from __future__ import annotations

import difflib
import warnings
from collections.abc import Iterable
from typing import Any

import yaml

from eventlog.errors import InvalidProjectError

__all__ = ["Document"]


class Document:
    """One YAML document: typed accessors over its nodes that fail with `InvalidProjectError`."""

    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self._loader = yaml.SafeLoader(text)
        try:
            self.root: yaml.Node | None = self._loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            raise InvalidProjectError(
                f"not valid YAML: {exc.problem or exc.context}", path=path,
                line=mark.line + 1 if mark else None,
            ) from exc
        except yaml.YAMLError as exc:
            raise InvalidProjectError(f"not valid YAML: {exc}", path=path) from exc

    @classmethod
    def read(cls, path: str) -> Document:
        try:
            with open(path, encoding="utf-8") as fh:
                return cls(path, fh.read())
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidProjectError(f"cannot be read: {exc}", path=path) from exc

    def error(self, node: yaml.Node | None, field: str | None, message: str) -> InvalidProjectError:
        line = node.start_mark.line + 1 if node is not None else None
        return InvalidProjectError(message, path=self.path, line=line, field=field or None)

    def mapping(self, node: yaml.Node | None, field: str, allowed: Iterable[str] | None = None) -> dict[str, tuple[yaml.Node, yaml.Node]]:
        """The entries of a mapping node as ``{key: (key node, value node)}``."""
        if not isinstance(node, yaml.MappingNode):
            raise self.error(node, field, f"expected a mapping (key: value lines), got {_kind(node)}")
        entries: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        known = list(allowed) if allowed is not None else None
        for key_node, value_node in node.value:
            where = _join(field, str(key_node.value))
            if not isinstance(key_node, yaml.ScalarNode) or key_node.value == "":
                raise self.error(key_node, field, f"expected a name as key, got {_kind(key_node)}")
            key = key_node.value
            if key in entries:
                raise self.error(key_node, where, f"duplicate key (first on line {entries[key][0].start_mark.line + 1})")
            if known is not None and key not in known:
                close = difflib.get_close_matches(key, known, n=1)
                if close:  # a near miss is a typo that would silently lose what it meant
                    raise self.error(key_node, where, f"unknown key; did you mean {close[0]!r}?")
                # anything else is ignored, as MLflow ignores it, so existing projects run unchanged
                warnings.warn(f"{self.path}:{key_node.start_mark.line + 1}: {where}: unknown key ignored "
                              f"(known: {', '.join(known)})", stacklevel=2)
                continue
            entries[key] = (key_node, value_node)
        return entries

    def scalar(self, node: yaml.Node | None, field: str) -> str:
        """A scalar's text as written (so ``python: 3.10`` stays ``"3.10"``); null is an error."""
        if not isinstance(node, yaml.ScalarNode) or node.tag.endswith(":null"):
            raise self.error(node, field, f"expected a string, got {_kind(node)}")
        return str(node.value)

    def string_list(self, node: yaml.Node | None, field: str) -> tuple[str, ...]:
        if not isinstance(node, yaml.SequenceNode):
            raise self.error(node, field, f"expected a list of strings, got {_kind(node)}")
        return tuple(self.scalar(item, f"{field}[{i}]") for i, item in enumerate(node.value))

    def value(self, node: yaml.Node) -> Any:
        """The Python value PyYAML's safe loader gives this node (what MLflow sees)."""
        return self._loader.construct_object(node, deep=True)


def _join(field: str, key: str) -> str:
    return f"{field}.{key}" if field else key


def _kind(node: yaml.Node | None) -> str:
    if node is None:
        return "nothing"
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if node.tag.endswith(":null"):
        return "null"
    return f"{node.value!r}"
