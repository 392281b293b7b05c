"""Apply JSON Patch `add` ops to YAML text in place, so a changed document keeps its comments and layout.

The fast path finds, by indentation, the block mapping or sequence an op extends and inserts new lines after
its last line. `edit_document` checks the result by loading it again and comparing with the expected data; if
the text is laid out in a way the fast path does not handle (flow style, null values, quoted keys ...) or the
check fails, a ruamel.yaml round trip (comments kept, layout normalised) and then a plain dump take over.
"""

from __future__ import annotations

import io
import json
import re
from functools import lru_cache
from typing import Any

from webhook.documents import Document, InputError, load_yaml

_PLAIN_RE = re.compile(r"[A-Za-z0-9_./@\\-][A-Za-z0-9_./:@\\ -]*")
_KEY_RE = re.compile(r"([A-Za-z0-9_./-][^:#'\"{}\[\],]*?):(?:[ \t]|$)")


class EditError(Exception):
    """The text cannot be edited in place by the fast path."""


def edit_document(doc: Document, ops: list[dict[str, Any]], expected: Any) -> str:
    """New text for `doc` with `ops` applied; `expected` is the patched data the text must load back to."""
    if doc.is_json:
        trailing = doc.raw[len(doc.raw.rstrip()) :] or "\n"
        lead = doc.raw[: len(doc.raw) - len(doc.raw.lstrip())]
        return lead + json.dumps(expected, indent=2, ensure_ascii=False) + trailing
    try:
        text = splice(doc.raw, ops)
    except EditError:
        pass
    else:
        # Inserted scalars are quoted whenever YAML 1.1 and 1.2 could read them differently.
        if _loads_to(text, expected, yaml11=doc.yaml11):
            return text
    try:
        text = roundtrip(doc.raw, ops)
    except Exception:  # any ruamel failure just means "use the plain dump"
        pass
    else:
        if _loads_to(text, expected):
            return text
    import yaml

    head = "---\n" if doc.raw.startswith("---") else ""
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return head + yaml.dump(expected, Dumper=dumper, sort_keys=False, default_flow_style=False, width=1 << 16)


def _loads_to(text: str, expected: Any, yaml11: bool | None = None) -> bool:
    try:
        return load_yaml(text, yaml11=yaml11) == expected
    except InputError:
        return False


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


@lru_cache(maxsize=4096)
def _split_pointer(path: str) -> tuple[str, ...]:
    if not path.startswith("/"):
        raise EditError(f"not a JSON pointer: {path!r}")
    return tuple(part.replace("~1", "/").replace("~0", "~") for part in path[1:].split("/"))


class _Block:
    """A block collection in the text: its kind, column (keys, or dashes) and first line.

    `end` (one past its last line) is found only when needed: looking up keys stops at the first line
    indented less than the block anyway.
    """

    __slots__ = ("column", "end", "first", "items", "kind")

    def __init__(self, kind: str, column: int, first: int, end: int = -1) -> None:
        self.kind = kind
        self.column = column
        self.first = first
        self.end = end
        self.items: list[int] | None = None  # first lines of a sequence's items


