"""Apply JSON Patch `add` ops to YAML text in place, so a changed document keeps its comments and layout.

The fast path splices new lines into the original text at the end of the mapping or sequence they extend,
using the node positions libyaml reports; `edit_document` checks the result by parsing it again and falls
back to a ruamel.yaml round trip (comments kept), then to a plain dump (comments lost) if that check fails.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import yaml
from ruamel.yaml import YAML

from webhook.documents import Document, _Loader

_PLAIN_RE = re.compile(r"[A-Za-z0-9_./@\\-][A-Za-z0-9_./:@\\ -]*")


class EditError(Exception):
    """The text cannot be edited in place (flow style, null values, aliases ...)."""


def edit_document(doc: Document, ops: list[dict[str, Any]], expected: Any) -> str:
    """New text for `doc` with `ops` applied; `expected` is the patched data the text must parse back to."""
    if doc.is_json:
        trailing = doc.raw[len(doc.raw.rstrip()) :] or "\n"
        lead = doc.raw[: len(doc.raw) - len(doc.raw.lstrip())]
        return lead + json.dumps(expected, indent=2, ensure_ascii=False) + trailing
    if doc.node is not None:
        try:
            text = splice(doc.raw, doc.node, ops)
        except EditError:
            pass
        else:
            if _parses_to(text, expected):
                return text
    try:
        text = roundtrip(doc.raw, ops)
    except Exception:  # any ruamel failure just means "use the plain dump"
        pass
    else:
        if _parses_to(text, expected):
            return text
    head = "---\n" if doc.raw.startswith("---") else ""
    return head + yaml.dump(
        expected, Dumper=_dumper(), sort_keys=False, default_flow_style=False, width=1 << 16
    )


def apply_ops(obj: Any, ops: list[dict[str, Any]]) -> Any:
    """Apply `add` ops in place (the only op the engine emits), as RFC 6902 defines them."""
    for op in ops:
        if op.get("op") != "add":
            raise EditError(f"unsupported op {op.get('op')!r}")
        parts = _split_pointer(op["path"])
        parent = obj
        for part in parts[:-1]:
            parent = parent[int(part)] if isinstance(parent, list) else parent[part]
        last = parts[-1]
        if isinstance(parent, list):
            if last == "-":
                parent.append(op["value"])
            else:
                parent.insert(int(last), op["value"])
        else:
            parent[last] = op["value"]
    return obj


def _dumper() -> type:
    return getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def _parses_to(text: str, expected: Any) -> bool:
    try:
        return yaml.load(text, Loader=_Loader) == expected
    except yaml.YAMLError:
        return False


def _split_pointer(path: str) -> list[str]:
    if not path.startswith("/"):
        raise EditError(f"not a JSON pointer: {path!r}")
    return [part.replace("~1", "/").replace("~0", "~") for part in path[1:].split("/")]


def _child(node: yaml.Node, part: str) -> yaml.Node:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == part:
                return value
        raise EditError(f"no key {part!r}")
    if isinstance(node, yaml.SequenceNode) and part.isdigit() and int(part) < len(node.value):
        return node.value[int(part)]
    raise EditError(f"cannot step into {part!r}")


def _resolve(root: yaml.Node, parts: list[str]) -> yaml.Node:
    node = root
    for part in parts:
        node = _child(node, part)
    return node


def _end(text: str, node: yaml.Node) -> int:
    """Index just after the last line of a block collection's content (before trailing comments)."""
    while True:
        if isinstance(node, yaml.MappingNode) and not node.flow_style and node.value:
            key, value = node.value[-1]
            # `key:` with nothing after it: the empty scalar's position is unreliable, the key's is not.
            empty = isinstance(value, yaml.ScalarNode) and value.value == "" and value.style is None
            node = key if empty else value
        elif isinstance(node, yaml.SequenceNode) and not node.flow_style and node.value:
            node = node.value[-1]
        else:
            break
    mark = node.end_mark
    if mark.column == 0:
        return mark.index
    newline = text.find("\n", mark.index)
    return len(text) if newline < 0 else newline + 1


def _seq_offset(root: yaml.Node) -> int:
    """How far this document indents a block sequence under its key (0 in kubectl's style)."""
    stack = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(value, yaml.SequenceNode) and not value.flow_style and value.value:
                    return max(value.start_mark.column - key.start_mark.column, 0)
            stack.extend(v for _, v in reversed(node.value))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(reversed(node.value))
    return 0


