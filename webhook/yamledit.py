"""Apply JSON Patch `add` ops to YAML text in place, so a changed document keeps its comments and layout.

The fast path finds, by indentation, the block mapping or sequence an op extends and inserts new lines after
its last line. `edit_documents` checks the result by loading it again and comparing with the expected data; if
the text is laid out in a way the fast path does not handle (flow style, null values, quoted keys ...) or the
check fails, a ruamel.yaml round trip (comments kept, layout normalised) and then a plain dump take over.
"""

from __future__ import annotations

import io
import json
import re
from functools import lru_cache
from typing import Any

import orjson

from webhook.documents import BOM, Document, InputError, load_yaml

_PLAIN_RE = re.compile(r"[A-Za-z0-9_./@\\-][A-Za-z0-9_./:@\\ -]*")
_KEY_RE = re.compile(r"([A-Za-z0-9_./-][^:#'\"{}\[\],]*?):(?:[ \t]|$)")


class EditError(Exception):
    """The text cannot be edited in place by the fast path."""


# What comes before a document's content and is kept as it is: a byte order mark, directives and comments, and
# a "---" line with nothing but a comment after it.
_HEAD = re.compile(
    r"\ufeff?(?:(?:(?:%|[ \t]*#)[^\n]*|[ \t]*\r?)\n)*---(?:[ \t]+#[^\n]*|[ \t]*\r?)(?:\n|\Z)|\ufeff"
)


def line_break(text: str) -> str:
    """The line break a text uses: CRLF if it has one, else LF. "\r" first: looking for one character is a
    memchr scan, for two a slow one, and most texts have no CR at all."""
    return "\r\n" if "\r" in text and "\r\n" in text else "\n"


def _head(raw: str) -> int:
    """Length of the part of `raw` an edit leaves alone (see _HEAD)."""
    if not raw or raw[0] not in "\ufeff-%#":
        return 0
    if raw.startswith(("---\n", "---\r\n")):  # the separator alone, as between most documents
        return 4 if raw[3] == "\n" else 5
    found = _HEAD.match(raw)
    return found.end() if found else 0


def edit_documents(
    edits: list[tuple[Document, list[dict[str, Any]], Any]], notes: list[str] | None = None
) -> list[str]:
    """New texts for (document, ops, expected data) triples: each text must load back to its expected data.

    A document that only a plain dump can edit (the edit goes through nodes its anchors and aliases share)
    gets a note in `notes`. Stage by stage over all documents (splice all, then check all), not document by
    document: each stage's code and data stay hot in the CPU caches, which is faster on big inputs
    (docs/benchmarks.md).
    """
    texts: list[str | None] = []
    for doc, ops, _ in edits:
        try:
            texts.append(None if doc.is_json else _splice_body(doc.raw, ops))
        except EditError:
            texts.append(None)
    # Inserted scalars are quoted whenever YAML 1.1 and 1.2 could read them differently.
    return [
        text
        if text is not None and _loads_to(text, expected, yaml11=doc.yaml11)
        else _rewrite(doc, ops, expected, notes)
        for text, (doc, ops, expected) in zip(texts, edits, strict=True)
    ]


def _splice_body(raw: str, ops: list[dict[str, Any]]) -> str:
    head = _head(raw)
    return raw[:head] + splice(raw[head:], ops) if head else splice(raw, ops)


def _rewrite(doc: Document, ops: list[dict[str, Any]], expected: Any, notes: list[str] | None = None) -> str:
    """The text when the fast path cannot splice it: JSON as JSON, else a round trip, else a plain dump;
    CRLF line ends stay CRLF."""
    newline = line_break(doc.raw)
    if doc.is_json:
        trailing = doc.raw[len(doc.raw.rstrip()) :] or newline
        lead = doc.raw[: len(doc.raw) - len(doc.raw.lstrip(BOM + " \t\r\n"))]
        return lead + json.dumps(expected, indent=2, ensure_ascii=False).replace("\n", newline) + trailing
    head = _head(doc.raw)
    body = doc.raw[head:]
    try:
        text = roundtrip(body, ops).replace("\n", newline)
    except Exception:  # any ruamel failure just means "use the plain dump"
        pass
    else:
        if _loads_to(doc.raw[:head] + text, expected, yaml11=True):
            return doc.raw[:head] + text
    import yaml

    prefix = doc.raw[:head] if head else "---" + newline if doc.raw.startswith("---") else ""
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    text = yaml.dump(expected, Dumper=dumper, sort_keys=False, default_flow_style=False, width=1 << 16)
    text = text.replace("\n", newline)
    if notes is not None:
        notes.append(
            f"{doc.source}:{doc.line}: edited by writing the document anew (comments and layout dropped"
            f"{', anchors and aliases expanded' if '&' in body or '<<' in body else ''}): "
            "the in-place editor and the round trip could not make the edit exactly"
        )
    return prefix + text


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
    """A block collection in the text: its kind, column (keys, or dashes) and first line's start offset.

    `end` (the offset of the first line after it) is found only when needed, by one regex search.
    """

    __slots__ = ("column", "end", "items", "kind", "start", "tail")

    def __init__(self, kind: str, column: int, start: int, end: int = -1) -> None:
        self.kind = kind
        self.column = column
        self.start = start
        self.end = end
        self.items: list[int] | None = None  # start offsets of a sequence's items
        self.tail = -1  # offset after its last content line, once known


