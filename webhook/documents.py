"""Reading Kubernetes manifests: multi-document YAML and JSON from files, directories and stdin.

Every document keeps its exact source text (`raw`), so output can pass untouched documents through byte for
byte and edit changed ones in place. kubectl reads manifests as YAML 1.1, which PyYAML/libyaml implements (the
exact loader); yaml-rs (fast, Rust, YAML 1.2) loads a document only when nothing in it could read differently
or beyond it: a cheap scan of the text hands everything else (0644 octal modes, yes/no/on/off, timestamps,
anchors, aliases and merge keys, tags, tabs, directives, `...`, deep nesting) to the exact loader, and so does
any yaml-rs error. Characters YAML forbids (NUL and other controls) and a byte order mark anywhere but at the
start are refused. Bad input raises InputError with file and line.
"""

from __future__ import annotations

import bisect
import itertools
import json
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from webhook.errors import InputError
from webhook.exact_loader import exact_loader
from webhook.vocabulary import MAPPING_TYPES, ServiceAccountError, ServiceAccountInfo, serviceaccount_view

try:
    import yaml_rs
except ImportError:  # pragma: no cover - a plain PyYAML install still works, only slower
    yaml_rs = None  # type: ignore[assignment]

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
STDIN = "-"
BOM = "\ufeff"
# Deeper documents are refused: the exact loader's copy and every later stage recurse (yaml-rs stops flow
# collections at 256 levels itself).
MAX_DEPTH = 200
# "---" after a newline (the text's start is checked apart): a literal first character lets re scan fast,
# where ^ with re.M tries every position.
_SEPARATOR = re.compile(r"\n---(?=[ \t\r\n]|\Z)")

# Characters YAML does not allow in a stream (outside c-printable): C0 controls but tab, LF and CR; DEL; C1
# controls but NEL; surrogates; U+FFFE/U+FFFF. For ASCII text (str.isascii is one fast pass) the short class.
# Listed, not as the negated class of c-printable: that one is slow to compile, and it is compiled every run.
_FORBIDDEN_ASCII = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_FORBIDDEN_ASCII_CHARS = tuple(chr(c) for c in range(128) if _FORBIDDEN_ASCII.match(chr(c)))
# A text is looked at in slices of this size for the characters above: a slice stays in the cache for its 29
# scans.
_SLICE = 1 << 22


@cache
def _forbidden() -> re.Pattern[str]:
    """The class for any text: compiled on first use, as most manifests are ASCII (start-up counts)."""
    return re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f\ud800-\udfff\ufffe\uffff]")


