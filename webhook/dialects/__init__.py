"""Annotation dialects: each reads a pod and its ServiceAccount into an Injection (or errors, or a skip)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

from webhook.dialects import eks, generic
from webhook.settings import CoreSettings
from webhook.vocabulary import DialectResult, ServiceAccountInfo

Resolver = Callable[[Mapping[str, Any], ServiceAccountInfo | None, CoreSettings], DialectResult]
# A pod-wide opt-out a dialect honours: a reason stops every enabled dialect, not only that one.
OptOut = Callable[[Mapping[str, Any], ServiceAccountInfo | None, CoreSettings], str | None]

# Keys are the names accepted by --dialects (webhook.settings.KNOWN_DIALECTS).
DIALECTS: dict[str, Resolver] = {generic.NAME: generic.resolve, eks.NAME: eks.resolve}
OPT_OUTS: dict[str, OptOut] = {generic.NAME: generic.opted_out, eks.NAME: eks.opted_out}


def opt_out(
    pod: Mapping[str, Any], serviceaccount: ServiceAccountInfo | None, settings: CoreSettings
) -> str | None:
    """Why the pod is left alone by every dialect, or None. The generic `P/inject` opt-out always counts
    (the base objectSelector excludes its label whatever the dialects); others when their dialect is on."""
    for check in _opt_outs(tuple(settings.dialects)):
        if reason := check(pod, serviceaccount, settings):
            return reason
    return None


@lru_cache(maxsize=64)
def _opt_outs(dialects: tuple[str, ...]) -> tuple[OptOut, ...]:
    return tuple(OPT_OUTS[name] for name in dict.fromkeys((generic.NAME, *dialects)))
