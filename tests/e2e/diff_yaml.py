"""A small YAML writer for the differential test: the data it means, written the many ways users write it.

Nodes are plain data, or the wrappers below for what only YAML text can say (anchors, aliases, merge keys).
`data_of(node)` is what kubectl reads from the text: the wrappers resolved.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Anchored:
    """`&name value`: the value, with an anchor later nodes may alias or merge."""

    name: str
    value: Any


@dataclass(frozen=True)
class Alias:
    """`*name`: the value of an earlier anchor (repeated here so the data is known)."""

    name: str
    value: Any


@dataclass(frozen=True)
class Merged:
    """`<<: *base` plus `overrides`: the base mapping's keys, overridden."""

    base: str
    base_value: dict[str, Any]
    overrides: dict[str, Any]


@dataclass(frozen=True)
class Flow:
    """A mapping or list written in flow style (`{a: b}`, `[x, y]`)."""

    value: Any


@dataclass(frozen=True)
class Commented:
    """A value with a comment line before its key (mapping values) or item."""

    value: Any
    comment: str = "note"


def data_of(node: Any) -> Any:
    if isinstance(node, Anchored | Alias | Flow | Commented):
        return data_of(node.value)
    if isinstance(node, Merged):
        return {**data_of(node.base_value), **{k: data_of(v) for k, v in node.overrides.items()}}
    if isinstance(node, dict):
        return {k: data_of(v) for k, v in node.items()}
    if isinstance(node, list):
        return [data_of(v) for v in node]
    return node


# Plain scalars that YAML 1.1 (kubectl) and 1.2 both read as the same string.
_PLAIN = re.compile(r"[A-Za-z_/][A-Za-z0-9_./-]*")
_RESERVED = {"y", "yes", "n", "no", "true", "false", "on", "off", "null", "nan", "inf"}


@dataclass
class Style:
    """How scalars are written."""

    quotes: str = "double"  # double | single | plain (plain where unambiguous, else double)
    trailing_comments: bool = False
    seen: list[int] = field(default_factory=list)

    def scalar(self, value: Any) -> str:
        if value is None:
            return "null"
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int | float):
            return json.dumps(value)
        text = str(value)
        if self.quotes == "plain" and _PLAIN.fullmatch(text) and text.lower() not in _RESERVED:
            return text
        if self.quotes == "single" and text.isprintable():
            return "'" + text.replace("'", "''") + "'"
        return json.dumps(text, ensure_ascii=False)

    def key(self, key: str) -> str:
        return key if _PLAIN.fullmatch(key) and key.lower() not in _RESERVED else json.dumps(key)


def _flow(node: Any, style: Style) -> str:
    value = data_of(node)
    if isinstance(value, dict):
        return "{" + ", ".join(f"{style.key(k)}: {_flow(v, style)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_flow(v, style) for v in value) + "]"
    return style.scalar(value)


def _inline(node: Any, style: Style) -> str | None:
    """The text of a node that fits after `key: ` or `- `, else None (it needs its own lines)."""
    if isinstance(node, Flow):
        return _flow(node.value, style)
    if isinstance(node, Alias):
        return f"*{node.name}"
    if isinstance(node, dict | list | Merged | Anchored):
        if isinstance(node, dict | list) and not node:
            return "{}" if isinstance(node, dict) else "[]"
        if isinstance(node, Anchored) and _inline(node.value, style) is not None:
            return f"&{node.name} {_inline(node.value, style)}"
        return None
    text = style.scalar(node)
    if style.trailing_comments and not isinstance(node, bool | int | float):
        text += "  # c"
    return text


def _mapping_lines(node: dict[str, Any] | Merged, indent: int, style: Style) -> list[str]:
    pad = " " * indent
    lines: list[str] = []
    items = list(node.items()) if isinstance(node, dict) else list(node.overrides.items())
    if isinstance(node, Merged):
        lines.append(f"{pad}<<: *{node.base}")
    for key, value in items:
        if isinstance(value, Commented):
            lines.append(f"{pad}# {value.comment}")
            value = value.value
        inline = _inline(value, style)
        if inline is not None:
            lines.append(f"{pad}{style.key(key)}: {inline}")
            continue
        anchor = ""
        if isinstance(value, Anchored):
            anchor, value = f" &{value.name}", value.value
        lines.append(f"{pad}{style.key(key)}:{anchor}")
        if isinstance(value, list):
            lines.extend(_sequence_lines(value, indent, style))  # kubectl style: "- " at the key's indent
        else:
            lines.extend(_mapping_lines(value, indent + 2, style))
    return lines


def _sequence_lines(node: list[Any], indent: int, style: Style) -> list[str]:
    pad = " " * indent
    lines: list[str] = []
    for item in node:
        if isinstance(item, Commented):
            lines.append(f"{pad}# {item.comment}")
            item = item.value
        inline = _inline(item, style)
        if inline is not None:
            lines.append(f"{pad}- {inline}")
            continue
        anchor = ""
        if isinstance(item, Anchored):
            anchor, item = f"&{item.name}", item.value
        if isinstance(item, list):
            lines.append(f"{pad}- {anchor}".rstrip())
            lines.extend(_sequence_lines(item, indent + 2, style))
            continue
        body = _mapping_lines(item, indent + 2, style)
        if anchor:
            lines.append(f"{pad}- {anchor}")
            lines.extend(body)
        else:
            lines.append(f"{pad}- {body[0].lstrip()}")
            lines.extend(body[1:])
    return lines


def dump(node: Any, style: Style | None = None) -> str:
    """One document's text (no `---`), ending with a newline."""
    return "\n".join(_mapping_lines(node, 0, style or Style())) + "\n"