# What only the exact loader reads as kubectl does. Literal text first (str.find-fast): merge keys, anchors
# (aliases need one; PyYAML shares aliased nodes, so its result is copied), tags, tabs, directives, document
# end markers (yaml-rs reads "a\n...\nb" as a list of both), explicit "? " keys (yaml-rs takes a list for a
# key) and YAML 1.1's extra line breaks.
_EXACT_TEXT = ("<<", "&", "!", "\t", "\n%", "\n...", "? ", "?\n", "?\r")
_YAML11_BREAKS = ("\x85", "\u2028", "\u2029")
# Then plain scalars that YAML 1.1 resolves differently from yaml-rs (or may: false alarms only cost speed),
# as a whole value or key: numbers but plain decimals of up to 18 digits (octal 0644, 0o17, 1e3, 1_000,
# sexagesimal 1:20, .5, 0x1F ...), timestamps, yes/no/on/off (y/n too), and "=". Possessive quantifiers and
# the lookaheads turn most positions away at once.
_END = r"[ \t]*+(?:#|\r?$|[,\]}]|:(?:[ \t]|\r?$))"
_NUMBER = (
    rf"(?![-+]?+(?:0|[1-9][0-9]{{0,17}}+)(?:\.[0-9]++)?+{_END})[-+]?+\.?+[0-9][0-9a-fA-FoOxXtTzZ_.+-]*+{_END}"
    rf"|[-+]?+[0-9][0-9_]*+(?::[0-5]?[0-9])++(?:\.[0-9_]*+)?+{_END}"
    r"|[-+]?+\.[a-zA-Z]|[0-9]{4}-[0-9][0-9]?-[0-9]"
)
_BOOL = rf"(?:[yY](?:es|ES)?|[nN][oO]?|[oO](?:[nN]|ff|FF)|=){_END}"
# "n" and a lower-case letter but "o" (name, nginx: the commonest words there) can start neither.
_MAY_DIFFER = "(?=[-+.0-9yYnNoO=])(?!n[a-np-z])"
_PLAIN_DIFFERS = rf"{_MAY_DIFFER}(?:(?=[yYnNoO=]){_BOOL}|{_NUMBER})"
# After a block indicator and blanks ("key: ", "- "), at a line start, or after a flow indicator: one
# pattern per literal first character (two for ": " and "- "), which re finds fast (a character class or an
# alternation is much slower: a re scan for `[\[{,]` costs 12 times the instructions of one for ","); brackets
# are found with str.find instead (_bracket_flags).
# Each prefix pattern takes only the scalar's first character, one of those _MAY_DIFFER lets through (a class
# is the cheapest test at each of the many positions a prefix hits), and turns away, by lookbehinds on it,
# what _PLAIN_DIFFERS never matches and block YAML has everywhere: "n" and a lower-case letter but "o", "- "
# (a line starting "- " is the "- " pattern's) and "--" ("---" lines), a word of four letters or more
# (OnFailure, Never: a boolean has three at most), a plain decimal ending its line (ports, replicas), a number
# with a unit (100m, 128Mi). _PLAIN_DIFFERS itself (~0.8 ms to compile, at every start) is matched where a
# prefix pattern hits (rarely): the prefixes are possessive, so prefix + _PLAIN_DIFFERS matches at a position
# exactly when the prefix pattern does and _PLAIN_DIFFERS matches at its last character.
_FIRST = r"[-+.0-9yYnNoO=](?<!n(?=[a-np-z]))"
_NOT_AFTER_FIRST = (
    r"(?!(?<=[yYnNoO])[a-zA-Z]{3}|(?<=0)\r?$|(?<=[1-9])[0-9]{0,17}+\r?$"
    r"|(?<=[0-9])[0-9]*+[g-np-su-wyG-NP-SU-WY])"
)
# (literal first character, prefix, a needle (_EXACT_TEXT, _DEEP_TEXT) that starts with the prefix and
# that its pattern finds, so it needs no scan of its own). The "- " pattern lets "- - " through for its needle
# (nested sequences are rare in manifests). The brackets last: see _bracket_flags.
_YAML11_PREFIXES: tuple[tuple[str, str, str | None], ...] = (
    (":", ":  *+", None),
    ("-", "-  *+", "- " * 10),
    ("\n", r"\n *+", "\n..."),
    (",", ", *+", None),
    ("[", r"\[ *+", None),
    ("{", r"\{ *+", None),
)


@cache
def _prefix_pattern(prefix: str) -> re.Pattern[str]:
    dashes = "(?<!-(?=-))" if prefix.startswith("-") else "(?<!-(?=[ -]))"
    return re.compile(prefix + _FIRST + dashes + _NOT_AFTER_FIRST, re.M)


@cache
def _plain_differs() -> re.Pattern[str]:
    return re.compile(_PLAIN_DIFFERS, re.M)


def _search_differs(prefix: re.Pattern[str], text: str, pos: int = 0, needle: str | None = None) -> int:
    """Where the first plain scalar after `prefix` that YAML 1.1 may read differently starts its prefix, at or
    after `pos`, or the first `needle` the prefix pattern finds; -1 if none (what (prefix +
    _PLAIN_DIFFERS).search gives)."""
    found = prefix.search(text, pos)
    while found is not None:
        at = found.start()
        if _plain_differs().match(text, found.end() - 1) is not None or (
            needle is not None and text.startswith(needle, at)
        ):
            return at
        found = prefix.search(text, at + 1)
    return -1


_START_CHARS = frozenset("-+.0123456789yYnNoO=")  # _MAY_DIFFER's first lookahead


def _differs_at_start(text: str) -> bool:
    """Whether the text starts (after a byte order mark and blanks: a first line has no "\n" before it) with
    a plain scalar that YAML 1.1 may read differently."""
    at = 1 if text.startswith(BOM) else 0
    while at < len(text) and text[at] == " ":
        at += 1
    if at == len(text) or text[at] not in _START_CHARS:
        return False
    return _plain_differs().match(text, at) is not None


