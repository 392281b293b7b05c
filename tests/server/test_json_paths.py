"""The server's fast JSON paths (orjson in, orjson out) answer exactly what the stdlib paths answer.

parse_review reads through orjson and hands to the stdlib whenever the two could differ; encode_patch, dumps
and the decision log line print through orjson only where the bytes are the stdlib's. Compared on
generated data (a fixed seed) and on the inputs where the two libraries are known to part ways. The decision
line against the formatter's: tests/server/test_contract.py.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from webhook import admission
from webhook.admission import ReviewError
from webhook.compactjson import encode
from webhook.jsonwalk import DEEPER, HAS_FLOAT, OK, walk


def _exactly(body: bytes) -> tuple[str, Any]:
    """What the stdlib path alone answers: ("ok", request) or ("error", message)."""
    try:
        review = admission._decode_exactly(body)
    except ReviewError as exc:
        return "error", exc.message
    return "ok", review


def _fast(body: bytes) -> tuple[str, Any]:
    try:
        review = admission._decode(body)
    except ReviewError as exc:
        return "error", exc.message
    return "ok", review


def _same(a: Any, b: Any) -> bool:
    """Equal values of equal types all the way down (1 == 1.0 == True for ==, not here)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and a != a:
        return b != b
    return bool(a == b)


scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=12)
    | st.sampled_from(["\x7f", "\u2028", "é", "\x00", '"', "\\", "/", "\U0001f600", "\ud800"])
)
documents = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=24,
)


def _texts(value: Any) -> list[bytes]:
    """A value written several ways the apiserver or a hostile client might write it."""
    out = []
    for ensure_ascii in (True, False):
        try:
            text = json.dumps(value, ensure_ascii=ensure_ascii, separators=(",", ":"))
        except ValueError:
            continue
        out.append(text.encode("utf-8", "surrogatepass"))
        out.append(
            (" " + json.dumps(value, ensure_ascii=ensure_ascii, indent=1) + "\n").encode(
                "utf-8", "surrogatepass"
            )
        )
    return out


