"""Annotation dialects: each reads a pod and its ServiceAccount into an Injection (or errors, or a skip)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from webhook.dialects import eks, generic
from webhook.settings import CoreSettings
from webhook.vocabulary import DialectResult, ServiceAccountInfo

Resolver = Callable[[Mapping[str, Any], ServiceAccountInfo | None, CoreSettings], DialectResult]

# Keys are the names accepted by --dialects (webhook.settings.KNOWN_DIALECTS).
DIALECTS: dict[str, Resolver] = {generic.NAME: generic.resolve, eks.NAME: eks.resolve}
