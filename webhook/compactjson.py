"""Compact JSON through orjson, only where its bytes are exactly what the stdlib's encoder would write.

`encode` answers None when they could differ, and the caller then uses its stdlib encoder: a float other
than zero or of a magnitude outside [1e-4, 1e16) (0.00001 against Python's 1e-05), NaN or infinity (null
against NaN), a non-string key, an integer past 64 bits, a lone surrogate; with `ascii_only`, any character
the stdlib would escape as \\uXXXX (non-ASCII, and DEL). Everything else (key order, escapes of quotes,
backslashes and control characters, UTF-8 output) is the same byte for byte: tests/server/test_json_paths.py
compares the two on generated data.
"""

from __future__ import annotations

from typing import Any

import orjson

from webhook.jsonwalk import OK, walk

_NO_LIMIT = 1 << 30


def encode(value: Any, ascii_only: bool) -> bytes | None:
    """`value` as the stdlib's compact encoder (separators ",", ":") writes it, UTF-8; or None (see above)."""
    try:
        out = orjson.dumps(value)
    except (TypeError, ValueError):  # orjson.JSONEncodeError is a TypeError
        return None
    if walk(value, _NO_LIMIT, plain_floats=True) != OK:  # only HAS_FLOAT can come back: no depth limit
        return None
    if ascii_only and (not out.isascii() or b"\x7f" in out):
        return None
    return out
