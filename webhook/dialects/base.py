"""What a dialect module declares about itself, read by the registry (webhook/dialects/__init__.py).

A dialect module defines `DIALECT = Dialect(...)`: its name, how it reads a pod (`resolve`), the annotation
prefixes the ServiceAccount cache must keep for it, its settings (a pydantic model whose fields are named
`<dialect>_<setting>`: the flags, WEBHOOK_* env vars and config keys are generated from it), its pod-wide
opt-out, and the objectSelector requirements the manifests carry for it. Nothing outside the module names it.
Validators of a settings model are named `_<dialect>_...`: pydantic keys them by name across the mixed-in
models, so two of one name would silently replace each other.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import BaseModel

from webhook.vocabulary import DialectResult, ServiceAccountInfo

# settings: the composed webhook.settings.CoreSettings, which subclasses every dialect's settings model.
Resolver = Callable[[Mapping[str, Any], ServiceAccountInfo | None, Any], DialectResult]
# A pod-wide opt-out a dialect honours: a reason stops every enabled dialect, not only that one.
OptOut = Callable[[Mapping[str, Any], ServiceAccountInfo | None, Any], "str | None"]


@dataclass(frozen=True)
class Flag:
    """How a settings field shows on the command line, beside its description and default (the click
    options are generated from the model: webhook/options.py). A field without one is a plain flag."""

    negatable: bool = False  # a bool that also has --no-<name>
    directory: bool = False  # a Path that names a directory, not a file
    env_only: bool = False  # no flag: WEBHOOK_<NAME> or the config file only


class CoreView(Protocol):
    """The core settings every dialect may read (webhook.settings.BaseCoreSettings)."""

    @property
    def annotation_prefix(self) -> str: ...
    @property
    def dialects(self) -> list[str]: ...


def _no_prefixes(settings: Any) -> tuple[str, ...]:
    return ()


@dataclass(frozen=True)
class Dialect:
    name: str  # as accepted by --dialects
    summary: str  # what it is a drop-in for, for --help
    resolve: Resolver
    # The ServiceAccount annotation key prefixes it reads, from the settings (None: the defaults).
    annotation_prefixes: Callable[[Any], tuple[str, ...]] = _no_prefixes
    settings: type[BaseModel] | None = None
    opted_out: OptOut | None = None
    # objectSelector matchExpressions for the manifests. Opt-outs are added whenever the dialect is on;
    # opt-ins only when it is the only dialect (a pod of another dialect lacks the label).
    opt_out_selector: tuple[dict[str, Any], ...] = field(default=())
    opt_in_selector: tuple[dict[str, Any], ...] = field(default=())
