"""One pass over decoded JSON: does it nest deeper than a limit, does it hold a float?

Compiled with the core: the admission server walks every review it reads through orjson, and every answer
and log line it writes through orjson, to know when the exact (stdlib) path must decide instead
(webhook/admission.py, webhook/compactjson.py).
"""

from __future__ import annotations

from typing import Final

OK: Final = 0
HAS_FLOAT: Final = 1  # orjson and the stdlib may read or print a float differently: the caller falls back
DEEPER: Final = 2  # a container nested deeper than the limit (the root container is at depth 1)


def walk(document: object, limit: int, plain_floats: bool = False) -> int:
    """OK, HAS_FLOAT or DEEPER, whichever is found first. With `plain_floats`, a float both print alike is
    no float here: zero and magnitudes in [1e-4, 1e16), which both write as Python's repr does (1.25,
    0.0001); below, orjson writes 0.00001 where Python writes 1e-05."""
    return _node(document, 1, limit, plain_floats)


def _plain(number: float) -> bool:
    return number == 0.0 or 1e-4 <= abs(number) < 1e16  # NaN and infinities are not


# A dict and a list walked by loops of their own: compiled, each is the type's own fast iteration.
def _node(node: object, depth: int, limit: int, plain_floats: bool) -> int:
    kind = type(node)
    if kind is str or kind is int or kind is bool or node is None:
        return OK
    if isinstance(node, dict):
        if depth > limit:
            return DEEPER
        for child in node.values():
            found = _node(child, depth + 1, limit, plain_floats)
            if found != OK:
                return found
        return OK
    if isinstance(node, list):
        if depth > limit:
            return DEEPER
        for item in node:
            found = _node(item, depth + 1, limit, plain_floats)
            if found != OK:
                return found
        return OK
    if isinstance(node, float) and not (plain_floats and _plain(node)):
        return HAS_FLOAT
    return OK