class _Text:
    def __init__(self, text: str) -> None:
        self.lines = lines = text.split("\n")
        stripped = [line.lstrip(" ") for line in lines]
        self.indents = [len(a) - len(b) for a, b in zip(lines, stripped, strict=True)]
        self.content = [s != "" and s[0] != "#" and s != "\r" for s in stripped]
        self._resolved: dict[tuple[str, ...], _Block] = {}

    def root(self) -> _Block:
        for i, line in enumerate(self.lines):
            if not self.content[i] or line.startswith("%") or line.rstrip() == "---":
                continue
            if line.startswith("---") or self.indents[i] != 0:
                raise EditError("document does not start with a block mapping at column 0")
            return _Block("map", 0, i, len(self.lines))
        raise EditError("empty document")

    def end_of(self, block: _Block) -> int:
        if block.end < 0:
            column, lines, indents, content = block.column, self.lines, self.indents, self.content
            block.end = len(lines)
            for i in range(block.first + 1, len(lines)):
                if not content[i]:
                    continue
                if indents[i] < column or (
                    block.kind == "seq" and indents[i] == column and lines[i][column] != "-"
                ):
                    block.end = i
                    break
        return block.end

    def key_line(self, block: _Block, key: str) -> tuple[int, int]:
        """(line, column where the value starts) of `key` in a block mapping."""
        col, lines, indents, content = block.column, self.lines, self.indents, self.content
        for i in range(block.first, len(lines)):
            if not content[i]:
                continue
            indent = indents[i]
            if i != block.first:
                if indent < col:
                    break
                if indent != col:
                    continue
            elif indent != col and lines[i][:col].lstrip(" -") != "":
                continue
            line = lines[i]
            if line.startswith(key, col):
                match = _KEY_RE.match(line, col)
                if match and match.group(1).rstrip() == key:
                    return i, match.end()
        raise EditError(f"key {key!r} not found")

    def value_block(self, parent: _Block, line: int, value_col: int) -> _Block:
        """The block collection that is the value of the key on `line` (nothing else may follow the key)."""
        rest = self.lines[line][value_col:].strip()
        if rest and not rest.startswith("#"):
            raise EditError("value on the key's line (scalar, flow or block scalar)")
        start = line + 1
        while start < len(self.lines) and not self.content[start]:
            start += 1
        if start >= len(self.lines):
            raise EditError("empty value")
        indent = self.indents[start]
        text = self.lines[start][indent:]
        if text.startswith("- ") or text.rstrip() == "-":
            if indent < parent.column:
                raise EditError("sequence less indented than its key")
            return _Block("seq", indent, start)
        if indent <= parent.column:
            raise EditError("empty value")
        return _Block("map", indent, start)

    def item(self, seq: _Block, index: int) -> _Block:
        """The block mapping that is item `index` of a block sequence."""
        if seq.items is None:
            column, lines, indents, content = seq.column, self.lines, self.indents, self.content
            seq.items = [
                i
                for i in range(seq.first, self.end_of(seq))
                if content[i] and indents[i] == column and lines[i][column] == "-"
            ]
        starts = seq.items
        if index >= len(starts):
            raise EditError("no such item")
        first = starts[index]
        end = starts[index + 1] if index + 1 < len(starts) else self.end_of(seq)
        line = self.lines[first]
        after = line[seq.column + 1 :]
        col = seq.column + 1 + len(after) - len(after.lstrip(" "))
        if not after.strip() or after.lstrip().startswith("#"):
            inner = first + 1
            while inner < end and not self.content[inner]:
                inner += 1
            if inner >= end:
                raise EditError("empty item")
            return _Block("map", self.indents[inner], inner, end)
        if not _KEY_RE.match(line, col):
            raise EditError("item is not a block mapping")
        return _Block("map", col, first, end)

    def resolve(self, parts: tuple[str, ...]) -> _Block:
        block = self._resolved.get(parts)
        if block is not None:
            return block
        if not parts:
            block = self.root()
        else:
            parent, part = self.resolve(parts[:-1]), parts[-1]
            if parent.kind == "map":
                line, value_col = self.key_line(parent, part)
                block = self.value_block(parent, line, value_col)
            elif part.isdigit():
                block = self.item(parent, int(part))
            else:
                raise EditError(f"cannot step into {part!r}")
        self._resolved[parts] = block
        return block

    def insertion_line(self, block: _Block) -> int:
        """Line index after the block's last content line."""
        for i in range(self.end_of(block) - 1, block.first - 1, -1):
            if self.content[i]:
                return i + 1
        return block.first + 1

    def sequence_offset(self) -> int:
        """How far this document indents a block sequence under its key (0 in kubectl's style)."""
        lines, content, indents = self.lines, self.content, self.indents
        for i in range(len(lines) - 1):
            if (
                content[i]
                and lines[i].endswith(":")
                and content[i + 1]
                and lines[i + 1][indents[i + 1] :][:2] == "- "
                and not lines[i].lstrip().startswith("-")
            ):
                return max(indents[i + 1] - indents[i], 0)
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
        and _plain_is_string(text)
    ):
        return text
    return json.dumps(text, ensure_ascii=False)