@settings(
    max_examples=400,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(documents)
def test_decode_answers_what_the_stdlib_answers(value: Any) -> None:
    for body in _texts(value):
        want, got = _exactly(body), _fast(body)
        assert want[0] == got[0], body
        assert _same(want[1], got[1]) if want[0] == "ok" else want[1] == got[1], body


@settings(
    max_examples=400,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(st.binary(max_size=40) | st.sampled_from([b"{", b"[1,]", b'{"a":1,}', b"NaN", b"-Infinity"]))
def test_decode_of_arbitrary_bytes_answers_what_the_stdlib_answers(junk: bytes) -> None:
    for body in (junk, b'{"a":' + junk + b"}", junk + b"{}"):
        want, got = _exactly(body), _fast(body)
        assert want[0] == got[0], body
        assert _same(want[1], got[1]) if want[0] == "ok" else want[1] == got[1], body


@pytest.mark.parametrize(
    "body",
    [
        b"\xef\xbb\xbf{}",  # a BOM: orjson refuses it in other words
        b'["\\ud800"]',  # a lone surrogate escape
        b'["\\ud83d\\ude00"]',  # a pair: both read it
        b'{"a":1,"a":2,"b":3}',  # duplicate keys: the last value, the first place
        b"[18446744073709551616]",  # past 64 bits: orjson reads a float, the stdlib an int
        b"[1e400]",  # infinity for the stdlib, an error for orjson
        b"[1.0, 1e16, -0.0, 5e-324]",
        b"[NaN]",
        b"[" * 101 + b"]" * 101,  # one level too deep
        b"[" * 100 + b"]" * 100,  # just deep enough
        b"[" * 1010 + b"]" * 1010,  # deeper than the stdlib's recursion, within orjson's
        b"[" * 1100 + b"]" * 1100,  # deeper than both
        b"[1.5," + b"[" * 101 + b"]" * 101 + b"]",  # a float before the depth
        b"\xff",  # not UTF-8
        b'"\xed\xa0\x80"',  # an encoded surrogate
        b"{}\x00",
        b" \t\r\n{} ",
        b"{}\x0b",
    ],
)
def test_decode_where_the_libraries_part_ways(body: bytes) -> None:
    want, got = _exactly(body), _fast(body)
    assert want[0] == got[0]
    assert _same(want[1], got[1]) if want[0] == "ok" else want[1] == got[1]


def test_walk_finds_floats_and_depth() -> None:
    assert walk({"a": [1, "x", None, True]}, 3) == OK
    assert walk({"a": [[1]]}, 2) == DEEPER
    assert walk({"a": [[1.5]]}, 3) == HAS_FLOAT
    assert walk(2.0, 1) == HAS_FLOAT
    assert walk("x", 0) == OK


_STDLIB_PATCH = json.JSONEncoder(separators=(",", ":"))
_STDLIB_DUMPS = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
_STDLIB_LOG = json.JSONEncoder(default=str, separators=(",", ":"))


def _stdlib(encoder: json.JSONEncoder, value: Any) -> bytes | None:
    try:
        return encoder.encode(value).encode()
    except (TypeError, ValueError, UnicodeEncodeError):
        return None


@settings(
    max_examples=600,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(documents | st.floats())
def test_encode_is_the_stdlib_byte_for_byte_or_declines(value: Any) -> None:
    for encoder, ascii_only in ((_STDLIB_PATCH, True), (_STDLIB_DUMPS, False)):
        fast = encode(value, ascii_only)
        if fast is not None:
            assert fast == _stdlib(encoder, value)


@pytest.mark.parametrize(
    "value",
    [
        1e16,
        1e-5,
        9.9e-5,
        1e-4,
        -0.0,
        1.0,
        1.25,
        float("nan"),
        float("inf"),
        {1: "a"},
        2**64,
        "\ud800",
        "\x7f",
        "é",
        ["\u2028"],
        ("a", 1),
    ],
)
def test_encode_declines_or_agrees_where_the_libraries_part_ways(value: Any) -> None:
    for encoder, ascii_only in ((_STDLIB_PATCH, True), (_STDLIB_DUMPS, False)):
        fast = encode(value, ascii_only)
        if fast is not None:
            assert fast == _stdlib(encoder, value)
    assert encode(1e-5, False) is None and encode(float("nan"), False) is None
    assert encode({"duration_ms": 0.452}, True) == b'{"duration_ms":0.452}'  # every decision line has one
    assert encode("\x7f", True) is None and encode("é", True) is None
    assert encode("é", False) == '"é"'.encode()


@settings(max_examples=2000, deadline=None, database=None, derandomize=True)
@given(
    st.floats(min_value=1e-4, max_value=1e16, exclude_max=True)
    | st.floats(min_value=-1e16, max_value=-1e-4, exclude_min=True)
    | st.integers(min_value=0, max_value=10**9).map(lambda n: round(n / 1000, 3))
)
def test_plain_floats_take_the_fast_way_and_print_as_python_does(number: float) -> None:
    assert encode([number], True) == _STDLIB_PATCH.encode([number]).encode()


def test_patch_response_and_log_are_the_stdlib_bytes() -> None:
    patch = [{"op": "add", "path": "/spec/volumes/-", "value": {"name": "tok", "x": ["é", "\x7f", 7]}}]
    assert base64.b64decode(admission.encode_patch(patch)) == _STDLIB_PATCH.encode(patch).encode()
    response = {"apiVersion": "admission.k8s.io/v1", "response": {"uid": "ü", "warnings": ["a\nb"], "n": 1.5}}
    assert admission.dumps(response) == _STDLIB_DUMPS.encode(response).encode()
    floaty = [{"op": "add", "path": "/a", "value": 1e16}]
    assert base64.b64decode(admission.encode_patch(floaty)) == b'[{"op":"add","path":"/a","value":1e+16}]'
