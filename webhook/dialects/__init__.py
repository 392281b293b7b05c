"""Annotation dialects: each reads a pod and its ServiceAccount into an Injection (or errors, or a skip).

The registry: every module of this package that defines `DIALECT` (webhook.dialects.base.Dialect) is a
dialect, found by walking the package, so adding one is adding its module. `generic` comes first, the others
in name order.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

import webhook
from webhook.dialects.base import Dialect, OptOut, Resolver

# Dialects compiled by `make venv` sit in the package's compiled folder (webhook/__init__.py): searched first.
for _root in webhook.__path__:
    _compiled = os.path.join(_root, "dialects")
    if _compiled not in __path__ and os.path.isdir(_compiled):
        __path__.insert(0, _compiled)

GENERIC = "generic"


def _discover() -> dict[str, Dialect]:
    found: list[Dialect] = []
    for info in pkgutil.iter_modules(__path__):
        if info.name == "base":
            continue
        declared = getattr(importlib.import_module(f"{__name__}.{info.name}"), "DIALECT", None)
        if isinstance(declared, Dialect):
            found.append(declared)
    found.sort(key=lambda d: (d.name != GENERIC, d.name))
    return {d.name: d for d in found}


REGISTRY: dict[str, Dialect] = _discover()
KNOWN_DIALECTS: tuple[str, ...] = tuple(REGISTRY)
DIALECTS: dict[str, Resolver] = {name: d.resolve for name, d in REGISTRY.items()}
OPT_OUTS: dict[str, OptOut] = {name: d.opted_out for name, d in REGISTRY.items() if d.opted_out}


def annotation_prefixes(
    annotation_prefix: str, dialects: Iterable[str], settings: Any = None
) -> tuple[str, ...]:
    """The annotation key prefixes the enabled dialects read (the generic one always: its opt-out counts
    for every dialect); `settings` None means each dialect's defaults."""
    prefixes = [annotation_prefix.rstrip("/") + "/"]
    for name in dialects:
        if name != GENERIC and name in REGISTRY:
            prefixes.extend(REGISTRY[name].annotation_prefixes(settings))
    return tuple(dict.fromkeys(prefixes))


def object_selector_requirements(dialects: Iterable[str]) -> list[dict[str, Any]]:
    """The matchExpressions the enabled dialects add to the webhook's objectSelector (see base.Dialect)."""
    enabled = [REGISTRY[name] for name in dict.fromkeys(dialects)]
    out: list[dict[str, Any]] = []
    for dialect in enabled:
        out.extend(dialect.opt_out_selector)
    if len(enabled) == 1:
        out.extend(enabled[0].opt_in_selector)
    return out


@lru_cache(maxsize=64)
def dialect_calls(dialects: tuple[str, ...]) -> tuple[tuple[OptOut, ...], tuple[Resolver, ...]]:
    """For the enabled dialects: the pod-wide opt-out checks, and the resolvers in order. The generic
    `P/inject` opt-out always counts (the base objectSelector excludes its label whatever the dialects);
    the others when their dialect is on. Memoised: the core asks for every pod."""
    checks = tuple(OPT_OUTS[name] for name in dict.fromkeys((GENERIC, *dialects)) if name in OPT_OUTS)
    return checks, tuple(DIALECTS[name] for name in dialects)