def _plain_is_string(text: str) -> bool:
    try:
        return load_yaml(f"k: {text}\n") == {"k": text}
    except InputError:
        return False


def _emit(value: Any, indent: int, offset: int, lines: list[str]) -> None:
    """Block-style YAML for a mapping (keys at `indent`) or a list (dashes at `indent`).

    Values come from the engine (JSON-like dicts and lists), hence the exact type checks.
    """
    pad = " " * indent
    if type(value) is dict:
        for key, item in value.items():
            kind = type(item)
            if kind is dict and item:
                lines.append(f"{pad}{_scalar(key)}:")
                _emit(item, indent + 2, offset, lines)
            elif kind is list and item:
                lines.append(f"{pad}{_scalar(key)}:")
                _emit(item, indent + offset, offset, lines)
            else:
                lines.append(f"{pad}{_scalar(key)}: {_inline(item)}")
        return
    for item in value:
        kind = type(item)
        if (kind is dict or kind is list) and item:
            start = len(lines)
            _emit(item, indent + 2, offset, lines)
            lines[start] = f"{pad}- {lines[start][indent + 2 :]}"
        else:
            lines.append(f"{pad}- {_inline(item)}")


def _inline(value: Any) -> str:
    kind = type(value)
    if kind is dict:
        return "{}"
    if kind is list:
        return "[]"
    return _scalar(value)


def splice(text: str, ops: list[dict[str, Any]]) -> str:
    """Insert each `add` op's value as new lines; raise EditError when an op needs anything else."""
    doc = _Text(text)
    inserts: list[tuple[int, int, int, int, list[str]]] = []
    offset = -1
    for number, op in enumerate(ops):
        if op.get("op") != "add":
            raise EditError("only add ops are spliced")
        parts = _split_pointer(op["path"])
        if offset < 0:
            offset = doc.sequence_offset()
        lines: list[str] = []
        if parts[-1] == "-":
            seq = doc.resolve(parts[:-1])
            if seq.kind != "seq":
                raise EditError("append to something that is not a block sequence")
            _emit([op["value"]], seq.column, offset, lines)
            inserts.append((doc.insertion_line(seq), -seq.column, 0, number, lines))
        else:
            parent = doc.resolve(parts[:-1])
            if parent.kind != "map":
                raise EditError("add a key to something that is not a block mapping")
            # The engine adds a key only when it is absent or null; a null one left in place would make a
            # duplicate key, which the check after the edit refuses (then the round trip takes over).
            _emit({parts[-1]: op["value"]}, parent.column, offset, lines)
            inserts.append((doc.insertion_line(parent), -parent.column, 1, number, lines))
    # At one line: deeper lines first, and list items before new keys of the same column, so every inserted
    # line attaches to the collection it was meant for.
    inserts.sort(key=lambda item: item[:4])
    out = list(doc.lines)
    for line, *_, block in reversed(inserts):
        out[line:line] = block
    if doc.lines[-1] != "" and inserts and inserts[-1][0] >= len(doc.lines):
        out.append("")  # the text had no final newline: end the inserted lines with one
    return "\n".join(out)


def roundtrip(raw: str, ops: list[dict[str, Any]]) -> str:
    """ruamel.yaml round trip: comments and key order kept, layout normalised."""
    from ruamel.yaml import YAML

    rt = YAML()
    rt.preserve_quotes = True
    rt.width = 1 << 16
    offset = _Text(raw).sequence_offset()
    rt.indent(mapping=2, sequence=offset + 2, offset=offset)
    rt.explicit_start = raw.startswith("---")
    data = rt.load(raw)
    apply_ops(data, ops)
    buffer = io.StringIO()
    rt.dump(data, buffer)
    return buffer.getvalue()