def _needs_exact(raw: str) -> bool:
    """Whether a document may read differently with yaml-rs than with the exact (YAML 1.1) loader."""
    return (
        any(text in raw for text in _EXACT_TEXT)
        or raw.startswith("%")
        or _has_yaml11_break(raw)
        or _differs_at_start(raw)
        or any(
            _search_differs(_prefix_pattern(prefix), raw) >= 0
            for char, prefix, _ in _YAML11_PREFIXES
            if char in raw
        )
        or _may_be_deep(raw)
    )


# A block node MAX_DEPTH deep needs a line indented (by blanks and dashes) by half that; flow nesting needs
# brackets. Below these bounds a document is less than MAX_DEPTH deep.
_DEEP_TEXT = ("\n" + " " * (MAX_DEPTH // 2 - 20), "- " * 10)
_MANY_BRACKETS = MAX_DEPTH // 4
# The needles scanned for on their own: the others are found by a prefix pattern.
_NEEDLES = tuple(
    needle
    for needle in (*_EXACT_TEXT, *_DEEP_TEXT)
    if needle not in {needle for *_, needle in _YAML11_PREFIXES}
)
# Brackets are rare in block YAML, and counted: found with str.find (memchr; but a call with the look at the
# next character costs as much as ~400 characters of a re scan), while they are fewer than one per this many
# characters of the text; beyond, a re scan and per-document counts.
_BRACKET_SPACING = 128


def _may_be_deep(raw: str) -> bool:
    return any(text in raw for text in _DEEP_TEXT) or raw.count("[") + raw.count("{") >= _MANY_BRACKETS


def _exact_flags(text: str, raws: list[str]) -> list[bool]:
    """`_needs_exact` for each of a source's documents, by scanning the whole text once per pattern (a call
    per document and pattern costs more than the scans)."""
    starts = list(itertools.accumulate((len(raw) for raw in raws), initial=0))
    flags = [False] * len(raws)

    def mark(at: int) -> int:
        """Flag the document holding offset `at` (the last one for the text's end: a one-character needle
        there); the offset where the next one starts."""
        index = bisect.bisect_right(starts, at, hi=len(raws)) - 1
        flags[index] = True
        return starts[index + 1]

    for needle in _NEEDLES:
        # A rare character of the needle is found first, much faster than the needle.
        at = text.find(needle) if needle.lstrip("\n")[0] in text else -1
        while at >= 0:
            at = text.find(needle, mark(at + 1))
    if _differs_at_start(text):
        flags[0] = True
    counted = _bracket_flags(text, starts, flags, mark)
    for char, prefix, also in _YAML11_PREFIXES[:-2]:
        if char not in text:
            continue
        pattern = _prefix_pattern(prefix)
        at = _search_differs(pattern, text, 0, also)
        while at >= 0:
            at = _search_differs(pattern, text, mark(at + 1), also)
    if "%" in text or not text.isascii():
        flags = [
            flag or raw.startswith("%") or _has_yaml11_break(raw)
            for flag, raw in zip(flags, raws, strict=True)
        ]
    if not counted and len(text) >= _MANY_BRACKETS:
        flags = [
            flag or raw.count("[") + raw.count("{") >= _MANY_BRACKETS
            for flag, raw in zip(flags, raws, strict=True)
        ]
    return flags


def _bracket_flags(text: str, starts: list[int], flags: list[bool], mark: Callable[[int], int]) -> bool:
    """The "[" and "{" prefix patterns' part of `_exact_flags` and the bracket counts, by finding each
    bracket; whether the brackets were counted (not if there are too many for that to pay)."""
    last = len(flags)
    brackets = [0] * last  # per document
    budget = 8 + len(text) // _BRACKET_SPACING
    for char, prefix, _ in _YAML11_PREFIXES[-2:]:
        index, end = 0, starts[1]
        at = text.find(char)
        while at >= 0:
            budget -= 1
            if budget < 0:  # the rest with a re scan, uncounted
                pattern = _prefix_pattern(prefix)
                at = _search_differs(pattern, text, at)
                while at >= 0:
                    at = _search_differs(pattern, text, mark(at + 1))
                break
            if at >= end:
                index = bisect.bisect_right(starts, at, index, last) - 1
                end = starts[index + 1]
            brackets[index] += 1
            # A look at the next character is cheaper than a match.
            if (
                not flags[index]
                and text[at + 1 : at + 2] in _AFTER_PREFIX
                and (found := _prefix_pattern(prefix).match(text, at)) is not None
                and _plain_differs().match(text, found.end() - 1) is not None
            ):
                mark(at + 1)
            at = text.find(char, at + 1)
    if budget < 0:
        return False
    if max(brackets) >= _MANY_BRACKETS:
        for index, count in enumerate(brackets):
            if count >= _MANY_BRACKETS:
                flags[index] = True
    return True


_AFTER_PREFIX = _START_CHARS | {" "}


def _has_yaml11_break(raw: str) -> bool:
    return not raw.isascii() and any(char in raw for char in _YAML11_BREAKS)


@dataclass(slots=True)
class Document:
    source: str  # file path, or "<stdin>"
    index: int  # position among the documents of its source, from 0
    line: int  # 1-based line where `raw` starts
    raw: str  # the exact text, separator line included; concatenating a source's raws gives it back
    data: Any  # plain data (None for an empty document)
    is_json: bool = False
    yaml11: bool = False  # loaded with the exact loader (PyYAML, YAML 1.1) rather than yaml-rs


def read_sources(inputs: Iterable[str]) -> Iterator[tuple[str, str]]:
    """Yield (name, text) for each file, each manifest file under a directory (sorted), or stdin ("-").

    Anything that cannot be read, named or found while walking, is an InputError naming it.
    """
    for item in inputs:
        if item == STDIN:
            yield "<stdin>", _decode("<stdin>", sys.stdin.buffer.read())
            continue
        path = Path(item)
        if path.is_dir():
            for file in _manifest_files(path):
                yield str(file), _read(file)
        else:
            yield str(path), _read(path)


def _manifest_files(top: Path) -> list[Path]:
    """Manifest files under a directory, sorted; symbolic links to directories are not followed."""

    def refuse(exc: OSError) -> None:
        raise InputError(str(exc.filename or top), 0, f"cannot read directory: {exc.strerror or exc}")

    found = []
    for folder, _, names in os.walk(top, onerror=refuse):
        for name in names:
            if name.endswith(MANIFEST_SUFFIXES):
                found.append(Path(folder, name))
    # A directory with a manifest's suffix is no file; a dangling link is one that cannot be read.
    return sorted(p for p in found if p.is_file() or not p.exists())


def _read(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(str(path), 0, f"cannot read: {exc.strerror or exc}") from None
    return _decode(str(path), data)


def _decode(name: str, data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(name, data.count(b"\n", 0, exc.start) + 1, "not UTF-8 text") from None


def check_characters(source: str, text: str) -> None:
    """Refuse what YAML forbids in a stream (kubectl's reader refuses it too), and a byte order mark anywhere
    but at the very start."""
    if text.isascii():
        # A memchr scan (`in`) per character: a third of the instructions of a table lookup per byte
        # (bytes.translate) and a quarter of the time; the regex is slower still.
        if not any(
            char in part
            for part in (text[at : at + _SLICE] for at in range(0, len(text), _SLICE))
            for char in _FORBIDDEN_ASCII_CHARS
        ):
            return
        found = _FORBIDDEN_ASCII.search(text)
    else:
        found = _forbidden().search(text)
    if found is not None:
        char = found.group()
        raise InputError(
            source,
            text.count("\n", 0, found.start()) + 1,
            f"character U+{ord(char):04X} ({_char_name(char)}) is not allowed in YAML",
        )
    bom = text.find(BOM, 1)
    if bom >= 0:
        raise InputError(
            source,
            text.count("\n", 0, bom) + 1,
            "byte order mark (U+FEFF) inside the text: only the start may have one",
        )


def _char_name(char: str) -> str:
    return {"\x00": "NUL", "\x7f": "DEL"}.get(char) or (
        "a control character" if ord(char) < 0xA0 else "a non-character"
    )


def parse(source: str, text: str) -> list[Document]:
    """Split one source into documents and parse each; JSON sources may hold several concatenated values."""
    body = text[1:] if text.startswith(BOM) else text
    if body.lstrip().startswith(("{", "[")):
        return _parse_json(source, text)
    check_characters(source, text)
    starts = [0, *(m.start() + 1 for m in _SEPARATOR.finditer(text))]
    starts.append(len(text))
    raws = [text[begin:end] for begin, end in itertools.pairwise(starts)]
    if "%" in text:
        raws = _join_directives(raws)
    lines = list(itertools.accumulate((raw.count("\n") for raw in raws[:-1]), initial=1))
    # Stage by stage over all documents rather than one document at a time: measurably faster on big inputs.
    exact = _exact_flags(text, raws)
    data = [
        load_yaml(raw, source, line, yaml11=flag) for raw, line, flag in zip(raws, lines, exact, strict=True)
    ]
    return [
        Document(source, index, line, raw, value, False, flag)  # positional: cheaper
        for index, (line, raw, value, flag) in enumerate(zip(lines, raws, data, exact, strict=True))
    ]


@cache
def _directives_only() -> re.Pattern[str]:
    """Compiled on first use: only a text with a "%" needs it."""
    return re.compile(r"\A\ufeff?(?:[ \t]*(?:#[^\n]*)?\n|%[^\n]*\n)*%[^\n]*\n(?:[ \t]*(?:#[^\n]*)?\n)*\Z")


def _join_directives(raws: list[str]) -> list[str]:
    """Directive lines ("%YAML 1.1") before a "---" belong to the document after it."""
    joined: list[str] = []
    carry = ""
    for index, raw in enumerate(raws):
        if index < len(raws) - 1 and _directives_only().match(raw):
            carry += raw
            continue
        joined.append(carry + raw)
        carry = ""
    return joined


def load_yaml(raw: str, source: str = "<text>", line: int = 1, *, yaml11: bool | None = None) -> Any:
    """Load one YAML document as kubectl does; InputError on bad input.

    `yaml11` says whether the text needs the exact loader (None: look at it).
    """
    if raw.startswith(BOM):
        raw = raw[1:]
    if yaml11 is None:
        yaml11 = _needs_exact(raw)
    if yaml_rs is None or yaml11:
        return _load_exact(raw, source, line)
    try:
        return yaml_rs.loads(raw, parse_datetime=False)
    except Exception as exc:
        fast_error = InputError(
            source, line + _error_line(raw, str(exc)) - 1, f"invalid YAML: {_reason(exc)}"
        )
    # What yaml-rs refuses, the exact loader decides (YAML 1.1 allows more); if it refuses too, yaml-rs's
    # message says why (it names duplicate keys, and the exact loader refuses them as well).
    try:
        return _load_exact(raw, source, line)
    except InputError:
        raise fast_error from None


def _reason(exc: Exception) -> str:
    return str(exc).strip().splitlines()[-1].strip() or type(exc).__name__


def _error_line(raw: str, message: str) -> int:
    """1-based line in `raw` of a yaml-rs error: its own "line N", or a duplicate key's second occurrence."""
    if found := re.search(r"at line (\d+)", message):
        return int(found.group(1))
    if found := re.search(r"duplicate mapping key: '(.*)'", message):
        key = found.group(1) + ":"
        hits = [n for n, text in enumerate(raw.split("\n"), 1) if text.lstrip(" -").startswith(key)]
        if len(hits) > 1:
            return hits[1]
    return 1


def _load_exact(raw: str, source: str, line: int) -> Any:
    import yaml

    try:
        data = yaml.load(raw, Loader=exact_loader())
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = line + mark.line if mark is not None else line
        reason = " ".join(str(part) for part in (exc.context, exc.problem) if part) or "invalid YAML"
        raise InputError(source, where, f"invalid YAML: {reason}") from None
    except yaml.YAMLError as exc:
        raise InputError(source, line, f"invalid YAML: {str(exc).splitlines()[0]}") from None
    except (ValueError, OverflowError, RecursionError) as exc:  # e.g. an integer of 5,000 digits
        raise InputError(source, line, f"invalid YAML: {_reason(exc)}") from None
    # Aliased nodes are one object in PyYAML's result: an edit of one would change the other.
    return _unshared(data, source, line, _Budget(100 * len(raw) + 10_000))


class _Budget:
    """How many nodes a copy may make: aliases of aliases would otherwise expand exponentially."""

    __slots__ = ("left",)

    def __init__(self, nodes: int) -> None:
        self.left = nodes


def _unshared(value: Any, source: str, line: int, budget: _Budget, depth: int = 0) -> Any:
    """A copy sharing no list or mapping, refusing depth beyond MAX_DEPTH (a recursive alias too), node
    counts beyond the budget, and lone surrogates (JSON "\\ud800": unprintable, kubectl replaces them)."""
    kind = type(value)
    if kind is str:
        if not value.isascii() and _surrogate().search(value):
            raise InputError(source, line, "a lone surrogate (\\ud800-\\udfff) is no character")
        return value
    if kind is not dict and kind is not list:
        return value
    if depth >= MAX_DEPTH:
        raise InputError(source, line, f"nested deeper than {MAX_DEPTH} levels (or a recursive alias)")
    budget.left -= len(value) + 1
    if budget.left < 0:
        raise InputError(source, line, "aliases expand to too many nodes")
    if kind is list:
        return [_unshared(item, source, line, budget, depth + 1) for item in value]
    return {
        _unshared(key, source, line, budget, depth + 1): _unshared(item, source, line, budget, depth + 1)
        for key, item in value.items()
    }


@cache
def _surrogate() -> re.Pattern[str]:
    """Compiled on first use: only non-ASCII strings from the exact loader or escaped JSON need it."""
    return re.compile(r"[\ud800-\udfff]")


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


_JSON = json.JSONDecoder(parse_constant=_refuse_constant)


def _parse_json(source: str, text: str) -> list[Document]:
    docs: list[Document] = []
    pos = 1 if text.startswith(BOM) else 0
    lead_end = pos
    while lead_end < len(text) and text[lead_end].isspace():
        lead_end += 1
    # Surrogate escapes and deep nesting need a look at the data; plain JSON goes without.
    check = "\\u" in text or text.count("[") + text.count("{") >= MAX_DEPTH // 2
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            break
        line = text.count("\n", 0, pos) + 1
        try:
            data, end = _JSON.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            raise InputError(source, exc.lineno, f"invalid JSON: {exc.msg}") from None
        except (ValueError, RecursionError) as exc:
            raise InputError(source, line, f"invalid JSON: {_reason(exc)}") from None
        if check:
            data = _unshared(data, source, line, _Budget(len(text) + 10_000))
        # Trailing whitespace stays with the document so the raws still add up to the source.
        while end < len(text) and text[end].isspace():
            end += 1
        docs.append(Document(source, len(docs), line, text[pos:end], data, True))
        pos = end
    if docs and lead_end:
        first = docs[0]
        docs[0] = Document(first.source, 0, 1, text[:lead_end] + first.raw, first.data, True)
    return docs


def read_documents(inputs: Iterable[str]) -> list[Document]:
    return [doc for name, text in read_sources(inputs) for doc in parse(name, text)]


def objects(docs: Iterable[Document]) -> Iterator[Mapping[str, Any]]:
    """Every Kubernetes object in the documents, `List` items included."""
    for doc in docs:
        yield from _flatten(doc.data)


def _flatten(obj: Any) -> Iterator[Mapping[str, Any]]:
    if not isinstance(obj, MAPPING_TYPES):
        return
    items = obj.get("items")
    if isinstance(obj.get("kind"), str) and obj["kind"].endswith("List") and isinstance(items, list):
        for item in items:
            yield from _flatten(item)
    else:
        yield obj


def serviceaccount_info(
    obj: Mapping[str, Any], default_namespace: str = "default"
) -> ServiceAccountInfo | None:
    """The ServiceAccount view of an object (webhook.vocabulary.serviceaccount_view); InputError-free: see
    serviceaccounts_in for the file and line of a bad one."""
    return serviceaccount_view(obj, default_namespace=default_namespace)


def serviceaccounts_in(
    docs: Iterable[Document], default_namespace: str = "default"
) -> dict[tuple[str, str], ServiceAccountInfo]:
    """ServiceAccounts among the documents, keyed by (namespace, name); a document without a namespace is
    in `default_namespace` (kubectl -n). InputError (file:line) for one the apiserver would not store."""
    found: dict[tuple[str, str], ServiceAccountInfo] = {}
    for doc in docs:
        for obj in _flatten(doc.data):
            if obj.get("kind") != "ServiceAccount":
                continue
            try:
                info = serviceaccount_view(obj, default_namespace=default_namespace)
            except ServiceAccountError as exc:
                raise InputError(doc.source, doc.line, str(exc)) from None
            if info is not None:
                found[(info.namespace, info.name)] = info
    return found


def load_serviceaccounts(
    paths: Iterable[str | Path], default_namespace: str = "default"
) -> dict[tuple[str, str], ServiceAccountInfo]:
    """ServiceAccounts from files or directories; raises InputError for unreadable input."""
    return serviceaccounts_in(read_documents(str(p) for p in paths), default_namespace)
