"""Annotation dialects: each reads a pod and its ServiceAccount into an Injection (or errors, or a skip)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
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
    for name in dict.fromkeys((generic.NAME, *settings.dialects)):
        if reason := OPT_OUTS[name](pod, serviceaccount, settings):
            return reason
    return None
