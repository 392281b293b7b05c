"""The vocabulary shared by the core and its shells: ServiceAccounts, token specs and injection plans."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from types import MappingProxyType
from typing import Any, TypeGuard

JsonPatchOp = dict[str, Any]

MIN_EXPIRATION_SECONDS = 600
MAX_EXPIRATION_SECONDS = 4294967296  # 2**32, the kube-apiserver's upper bound

# kube-apiserver's strict env var name rule (the relaxed one is only GA from 1.34).
ENV_NAME_RE = re.compile(r"[-._a-zA-Z][-._a-zA-Z0-9]*")
DNS1123_LABEL_RE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
SERVICEACCOUNT_MOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
RESERVED_VOLUME_PREFIX = "kube-api-access-"


def is_dns1123_label(value: str) -> bool:
    """A DNS-1123 label, as Kubernetes checks names and namespaces: a-z, 0-9 and '-', alphanumeric at both
    ends, at most 63 characters."""
    return len(value) <= 63 and DNS1123_LABEL_RE.fullmatch(value) is not None


def is_dns1123_subdomain(value: str) -> bool:
    """A DNS-1123 subdomain (most object names): labels joined by '.', at most 253 characters."""
    return len(value) <= 253 and all(DNS1123_LABEL_RE.fullmatch(label) for label in value.split("."))


@dataclass(frozen=True)
class ServiceAccountInfo:
    """What the dialects read from a ServiceAccount; nothing else is kept (caches stay small)."""

    namespace: str
    name: str
    annotations: Mapping[str, str] = field(default_factory=dict)
    resource_version: str = ""


class ServiceAccountError(ValueError):
    """A ServiceAccount object the apiserver would never store (a non-string annotation value, ...)."""


def serviceaccount_view(
    obj: Mapping[str, Any],
    prefixes: tuple[str, ...] | None = None,
    default_namespace: str = "default",
    intern: Any = None,
) -> ServiceAccountInfo | None:
    """The one way to read a ServiceAccount object (file source, cluster cache, render) into what the
    dialects read: None without a name; annotations kept only under `prefixes` (None: all). A name,
    namespace or annotation that is not a string raises ServiceAccountError naming it."""
    metadata = obj.get("metadata")
    if not isinstance(metadata, MAPPING_TYPES):
        return None
    name = metadata.get("name")
    if name is None or name == "":
        return None
    namespace = metadata.get("namespace") or default_namespace
    if not isinstance(name, str) or not isinstance(namespace, str):
        raise ServiceAccountError(
            f"ServiceAccount {namespace}/{name}: metadata.name and namespace must be strings"
        )
    annotations = metadata.get("annotations")
    kept: dict[str, str] = {}
    if annotations is not None and not isinstance(annotations, MAPPING_TYPES):
        raise ServiceAccountError(
            f"ServiceAccount {namespace}/{name}: metadata.annotations must be an object"
        )
    for key, value in (annotations or {}).items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise ServiceAccountError(
                f"ServiceAccount {namespace}/{name}: annotation {key!r} must be a string, got {value!r}"[:300]
                + (" (quote it)" if isinstance(value, int | float | bool) else "")
            )
        if prefixes is None or key.startswith(prefixes):
            kept[intern(key) if intern else key] = value
    if kept:  # in key order, as the apiserver serialises them (a Go map), whatever order a file has
        kept = dict(sorted(kept.items()))
    return ServiceAccountInfo(
        namespace=intern(namespace) if intern else namespace,
        name=name,
        annotations=kept or _NO_ANNOTATIONS,
        resource_version=str(metadata.get("resourceVersion") or ""),
    )


_NO_ANNOTATIONS: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True)
class TokenSpec:
    """One projected token: where it lands in the pod and which env var names its file."""

    name: str  # "token" for the default token, else the DNS-1123 label of a named token
    audience: str
    expiration_seconds: int
    mount_path: str  # absolute directory, normalised (no trailing slash)
    path: str  # file name inside mount_path, relative
    env: str  # env var set to the token file's full path; "" = none
    dialect: str = "generic"
    volume_name: str = ""  # filled by the dialect: derived from mount_path, or fixed (EKS)
    # The annotation or setting that chose mount_path, named in conflict messages.
    mount_path_source: str = field(default="", compare=False)
    # Which containers get it (by name, init containers and sidecars alike): None = every one not skipped.
    containers: frozenset[str] | None = None
    skip_containers: frozenset[str] = frozenset()
    # The annotation (or setting) to change per field ("audience", "expiration", "path"), for fix hints.
    field_keys: tuple[tuple[str, str], ...] = field(default=(), compare=False)

    def gets(self, container: str) -> bool:
        """Whether this token is meant for the named container (the injection's skips aside)."""
        if container in self.skip_containers:
            return False
        return self.containers is None or container in self.containers

    def key_for(self, name: str) -> str:
        return dict(self.field_keys).get(name, name)

    @property
    def file_path(self) -> str:
        return f"{self.mount_path.rstrip('/')}/{self.path}"


@dataclass(frozen=True)
class EnvGroup:
    """Env vars added together to a container unless it already sets any of `guard` (user values win)."""

    vars: tuple[tuple[str, str], ...]
    guard: frozenset[str]
    # An env var already holding one of these values counts as present too (a token file path set by hand).
    guard_values: frozenset[str] = frozenset()
    # The token these vars name: only containers that get that token get them ("" = every container).
    token: str = ""


@dataclass(frozen=True)
class Extra:
    """What a dialect adds besides tokens and env (containers, other volumes, pod annotations): ops applied
    after the token ops, against the pod they leave (see Injection.finish)."""

    ops: tuple[JsonPatchOp, ...] = ()
    errors: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Injection:
    """What one dialect wants in one pod: token volumes, per-container env and the containers it skips."""

    dialect: str
    tokens: tuple[TokenSpec, ...]
    env: tuple[EnvGroup, ...] = ()
    skip_containers: frozenset[str] = frozenset()
    # EKS rule: a container that already sets a name from every one of these sets is left entirely alone.
    hands_off_when_env: tuple[frozenset[str], ...] = ()
    # EKS rule: an existing volume or mount of our volume name counts as ours, whatever it holds.
    trust_existing_by_name: bool = False
    # Called with the pod and the token patch when that patch has no errors: what the dialect adds besides.
    finish: Callable[[Mapping[str, Any], list[JsonPatchOp]], Extra] | None = field(
        default=None, compare=False
    )


@dataclass(frozen=True)
class DialectResult:
    """A dialect's reading of a pod: an injection (or None), plus errors, warnings and why it was skipped."""

    injection: Injection | None = None
    errors: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    skipped: str | None = None


# For isinstance: dict first, so plain dicts (nearly every object here) skip the slower ABC check; any
# other Mapping still counts.
MAPPING_TYPES = (dict, Mapping)


def is_map(value: object) -> TypeGuard[Mapping[str, Any]]:
    """isinstance(value, MAPPING_TYPES), faster: a dict (nearly every object) by its type, then None (an
    absent field); isinstance against the Mapping ABC runs Python code."""
    return type(value) is dict or (value is not None and isinstance(value, Mapping))


@lru_cache(maxsize=1024)
def volume_name_for(mount_path: str, subset: tuple[str, ...] = ()) -> str:
    """Deterministic DNS-1123 volume name from a mount path: `ptw-<slug>-<hash8>`, never from the pod.

    `subset` names the tokens when a container gets only some of the tokens at that path (scoping): that
    volume holds just those, under its own name."""
    key = mount_path if not subset else mount_path + "\n" + ",".join(subset)
    digest = hashlib.sha256(key.encode()).hexdigest()[:8]
    slug = re.sub(r"[^a-z0-9]+", "-", mount_path.lower()).strip("-")
    slug = slug[: 63 - len("ptw--") - len(digest)].strip("-")
    return f"ptw-{slug}-{digest}" if slug else f"ptw-{digest}"


def is_windows(pod: Mapping[str, Any], *, beta_selector: bool = True, os_field: bool = True) -> bool:
    spec = pod.get("spec")
    if not is_map(spec):
        return False
    selector = spec.get("nodeSelector")
    if is_map(selector) and (
        selector.get("kubernetes.io/os") == "windows"
        or (beta_selector and selector.get("beta.kubernetes.io/os") == "windows")
    ):
        return True
    os_spec = spec.get("os")
    return os_field and is_map(os_spec) and os_spec.get("name") == "windows"


def windows_path(path: str) -> str:
    """/var/run/x/token -> C:\\var\\run\\x\\token (what a Windows container sees)."""
    return "C:" + path.replace("/", "\\")


@lru_cache(maxsize=4096)
def clean_path(path: str) -> str:
    """Lexical clean of an absolute path (`//`, `/./`, trailing `/`, `..`), as a container runtime sees it."""
    parts: list[str] = []
    for part in path.split("/"):
        if part == "..":
            if parts:
                parts.pop()
        elif part and part != ".":
            parts.append(part)
    return "/" + "/".join(parts)


def is_under(path: str, directory: str) -> bool:
    """`path` is `directory` or inside it (both cleaned)."""
    return path == directory or path.startswith(directory.rstrip("/") + "/")


def mount_path_problem(value: str) -> str | None:
    """Why a token mount path (annotation or setting) is refused, or None. Same rules everywhere."""
    if not value.startswith("/"):
        return "is not an absolute path; start it with /"
    parts = value.split("/")
    if ".." in parts:
        return "contains '..'; give a plain absolute directory"
    cleaned = clean_path(value)
    if cleaned == "/":
        return "is the root directory; give a directory such as /var/run/secrets/tokens"
    if is_under(cleaned, SERVICEACCOUNT_MOUNT_PATH) or is_under(SERVICEACCOUNT_MOUNT_PATH, cleaned):
        return (
            f"is or contains {SERVICEACCOUNT_MOUNT_PATH} (the kube-api-access volume's directory); "
            "choose another directory"
        )
    return None


def token_path_problem(value: str) -> str | None:
    """Why a token file name (relative to its mount path) is refused, or None."""
    if not value:
        return "is empty; give a file name such as oidc-token"
    if value.startswith("/"):
        return "must be relative to the mount path; drop the leading /"
    parts = value.split("/")
    if ".." in parts or value.startswith(".."):
        return "must not contain '..'; give a plain file name"
    if "" in parts or "." in parts:
        return "must be a plain file name (no '.' element, no empty element, no trailing /)"
    return None
