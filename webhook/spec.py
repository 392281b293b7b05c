"""The vocabulary shared by the core and its shells: ServiceAccounts, token specs and outcomes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ServiceAccountInfo:
    """What the dialects read from a ServiceAccount; nothing else is kept (caches stay small)."""

    namespace: str
    name: str
    annotations: Mapping[str, str] = field(default_factory=dict)
    resource_version: str = ""


JsonPatchOp = dict[str, Any]
