"""The fast loader (yaml-rs) against the exact one (PyYAML, YAML 1.1 as kubectl reads it), differentially.

Every generated document must load through `load_yaml` and `parse` (which pick yaml-rs where they find nothing
YAML 1.1 reads differently) to exactly what the exact loader makes of it, or be refused by both. The corpus
covers the YAML 1.1 that Kubernetes manifests use: anchors, aliases and merge keys (lists of merges too), 1.1
booleans, octals, sexagesimals, timestamps and null forms, block scalars with indicators, flow style, quoted
strings with escapes, tags, comments everywhere, CRLF, a BOM, `---`/`...` markers and `%YAML` directives. A
systematic part puts every scalar form in every position; hypothesis (fixed seed in CI) combines them.
"""

from __future__ import annotations

import itertools
import math
import os
import random
import re
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from webhook import documents
from webhook.documents import InputError, load_yaml, parse

# Plain scalars: every form YAML 1.1 and 1.2 may resolve differently, and ordinary strings that look close.
PLAIN = [
    # booleans and their look-alikes
    "y",
    "Y",
    "yes",
    "Yes",
    "YES",
    "n",
    "N",
    "no",
    "No",
    "NO",
    "on",
    "On",
    "ON",
    "off",
    "Off",
    "OFF",
    "true",
    "True",
    "TRUE",
    "false",
    "False",
    "FALSE",
    "yEs",
    "oN",
    "nO",
    "onion",
    "Off-peak",
    "yes-no",
    "true1",
    "n0",
    "y2k",
    # null
    "~",
    "null",
    "Null",
    "NULL",
    "nulls",
    # integers
    *(
        [
            "0",
            "7",
            "-0",
            "+12",
            "8080",
            "0644",
            "+0644",
            "-012",
            "00",
            "012",
            "089",
            "0_644",
            "1_000",
            "1__0",
            "0b101",
            "-0b11",
            "0b2",
            "0o17",
            "0o8",
            "0x1F",
            "-0x1F",
        ]
    ),
    "0x_1F",
    "0xG",
    "1:20",
    "-1:20",
    "190:20:30",
    "1:60",
    "1:2:3",
    "123456789012345678",
    "1234567890123456789",
    "123456789012345678901234567890",
    # floats
    *(
        [
            "1.5",
            "-1.5",
            "1.",
            "0.",
            ".5",
            "-.5",
            "+.5",
            "1e3",
            "1E3",
            "1e+3",
            "1.0e5",
            "1.0e+5",
            "-.5e-3",
            "1_000.5",
            "190:20:30.15",
            ".inf",
            "-.Inf",
            "+.INF",
        ]
    ),
    ".nan",
    ".NaN",
    ".NAN",
    "-.nan",
    ".inf.",
    "1.2.3",
    "1.25.3",
    "0.0.0.0",
    "1e",
    "1e+",
    "e1",
    ".e1",
    "+.",
    "-",
    "+",
    ".",
    # timestamps
    "2001-12-14",
    "2001-1-1",
    "2001-12-14t21:59:43.10-05:00",
    "2001-12-14T21:59:43Z",
    "20011214",
    "2001-12",
    "2001-12-14 21:59:43.10 -5",
    # resource quantities, versions, names, paths: strings everywhere
    "10Mi",
    "500m",
    "1h",
    "2d",
    "1Gi",
    "1e6Mi",
    "v1",
    "apps/v1",
    "nginx:1.25",
    "registry.example.com/a/b:1.0",
    "-x",
    "~x",
    "@x",
    "`x",
    "=",
    "a=b",
    "x:y",
    "http://a/b",
    "a#b",
    "a,b",
    "*.example.com",
    "100%",
    "!x",
    "a b",
    "0644 0644",
    "yes please",
    "1 2",
]
QUOTED = [
    "'0644'",
    "'yes'",
    "'it''s'",
    "''",
    '""',
    '"0644"',
    '"yes"',
    '"a\\tb"',
    '"\\u00e9\\x41\\U0001F600"',
    '"\\0\\a\\b\\e\\f\\n\\r\\v\\N\\_\\L\\P\\ \\"\\\\"',
    '"\\/"',
    '"a\\\n  b"',
    "'multi\n  line'",
    '"\\ud800"',
]
TAGGED = [
    "!!str 0644",
    "!!str yes",
    "!!int '0644'",
    "!!int 12",
    "!!float 1",
    "!!float '1e3'",
    "!!bool yes",
    "!!bool 'true'",
    "!!null ''",
    "!!binary aGk=",
    "!!timestamp 2001-12-14",
    "!!timestamp '2001-12-14'",
    "!!str",
    "!custom x",
    "!<tag:yaml.org,2002:str> 1",
    "!!set {a, b}",
    "!!omap [a: 1]",
    "!!seq [a]",
    "!!map {a: 1}",
    "!!python/name:os.system",
]
BLOCK = ["|\n{i}echo a\n{i}echo b\n", ">-\n{i}x y\n"] * 3 + [
    "|\n{i}a\n{i}0644\n",
    "|-\n{i}yes\n",
    "|+\n{i}x\n\n",
    ">\n{i}a\n{i}b\n",
    ">-\n{i}1:20\n",
    "|2\n{i}   x\n",
]


