"""Reading Kubernetes manifests: multi-document YAML and JSON from files, directories and stdin.

Every document keeps its exact source text (`raw`), so output can pass untouched documents through byte for
byte and edit changed ones in place. Documents load with yaml-rs (fast, Rust) unless they hold a plain scalar
that YAML 1.1 reads differently (0644 octal modes, yes/no/on/off), which goes through PyYAML/libyaml: kubectl
reads manifests as YAML 1.1. Bad input raises InputError with file and line.
"""

from __future__ import annotations

import itertools
import json
import re
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from webhook.vocabulary import MAPPING_TYPES, ServiceAccountInfo

try:
    import yaml_rs
except ImportError:  # pragma: no cover - a plain PyYAML install still works, only slower
    yaml_rs = None  # type: ignore[assignment]

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
STDIN = "-"
# "---" after a newline (the text's start is checked apart): a literal first character lets re scan fast,
# where ^ with re.M tries every position.
_SEPARATOR = re.compile(r"\n---(?=[ \t\r\n]|\Z)")
# Plain scalars whose YAML 1.1 meaning (kubectl's) differs from YAML 1.2's, after ": " or "- ".
# Two patterns with a literal first character: Python's re scans for those quickly. The lookahead (the
# first characters any of them can start with) turns most ": " away at once: twice as fast.
_YAML11_VALUE = (
    r"(?=[ \t]*[-+0-9yYnNoO=])"
    r"[ \t]*(?:[-+]?0[0-7_]+|[-+]?0b[01_]+|(?i:y|n|yes|no|on|off)|\d+(?::[0-5]?\d)+|=)[ \t]*(?:#|$)"
)
_YAML11 = (re.compile(": " + _YAML11_VALUE, re.M), re.compile("- " + _YAML11_VALUE, re.M))


def _needs_yaml11(raw: str) -> bool:
    return any(pattern.search(raw) for pattern in _YAML11)


class InputError(Exception):
    """Unreadable input: where (file, line) and why, in one line."""

    def __init__(self, source: str, line: int, reason: str) -> None:
        super().__init__(f"{source}:{line}: {reason}" if line else f"{source}: {reason}")
        self.source = source
        self.line = line
        self.reason = reason


@dataclass(slots=True)
class Document:
    source: str  # file path, or "<stdin>"
    index: int  # position among the documents of its source, from 0
    line: int  # 1-based line where `raw` starts
    raw: str  # the exact text, separator line included; concatenating a source's raws gives it back
    data: Any  # plain data (None for an empty document)
    is_json: bool = False
    yaml11: bool = False  # loaded with YAML 1.1 rules (PyYAML) rather than yaml-rs


def read_sources(inputs: Iterable[str]) -> Iterator[tuple[str, str]]:
    """Yield (name, text) for each file, each manifest file under a directory (sorted), or stdin ("-")."""
    for item in inputs:
        if item == STDIN:
            yield "<stdin>", _decode("<stdin>", sys.stdin.buffer.read())
            continue
        path = Path(item)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.suffix in MANIFEST_SUFFIXES and p.is_file())
            for file in files:
                yield str(file), _read(file)
        else:
            yield str(path), _read(path)


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


def parse(source: str, text: str) -> list[Document]:
    """Split one source into documents and parse each; JSON sources may hold several concatenated values."""
    stripped = text.lstrip()
    if stripped.startswith(("{", "[")):
        return _parse_json(source, text)
    starts = [0, *(m.start() + 1 for m in _SEPARATOR.finditer(text))]
    starts.append(len(text))
    raws = [text[begin:end] for begin, end in itertools.pairwise(starts)]
    lines = list(itertools.accumulate((raw.count("\n") for raw in raws[:-1]), initial=1))
    # Stage by stage over all documents rather than one document at a time: measurably faster on big inputs.
    yaml11 = [_needs_yaml11(raw) for raw in raws]
    data = [
        load_yaml(raw, source, line, yaml11=flag) for raw, line, flag in zip(raws, lines, yaml11, strict=True)
    ]
    return [
        Document(source, index, line, raw, value, yaml11=flag)
        for index, (line, raw, value, flag) in enumerate(zip(lines, raws, data, yaml11, strict=True))
    ]


def load_yaml(raw: str, source: str = "<text>", line: int = 1, *, yaml11: bool | None = None) -> Any:
    """Load one YAML document (YAML 1.1 semantics where they matter); InputError on bad input.

    `yaml11` says whether the text needs YAML 1.1 reading (None: look at it).
    """
    if yaml11 is None:
        yaml11 = _needs_yaml11(raw)
    if yaml_rs is None or yaml11:
        return _load_pyyaml(raw, source, line)
    try:
        return yaml_rs.loads(raw, parse_datetime=False)
    except Exception as exc:
        raise InputError(
            source, line + _error_line(raw, str(exc)) - 1, f"invalid YAML: {_reason(exc)}"
        ) from None


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


def _load_pyyaml(raw: str, source: str, line: int) -> Any:
    import yaml  # only for YAML 1.1 documents and error messages: keeps start-up short

    try:
        return yaml.load(raw, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = line + mark.line if mark is not None else line
        reason = " ".join(str(part) for part in (exc.context, exc.problem) if part) or "invalid YAML"
        raise InputError(source, where, f"invalid YAML: {reason}") from None
    except yaml.YAMLError as exc:
        raise InputError(source, line, f"invalid YAML: {str(exc).splitlines()[0]}") from None


def _parse_json(source: str, text: str) -> list[Document]:
    decoder = json.JSONDecoder()
    docs: list[Document] = []
    pos = 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            break
        try:
            data, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            raise InputError(source, exc.lineno, f"invalid JSON: {exc.msg}") from None
        # Trailing whitespace stays with the document so the raws still add up to the source.
        while end < len(text) and text[end].isspace():
            end += 1
        docs.append(Document(source, len(docs), text.count("\n", 0, pos) + 1, text[pos:end], data, True))
        pos = end
    if docs and text[: len(text) - len(text.lstrip())]:
        first = docs[0]
        lead = text[: len(text) - len(text.lstrip())]
        docs[0] = Document(first.source, 0, 1, lead + first.raw, first.data, True)
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


def serviceaccount_info(obj: Mapping[str, Any]) -> ServiceAccountInfo:
    meta = obj.get("metadata") or {}
    annotations = meta.get("annotations") or {}
    return ServiceAccountInfo(
        namespace=str(meta.get("namespace") or "default"),
        name=str(meta.get("name") or ""),
        annotations={str(k): v if isinstance(v, str) else str(v) for k, v in annotations.items()},
        resource_version=str(meta.get("resourceVersion") or ""),
    )


def serviceaccounts_in(docs: Iterable[Document]) -> dict[tuple[str, str], ServiceAccountInfo]:
    """ServiceAccounts among the documents, keyed by (namespace, name); namespace defaults to default."""
    found: dict[tuple[str, str], ServiceAccountInfo] = {}
    for obj in objects(docs):
        if obj.get("kind") == "ServiceAccount" and isinstance(obj.get("metadata"), MAPPING_TYPES):
            info = serviceaccount_info(obj)
            if info.name:
                found[(info.namespace, info.name)] = info
    return found


def load_serviceaccounts(paths: Iterable[str | Path]) -> dict[tuple[str, str], ServiceAccountInfo]:
    """ServiceAccounts from files or directories; raises InputError for unreadable input."""
    return serviceaccounts_in(read_documents(str(p) for p in paths))
