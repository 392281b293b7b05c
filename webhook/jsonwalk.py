"""One pass over decoded JSON: does it nest deeper than a limit, does it hold a float?

Compiled with the core: the admission server walks every review it reads through orjson with it, to know
when the exact (stdlib) path must decide instead (webhook/admission.py).
"""

from __future__ import annotations

from typing import Final

OK: Final = 0
HAS_FLOAT: Final = 1  # orjson and the stdlib may read or print a float differently: the caller falls back
DEEPER: Final = 2  # a container nested deeper than the limit (the root container is at depth 1)


def walk(document: object, limit: int) -> int:
    """OK, HAS_FLOAT or DEEPER, whichever is found first."""
    if type(document) is float:
        return HAS_FLOAT
    if isinstance(document, dict | list):
        return _walk(document, 1, limit)
    return OK


def _walk(node: dict[object, object] | list[object], depth: int, limit: int) -> int:
    if depth > limit:
        return DEEPER
    children = node.values() if isinstance(node, dict) else node
    for child in children:
        kind = type(child)
        if kind is str or kind is int or kind is bool or child is None:
            continue
        if kind is float:
            return HAS_FLOAT
        if isinstance(child, dict | list):
            found = _walk(child, depth + 1, limit)
            if found != OK:
                return found
        elif isinstance(child, float):
            return HAS_FLOAT
    return OK