def same(a: Any, b: Any) -> bool:
    """Equal data of equal types (True == 1 == 1.0 in Python; not here), NaN equal to NaN."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, dict):
        return len(a) == len(b) and all(
            any(same(k, k2) and same(v, b[k2]) for k2 in b if k2 == k or same(k, k2)) for k, v in a.items()
        )
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def exact(text: str) -> Any:
    return documents._load_exact(text[1:] if text.startswith("\ufeff") else text, "t", 1)


def check(text: str) -> None:
    """What the loaders in production make of `text` is what the exact loader makes of it, or both refuse."""
    try:
        expected = exact(text)
    except InputError:
        expected = InputError
    for name, load in (("load_yaml", lambda: load_yaml(text)), ("parse", lambda: _parse_one(text))):
        try:
            got = load()
        except InputError:
            got = InputError
        if expected is InputError or got is InputError:
            assert got is expected, f"{name}: {got!r} where the exact loader gives {expected!r} for {text!r}"
        else:
            assert same(got, expected), (
                f"{name}: {got!r} where the exact loader gives {expected!r} for {text!r}"
            )


def _parse_one(text: str) -> Any:
    docs = [d for d in parse("t", text) if d.data is not None or d.raw.strip("\ufeff \r\n-.")]
    return docs[-1].data if docs else None


POSITIONS = [
    "k: {s}\n",
    "k: {s}  # comment\n",
    "k:\n  {s}\n",
    "- {s}\n",
    "items:\n- a\n- {s}\n",
    "k: [a, {s}]\n",
    "k: [{s}, a]\n",
    "k: {{a: {s}}}\n",
    "k: {{a: {s}, b: c}}\n",
    "k: [\n  {s}\n]\n",
    "{s}: v\n",
    "m:\n  {s}: v\n",
    "- {s}: v\n",
    "k: {{{s}: v}}\n",
    "? {s}\n: v\n",
    "k: &a {s}\nj: *a\n",
]


@pytest.mark.parametrize("position", POSITIONS)
def test_every_scalar_form_in_every_position(position: str) -> None:
    for scalar in PLAIN + QUOTED + TAGGED:
        if "\n" in scalar and position.startswith("k: {{"):
            continue  # a quoted key over two lines: see the next test
        check(position.format(s=scalar))


def test_known_leniency_a_quoted_key_over_two_lines_in_a_flow_mapping() -> None:
    """YAML forbids an implicit key over two lines; libyaml refuses it, yaml-rs reads it. Nothing is lost (the
    key reads as one line), and finding it would cost a scan of every line: accepted, and pinned here."""
    assert load_yaml('k: {"a\\\n  b": v}\n') == {"k": {"ab": "v"}}
    with pytest.raises(InputError):
        exact('k: {"a\\\n  b": v}\n')


@pytest.mark.parametrize("layout", ["{d}", "---\n{d}", "--- # c\n{d}", "%YAML 1.1\n---\n{d}", "{d}...\n"])
@pytest.mark.parametrize("crlf", [False, True])
@pytest.mark.parametrize("bom", [False, True])
def test_layouts_markers_and_line_ends(layout: str, crlf: bool, bom: bool) -> None:
    for scalar in ["0644", "yes", "a", "1.5", "2001-12-14", "'x'"]:
        for body in ("k: {s}\n", "- {s}\n", "k: |\n  {s}\n", "a: &x {{k: {s}}}\nb:\n  <<: *x\n"):
            text = layout.format(d=body.format(s=scalar))
            text = text.replace("\n", "\r\n") if crlf else text
            check(("\ufeff" if bom else "") + text)


# ------------------------------------------------------------------------------------------ generated corpus


# What most of a manifest is: documents made of these alone take the fast path, so the comparison covers it.
ORDINARY = [
    "nginx",
    "app",
    "8080",
    "0",
    "-1",
    "1.5",
    "10Mi",
    "500m",
    "true",
    "false",
    "null",
    "~",
    "v1",
    "apps/v1",
    "registry.example.com/a/b:1.0",
    "http://a/b",
    "Always",
    "/data",
    "x-y",
    "'quoted'",
    '"dq"',
    '"a\\tb"',
    "'it''s'",
]


@st.composite
def scalars(draw: st.DrawFn, flow: bool, ordinary: bool = False) -> str:
    kind = (
        "ordinary" if ordinary else draw(st.sampled_from(["ordinary"] * 12 + ["plain", "quoted", "tagged"]))
    )
    if kind == "ordinary":
        return draw(st.sampled_from(ORDINARY))
    if kind == "plain":
        return draw(st.sampled_from(PLAIN))
    if kind == "quoted":
        return draw(st.sampled_from([q for q in QUOTED if not flow or "\n" not in q]))
    return draw(st.sampled_from(TAGGED))


KEYS = ["a", "name", "image", "args", "env", "value", "b c", "'x'", '"y"'] * 3 + [
    *(["0644", "yes", "on", "1.5", "2001-12-14", "null", "=", "8080"])
]


class Doc:
    """Generates a block mapping document with anchors defined before their aliases."""

    def __init__(self, draw: st.DrawFn) -> None:
        self.draw = draw
        self.anchors: list[str] = []
        # Half the documents hold only what both loaders agree on: the fast path must read those exactly.
        self.ordinary = draw(st.booleans())

    def comment(self) -> str:
        return self.draw(st.sampled_from(["", "", "", "  # c", " #c: d"]))

    def anchor(self) -> str:
        if not self.ordinary and self.draw(st.integers(0, 20)) == 0:
            name = f"a{len(self.anchors)}"
            self.anchors.append(name)
            return f"&{name} "
        return ""

    def alias(self) -> str | None:
        if self.anchors and self.draw(st.integers(0, 4)) == 0:
            return "*" + self.draw(st.sampled_from(self.anchors))
        return None

    def flow(self, depth: int) -> str:
        alias = self.alias()
        if alias:
            return alias
        choice = self.draw(st.integers(0, 3 if depth < 3 else 0))
        if choice <= 1:
            return self.anchor() + self.draw(scalars(flow=True, ordinary=self.ordinary))
        items = [self.flow(depth + 1) for _ in range(self.draw(st.integers(0, 3)))]
        if choice == 2:
            return self.anchor() + "[" + ", ".join(items) + "]"
        keys = [self.draw(st.sampled_from(KEYS[:9] if self.ordinary else KEYS)) for _ in items]
        return self.anchor() + "{" + ", ".join(f"{k}: {v}" for k, v in zip(keys, items, strict=True)) + "}"

    def mapping(self, indent: int, depth: int) -> list[str]:
        pad = " " * indent
        lines: list[str] = []
        used: set[str] = set()
        for _ in range(self.draw(st.integers(1, 4))):
            if self.draw(st.integers(0, 6)) == 0:
                lines.append(f"{pad}# a comment line")
            if self.anchors and self.draw(st.integers(0, 3)) == 0 and "<<" not in used:
                used.add("<<")
                merged = self.draw(st.lists(st.sampled_from(self.anchors), min_size=1, max_size=3))
                target = (
                    f"*{merged[0]}" if len(merged) == 1 else "[" + ", ".join(f"*{m}" for m in merged) + "]"
                )
                lines.append(f"{pad}<<: {target}")
                continue
            key = self.draw(st.sampled_from(KEYS[:9] if self.ordinary else KEYS))
            if key in used:
                continue
            used.add(key)
            lines.extend(self.value(pad + key + ":", indent, depth))
        return lines

    def value(self, lead: str, indent: int, depth: int) -> list[str]:
        """Lines for a value after `lead` ("key:" or "-")."""
        alias = self.alias()
        if alias:
            return [f"{lead} {alias}{self.comment()}"]
        choice = self.draw(st.integers(0, 5 if depth < 4 else 2))
        if choice <= 1:
            scalar = self.draw(scalars(flow=False, ordinary=self.ordinary))
            return [f"{lead} {self.anchor()}{scalar}{self.comment()}"]
        if choice == 2:
            block = self.draw(st.sampled_from(BLOCK)).format(i=" " * (indent + 2))
            return (
                [f"{lead} {self.anchor()}{block.rstrip(chr(10))}"]
                if not block.endswith("\n\n")
                else [f"{lead} {self.anchor()}{block[:-1]}"]
            )
        if choice == 3:
            return [f"{lead} {self.flow(depth + 1)}{self.comment()}"]
        anchor = self.anchor().strip()
        head = f"{lead} {anchor}".rstrip() + self.comment()
        if choice == 4:
            return [head, *self.mapping(indent + 2, depth + 1)]
        offset = self.draw(st.sampled_from([0, 2])) if lead.endswith(":") else 2
        return [head, *self.sequence(indent + offset, depth + 1)]

    def sequence(self, indent: int, depth: int) -> list[str]:
        pad = " " * indent
        lines: list[str] = []
        for _ in range(self.draw(st.integers(1, 3))):
            if self.draw(st.integers(0, 2)) == 0 and depth < 4:
                inner = self.mapping(indent + 2, depth + 1)  # compact "- key: value"
                inner[0] = pad + "- " + inner[0][indent + 2 :]
                lines.extend(inner)
            else:
                lines.extend(self.value(pad + "-", indent, depth))
        return lines


@st.composite
def documents_text(draw: st.DrawFn) -> str:
    doc = Doc(draw)
    body = "\n".join(doc.mapping(0, 0)) + "\n"
    head = draw(
        st.sampled_from(["", "", "", "---\n", "--- # c\n", "---\t# c\n", "# head\n", "%YAML 1.1\n---\n"])
    )
    tail = draw(st.sampled_from(["", "", "", "", "", "# tail\n", "...\n"]))
    text = head + body + tail
    if draw(st.booleans()):
        text = text.replace("\n", "\r\n")
    if draw(st.integers(0, 4)) == 0:
        text = "\ufeff" + text
    return text


@settings(
    max_examples=1000,
    derandomize=not os.environ.get("LOADERS_RANDOM"),  # CI: the same corpus every run; set it to explore
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(documents_text())
def test_generated_documents_load_as_the_exact_loader_loads_them(text: str) -> None:
    check(text)


def test_the_corpus_reaches_the_fast_loader() -> None:
    """The differential test means something only if documents do take the fast path."""
    fast = [s for s in PLAIN if not documents._needs_exact(f"k: {s}\n")]
    assert {"nginx:1.25", "8080", "1.5", "10Mi", "true", "null", "v1"} <= set(fast)
    assert documents._needs_exact("k: 0644\n") and documents._needs_exact("a: &x 1\n")


# ------------------------------------------------------------------- the scan that picks the loader, by spec

# What `_needs_exact` is, written plainly: each prefix followed by the whole _PLAIN_DIFFERS pattern, every
# needle found on its own, brackets counted. The scan in production turns positions away early, finds
# brackets with str.find and some needles with a prefix pattern: it must flag exactly these documents.
_SPEC_PREFIXES = (": ++", "- ++", r"\n *+(?!- )", r"\[ *+", r"\{ *+", ", *+")


def _spec_needs_exact(raw: str, patterns: list[Any]) -> bool:
    return (
        any(text in raw for text in (*documents._EXACT_TEXT, *documents._DEEP_TEXT))
        or raw.startswith("%")
        or documents._has_yaml11_break(raw)
        or documents._differs_at_start(raw)
        or any(pattern.search(raw) for pattern in patterns)
        or raw.count("[") + raw.count("{") >= documents._MANY_BRACKETS
    )


_SCAN_TOKENS = [
    *[": ", ":", " ", "  ", "- ", "-", "\n", "\n  ", "\n- ", "[", "]", "{", "}", ", ", ",", "#", "'", "\r\n"],
    *["0", "0644", "12", "8080", "100m", "128Mi", "1e3", "0x1F", "1:20", "2001-12-14", ".5", "-1", "+.inf"],
    *["y", "n", "N", "yes", "no", "No", "on", "OFF", "OnFailure", "Never", "nginx", "name", "noX", "=", "--"],
    *["\n---\n", "\n--- ", "\n...", "...", "%YAML 1.1\n", "&a ", "!", "<<", "? ", "\t", "\x85", "\ufeff"],
    *["\x00", "\x1f", "\x7f", "\x9f", "\n" + " " * 80, "- " * 10, "- - ", "[" * 25, "{" * 25],
]
_ORDINARY_TOKENS = ["abc", "name", "x-y", " ", ": ", "- ", "\n", "\n  ", "\n  - ", "8080", "100m", "Never"]


def _scan_texts(count: int) -> Iterator[str]:
    """Texts of the tokens the scan looks for, mostly among ordinary ones (a trigger alone in a document is
    what a wrong turn-away misses), single and multi-document, some dense in flow indicators."""
    rng = random.Random(11)
    for _ in range(count):
        rate = rng.choice([0.02, 0.1, 0.5])
        parts = [
            rng.choice(_SCAN_TOKENS if rng.random() < rate else _ORDINARY_TOKENS)
            for _ in range(rng.randint(1, 50))
        ]
        if rng.random() < 0.1:
            parts += rng.choices(["[", "{", ", 0644", "[yes", "{on", "]"], k=rng.randint(20, 300))
            rng.shuffle(parts)
        yield "".join(parts)


def test_the_scan_flags_exactly_what_its_spec_flags() -> None:
    patterns = [re.compile(prefix + documents._PLAIN_DIFFERS, re.M) for prefix in _SPEC_PREFIXES]
    texts = list(_scan_texts(6000))
    # Long ordinary documents around them: few brackets per character, so str.find finds and counts them.
    ordinary = "a: x-y\n" * 600
    streams = [ordinary.join(texts[i : i + 8]) + "---\n" for i in range(0, len(texts), 8)]
    streams = [text.replace(ordinary, "\n---\n" + ordinary + "---\n") for text in streams]
    for text in texts + streams:
        starts = [0, *(m.start() + 1 for m in documents._SEPARATOR.finditer(text)), len(text)]
        raws = [text[begin:end] for begin, end in itertools.pairwise(starts)]
        spec = [_spec_needs_exact(raw, patterns) for raw in raws]
        assert documents._exact_flags(text, raws) == spec, text
        assert [documents._needs_exact(raw) for raw in raws] == spec, text


def test_the_character_check_refuses_what_the_class_refuses() -> None:
    for text in _scan_texts(3000):
        found = documents._forbidden().search(text)
        bom = text.find("\ufeff", 1)
        try:
            documents.check_characters("t", text)
        except InputError as exc:
            where = found.start() if found else bom
            assert exc.line == text.count("\n", 0, where) + 1, text
        else:
            assert found is None and bom < 0, text