@lru_cache(maxsize=4096)
def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    text = str(value)
    if (
        _PLAIN_RE.fullmatch(text)
        and not text.endswith(" ")
        and ": " not in text
        and " #" not in text
        and yaml.load(text, Loader=_Loader) == text
    ):
        return text
    return json.dumps(text, ensure_ascii=False)


def _emit(value: Any, indent: int, offset: int, lines: list[str]) -> None:
    """Block-style YAML for a mapping (at `indent`) or a list (dashes at `indent`)."""
    pad = " " * indent
    if isinstance(value, Mapping):
        for key, item in value.items():
            head = f"{pad}{_scalar(key)}:"
            if isinstance(item, Mapping) and item:
                lines.append(head)
                _emit(item, indent + 2, offset, lines)
            elif isinstance(item, list) and item:
                lines.append(head)
                _emit(item, indent + offset, offset, lines)
            else:
                lines.append(f"{head} {_inline(item)}")
        return
    for item in value:
        if isinstance(item, Mapping | list) and item:
            sub: list[str] = []
            _emit(item, indent + 2, offset, sub)
            sub[0] = f"{pad}- " + sub[0][indent + 2 :]
            lines.extend(sub)
        else:
            lines.append(f"{pad}- {_inline(item)}")


def _inline(value: Any) -> str:
    if isinstance(value, Mapping):
        return "{}"
    if isinstance(value, list):
        return "[]"
    return _scalar(value)


def splice(text: str, root: yaml.Node, ops: list[dict[str, Any]]) -> str:
    """Insert each `add` op's value as new lines; raise EditError when an op needs anything else."""
    inserts: list[tuple[int, int, int, int, str]] = []
    offset = -1
    for number, op in enumerate(ops):
        if op.get("op") != "add":
            raise EditError("only add ops are spliced")
        parts = _split_pointer(op["path"])
        if offset < 0:
            offset = _seq_offset(root)
        lines: list[str] = []
        if parts[-1] == "-":
            seq = _resolve(root, parts[:-1])
            if not isinstance(seq, yaml.SequenceNode) or seq.flow_style or not seq.value:
                raise EditError("append to a flow or empty sequence")
            dash = seq.start_mark.column
            _emit([op["value"]], dash, offset, lines)
            inserts.append((_end(text, seq), -dash, 0, number, "\n".join(lines) + "\n"))
        else:
            parent = _resolve(root, parts[:-1])
            if not isinstance(parent, yaml.MappingNode) or parent.flow_style or not parent.value:
                raise EditError("add to a flow or empty mapping")
            if any(isinstance(k, yaml.ScalarNode) and k.value == parts[-1] for k, _ in parent.value):
                raise EditError(f"key {parts[-1]!r} exists (null?)")
            column = parent.value[0][0].start_mark.column
            _emit({parts[-1]: op["value"]}, column, offset, lines)
            inserts.append((_end(text, parent), -column, 1, number, "\n".join(lines) + "\n"))
    # At one position: deeper lines first, and list items before new keys of the same column, so every
    # inserted line attaches to the collection it was meant for.
    inserts.sort()
    out: list[str] = []
    last = 0
    at_line_start = True
    for index, _, _, _, block in inserts:
        if index > last:
            out.append(text[last:index])
            at_line_start = text[index - 1] == "\n"
            last = index
        if not at_line_start:
            out.append("\n")
        out.append(block)
        at_line_start = True
    out.append(text[last:])
    return "".join(out)


def roundtrip(raw: str, ops: list[dict[str, Any]]) -> str:
    """ruamel.yaml round trip: comments and key order kept, layout normalised."""
    rt = YAML()
    rt.preserve_quotes = True
    rt.width = 1 << 16
    offset = _seq_offset(yaml.compose(raw, Loader=_Loader))
    rt.indent(mapping=2, sequence=offset + 2, offset=offset)
    rt.explicit_start = raw.startswith("---")
    data = rt.load(raw)
    apply_ops(data, ops)
    buffer = io.StringIO()
    rt.dump(data, buffer)
    return buffer.getvalue()