# Lines are "content" unless blank or a comment. Searches start at a "\n" so re finds candidates quickly.
_NEXT_CONTENT = re.compile(r"\n( *)[^ \r\n#]")
# After a key: only a comment may follow on its line, then blank or comment lines, then the value's first
# content line: group 1 is its indentation, group 2 its dash when it is a sequence item.
_BLOCK_VALUE = re.compile(
    r"[ \t]*:(?:[ \t]+(?:#[^\n]*)?)?(?:\n[ \t]*(?:#[^\n]*)?)*\n( *)(?=[^ \r\n#])(-(?= |[ \t\r]*(?:\n|\Z)))?"
)
_KEY_THEN_SEQUENCE = re.compile(r":\n( *)- ")


@lru_cache(maxsize=256)
def _block_end(kind: str, column: int) -> re.Pattern[str] | None:
    """The first line after a block's first line that is outside it: content indented less (or, for a
    sequence, content at its column that is not an item)."""
    if kind == "map":
        return re.compile(rf"\n {{0,{column - 1}}}[^ \r\n#]") if column else None
    less = rf" {{0,{column - 1}}}[^ \r\n#]|" if column else ""
    return re.compile(rf"\n(?:{less} {{{column}}}[^ \r\n#-])")


class _Text:
    """Finds blocks in a document's text by indentation, working on offsets (no per-line lists)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._resolved: dict[tuple[str, ...], _Block] = {}

    def line_end(self, start: int) -> int:
        end = self.text.find("\n", start)
        return len(self.text) if end < 0 else end

    def root(self) -> _Block:
        text, start = self.text, 0
        while start < len(text):
            end = self.line_end(start)
            line = text[start:end]
            stripped = line.lstrip(" ")
            if stripped and stripped[0] not in "#\r" and line[0] != "%" and line.rstrip() != "---":
                if line.startswith("---") or len(stripped) != len(line):
                    raise EditError("document does not start with a block mapping at column 0")
                return _Block("map", 0, start, len(text))
            start = end + 1
        raise EditError("empty document")

    def end_of(self, block: _Block) -> int:
        if block.end < 0:
            pattern = _block_end(block.kind, block.column)
            found = pattern.search(self.text, self.line_end(block.start)) if pattern else None
            block.end = found.start() + 1 if found else len(self.text)
        return block.end

    def value_of(self, block: _Block, key: str) -> _Block:
        """The block collection that is the value of `key` in a block mapping (nothing may follow the key)."""
        text, col, start = self.text, block.column, block.start
        # The block's first line may carry a sequence dash before the key ("- env:").
        found = None
        if text.startswith(key, start + col) and text[start : start + col].lstrip(" -") == "":
            found = _BLOCK_VALUE.match(text, start + col + len(key))
        if found is None:
            # Unbounded when the block's end is not known yet: a key found past it would make the check
            # after the edit fail (and the round trip take over); finding the end first costs every time.
            end = block.end if block.end >= 0 else len(text)
            needle = "\n" + " " * col + key
            at = text.find(needle, start - 1 if start else 0, end)
            while at >= 0 and (found := _BLOCK_VALUE.match(text, at + len(needle))) is None:
                at = text.find(needle, at + 1, end)
        if found is None:
            raise EditError(f"key {key!r} not found with a block value")
        spaces, dash = found.groups()
        indent, first = len(spaces), found.start(2) if dash else found.end()
        if dash:
            if indent < col:
                raise EditError("sequence less indented than its key")
            return _Block("seq", indent, first - indent)
        if indent <= col:
            raise EditError("empty value")
        return _Block("map", indent, first - indent)

    def item(self, seq: _Block, index: int) -> _Block:
        """The block mapping that is item `index` of a block sequence."""
        text, column = self.text, seq.column
        end = self.end_of(seq)
        if seq.items is None:
            needle = "\n" + " " * column + "-"
            starts = [seq.start]  # a sequence block starts at its first item
            found = text.find(needle, seq.start, end)
            while found >= 0:
                starts.append(found + 1)
                found = text.find(needle, found + 1, end)
            seq.items = starts
        starts = seq.items
        if index >= len(starts):
            raise EditError("no such item")
        first = starts[index]
        item_end = starts[index + 1] if index + 1 < len(starts) else end
        line_end = self.line_end(first)
        after = text[first + column + 1 : line_end]
        if not after.strip() or after.lstrip().startswith("#"):
            content = _NEXT_CONTENT.search(text, line_end, item_end)
            if content is None:
                raise EditError("empty item")
            return _Block("map", len(content.group(1)), content.start() + 1, item_end)
        col = column + 1 + len(after) - len(after.lstrip(" "))
        if not _KEY_RE.match(text, first + col, line_end):
            raise EditError("item is not a block mapping")
        return _Block("map", col, first, item_end)

    def resolve(self, parts: tuple[str, ...]) -> _Block:
        block = self._resolved.get(parts)
        if block is not None:
            return block
        if not parts:
            block = self.root()
        else:
            parent, part = self.resolve(parts[:-1]), parts[-1]
            if parent.kind == "map":
                block = self.value_of(parent, part)
            elif part.isdigit():
                block = self.item(parent, int(part))
            else:
                raise EditError(f"cannot step into {part!r}")
        self._resolved[parts] = block
        return block

    def insertion_point(self, block: _Block) -> int:
        """Offset of the line after the block's last content line (the text's end if that line is last)."""
        if block.tail >= 0:
            return block.tail
        text, start = self.text, block.start
        stop = self.end_of(block)
        while stop > start:
            line_start = text.rfind("\n", start, stop - 1) + 1 or start
            stripped = text[line_start:stop].lstrip(" ")
            if stripped and stripped[0] not in "#\r\n":
                break
            stop = line_start
        else:
            stop = min(self.line_end(start) + 1, len(text))
        block.tail = stop
        return stop

    def sequence_offset(self) -> int:
        """How far this document indents a block sequence under its key (0 in kubectl's style)."""
        text = self.text
        for found in _KEY_THEN_SEQUENCE.finditer(text):
            line_start = text.rfind("\n", 0, found.start()) + 1
            stripped = text[line_start : found.start()].lstrip(" ")
            if stripped and stripped[0] != "#" and not stripped.lstrip().startswith("-"):
                return max(len(found.group(1)) - (found.start() - line_start - len(stripped)), 0)
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


_EMITTED: dict[tuple[bytes | str, int, int], str] = {}


def _emitted(value: Any, indent: int, offset: int) -> str:
    """`_emit`'s lines as text, memoised by the value's JSON (exact for the engine's JSON data, and any
    slip is caught by the check after the edit): the values repeat across pods, one per ServiceAccount
    token, mount and env var. orjson makes the key faster than repr (docs/benchmarks.md)."""
    try:
        key: tuple[bytes | str, int, int] = (orjson.dumps(value), indent, offset)
    except orjson.JSONEncodeError:
        key = (repr(value), indent, offset)
    text = _EMITTED.get(key)
    if text is None:
        if len(_EMITTED) >= 4096:
            _EMITTED.clear()
        lines: list[str] = []
        _emit(value, indent, offset, lines)
        text = _EMITTED[key] = "\n".join(lines) + "\n"
    return text


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
    inserts: list[tuple[int, int, int, int, str]] = []
    offset = -1
    for number, op in enumerate(ops):
        if op.get("op") != "add":
            raise EditError("only add ops are spliced")
        parts = _split_pointer(op["path"])
        if offset < 0:
            offset = doc.sequence_offset()
        parent = doc.resolve(parts[:-1])
        if parts[-1] == "-":
            if parent.kind != "seq":
                raise EditError("append to something that is not a block sequence")
            chunk, kind = _emitted([op["value"]], parent.column, offset), 0
        else:
            if parent.kind != "map":
                raise EditError("add a key to something that is not a block mapping")
            # The engine adds a key only when it is absent or null; a null one left in place would make a
            # duplicate key, which the check after the edit refuses (then the round trip takes over).
            chunk, kind = _emitted({parts[-1]: op["value"]}, parent.column, offset), 1
        inserts.append((doc.insertion_point(parent), -parent.column, kind, number, chunk))
    # At one place: deeper lines first, and list items before new keys of the same column, so every inserted
    # line attaches to the collection it was meant for.
    inserts.sort()  # op numbers are unique: the text is never compared
    newline = line_break(text)  # inserted lines end as the document's lines do
    out: list[str] = []
    done = 0
    for at, *_, chunk in inserts:
        out.append(text[done:at])
        if at == len(text) and text and text[-1] != "\n" and done != at:
            out.append(newline)  # the text had no final newline: start the inserted lines on their own line
        out.append(chunk if newline == "\n" else chunk.replace("\n", newline))
        done = at
    out.append(text[done:])
    return "".join(out)


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
