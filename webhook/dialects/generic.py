"""The generic dialect: `P/<field>` and `P/<name>.<field>` annotations on the ServiceAccount, then the Pod.

For one token and one field the Pod's value wins. Every invalid value is reported, not only the first.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any, Protocol

from webhook.dialects.base import Dialect
from webhook.vocabulary import (
    ENV_NAME_RE,
    MAPPING_TYPES,
    MAX_EXPIRATION_SECONDS,
    MIN_EXPIRATION_SECONDS,
    DialectResult,
    EnvGroup,
    Injection,
    ServiceAccountInfo,
    TokenSpec,
    clean_path,
    is_dns1123_label,
    is_map,
    is_windows,
    mount_path_problem,
    token_path_problem,
    volume_name_for,
    windows_path,
)

NAME = "generic"


class GenericSettings(Protocol):
    """The core settings this dialect reads (they are the core's own: webhook.settings)."""

    @property
    def annotation_prefix(self) -> str: ...
    @property
    def default_expiration_seconds(self) -> int: ...
    @property
    def default_mount_path(self) -> str: ...


DEFAULT_TOKEN = "token"
FIELDS = ("audience", "expiration-seconds", "mount-path", "path", "env", "containers", "skip-containers")
# P/skip-containers is pod-wide (every token); P/<name>.skip-containers is per token.
POD_KEYS = ("inject", "skip-containers")
_WHITESPACE_OR_COMMA = frozenset(", \t\n\r\v\f")


class _Value:
    """One annotation value and where it came from (for messages)."""

    __slots__ = ("key", "value", "where")

    def __init__(self, key: str, value: str, where: str) -> None:
        self.key = key
        self.value = value
        self.where = where

    def describe(self) -> str:
        return f"{self.key}={self.value!r} on {self.where}"


def default_env_name(token: str) -> str:
    if token == DEFAULT_TOKEN:
        return "TOKEN_FILE"
    return token.upper().replace("-", "_") + "_TOKEN_FILE"


def _annotation_key(prefix: str, token: str, field: str) -> str:
    return f"{prefix}/{field}" if token == DEFAULT_TOKEN else f"{prefix}/{token}.{field}"


@lru_cache(maxsize=1024)
def normalise_mount_path(value: str) -> tuple[str, str | None]:
    """Return (normalised path, error reason or None); the same rule checks --default-mount-path."""
    reason = mount_path_problem(value)
    return (value, reason) if reason else (clean_path(value), None)


def path_error(value: str) -> str | None:
    return token_path_problem(value)


def opted_out(
    pod: Mapping[str, Any], serviceaccount: ServiceAccountInfo | None, settings: GenericSettings
) -> str | None:
    """`P/inject: "false"` (Pod annotation, else ServiceAccount) or the Pod label `P/inject=false`: the
    pod is left alone by every dialect, as the base objectSelector does for the label."""
    key = settings.annotation_prefix + "/inject"
    meta = pod.get("metadata")
    value = None
    if is_map(meta):
        labels = meta.get("labels")
        if is_map(labels) and labels.get(key) == "false":
            return f"opted out by label {key}=false"
        annotations = meta.get("annotations")
        value = annotations.get(key) if is_map(annotations) else None
    if value is None and serviceaccount is not None:
        value = serviceaccount.annotations.get(key)
    if isinstance(value, str) and value.strip().lower() == "false":
        return f"opted out by {key}=false"
    return None


def _names(value: str) -> frozenset[str]:
    return frozenset(n.strip() for n in value.split(",") if n.strip())


def env_error(value: str) -> str | None:
    if value in (".", "..") or value.startswith("..") or not ENV_NAME_RE.fullmatch(value):
        return "is not a valid env var name ([-._a-zA-Z][-._a-zA-Z0-9]*); fix it or set it to '' to disable"
    return None


def _where_pod(pod: Mapping[str, Any]) -> str:
    meta = pod.get("metadata") or {}
    name = meta.get("name") or (meta.get("generateName") and f"{meta['generateName']}*")
    return f"Pod {name}" if name else "the Pod"


def _collect(
    prefix: str,
    sources: list[tuple[str, Mapping[str, Any]]],
    errors: list[str],
) -> tuple[dict[tuple[str, str], _Value], dict[str, _Value]]:
    """Split annotations under the prefix into token fields and pod-level keys; later sources win."""
    fields: dict[tuple[str, str], _Value] = {}
    pod_keys: dict[str, _Value] = {}
    start = prefix + "/"
    for where, values in sources:
        for key, raw in values.items():
            if not isinstance(key, str) or not key.startswith(start):
                continue
            if not isinstance(raw, str):
                # Only a manifest can say `7200` unquoted; the kube-apiserver refuses non-string annotations.
                errors.append(f"{key} on {where}: annotation values must be strings; quote {raw!r}")
                continue
            value = raw
            suffix = key[len(start) :]
            item = _Value(key, value, where)
            if suffix in POD_KEYS:
                pod_keys[suffix] = item
            elif suffix in FIELDS:
                fields[(DEFAULT_TOKEN, suffix)] = item
            elif "." in suffix:
                token, _, field = suffix.partition(".")
                if field not in FIELDS:
                    errors.append(
                        f"{key} on {where}: unknown field {field!r}; use one of {', '.join(FIELDS)}"
                    )
                elif token == DEFAULT_TOKEN:
                    errors.append(
                        f"{key} on {where}: 'token' is the default token's name; "
                        f"write {prefix}/{field} instead"
                    )
                elif not is_dns1123_label(token):
                    errors.append(
                        f"{key} on {where}: token name {token!r} is not a DNS-1123 label "
                        "(lower-case letters, digits, '-', at most 63); rename it"
                    )
                else:
                    fields[(token, field)] = item
            else:
                known = ", ".join(dict.fromkeys((*FIELDS, *POD_KEYS, "<name>.<field>")))
                errors.append(f"{key} on {where}: unknown annotation under {start}; known: {known}")
    return fields, pod_keys


# Most pods add nothing under the prefix, so their reading is their ServiceAccount's: memoised per
# ServiceAccount and settings object (a changed ServiceAccount is a new object) and Windows-ness. When the
# ServiceAccount lists containers the reading also depends on the pod's container names: memoised per names
# too, unless it has errors (they name the pod).
class _Reading:
    __slots__ = ("by_names", "result", "serviceaccount", "settings")

    def __init__(self, serviceaccount: ServiceAccountInfo, settings: GenericSettings, lists: bool) -> None:
        self.serviceaccount = serviceaccount
        self.settings = settings
        self.result: DialectResult | None = None  # the reading, when it does not depend on the pod
        self.by_names: dict[tuple[Any, ...], DialectResult] | None = {} if lists else None


_READINGS: dict[tuple[int, int, bool], _Reading] = {}


def resolve(
    pod: Mapping[str, Any], serviceaccount: ServiceAccountInfo | None, settings: GenericSettings
) -> DialectResult:
    """Read the generic annotations of a pod and its ServiceAccount into an Injection."""
    meta = pod.get("metadata")
    pod_annotations = meta.get("annotations") if is_map(meta) else None
    start = settings.annotation_prefix + "/"
    if serviceaccount is None or (
        pod_annotations and any(isinstance(k, str) and k.startswith(start) for k in pod_annotations)
    ):
        return _resolve(pod, serviceaccount, settings)
    key = (id(serviceaccount), id(settings), is_windows(pod))
    reading = _READINGS.get(key)
    if reading is None or reading.serviceaccount is not serviceaccount or reading.settings is not settings:
        if len(_READINGS) >= 4096:
            _READINGS.clear()
        lists = _names_containers(serviceaccount, start)
        reading = _READINGS[key] = _Reading(serviceaccount, settings, lists)
    if reading.by_names is None:
        if reading.result is None:
            reading.result = _resolve(pod, serviceaccount, settings)
        return reading.result
    names = tuple(c.get("name") for c in _all_containers(pod))
    if not all(isinstance(n, str) for n in names):
        return _resolve(pod, serviceaccount, settings)
    result = reading.by_names.get(names)
    if result is None:
        result = _resolve(pod, serviceaccount, settings)
        if not result.errors and len(reading.by_names) < 64:
            reading.by_names[names] = result
    return result


def _names_containers(serviceaccount: ServiceAccountInfo, start: str) -> bool:
    return any(k.startswith(start) and k.endswith("containers") for k in serviceaccount.annotations)


def _resolve(
    pod: Mapping[str, Any], serviceaccount: ServiceAccountInfo | None, settings: GenericSettings
) -> DialectResult:
    prefix = settings.annotation_prefix
    sources: list[tuple[str, Mapping[str, Any]]] = []
    if serviceaccount is not None and serviceaccount.annotations:
        sources.append(
            (f"ServiceAccount {serviceaccount.namespace}/{serviceaccount.name}", serviceaccount.annotations)
        )
    pod_annotations = (pod.get("metadata") or {}).get("annotations") or {}
    if pod_annotations:
        sources.append((_where_pod(pod), pod_annotations))

    errors: list[str] = []
    warnings: list[str] = []
    fields, pod_keys = _collect(prefix, sources, errors)
    if not fields and not pod_keys and not errors:
        return DialectResult(skipped=f"no {prefix}/ annotations")

    inject = pod_keys.get("inject")
    if inject is not None:
        flag = inject.value.strip().lower()
        if flag == "false":
            return DialectResult(skipped=f"opted out by {inject.key}=false")
        if flag != "true":
            errors.append(f'{inject.describe()}: must be "true" or "false"')

    skip: frozenset[str] = frozenset()
    if (item := pod_keys.get("skip-containers")) is not None:
        skip = _names(item.value)

    windows = is_windows(pod)
    known = {c.get("name") for c in _all_containers(pod)}
    tokens: list[TokenSpec] = []
    for token in dict.fromkeys(name for name, _ in fields):
        spec = _token(token, fields, prefix, settings, errors, known, _where_pod(pod))
        if spec is not None:
            tokens.append(spec)
            if _WHITESPACE_OR_COMMA & set(spec.audience):
                warnings.append(
                    f"{_annotation_key(prefix, token, 'audience')}={spec.audience[:40]!r} is one audience; "
                    "for two, use two named tokens"
                )

    _check_together(tokens, prefix, errors)
    if skip:
        for name in sorted(skip - known):
            warnings.append(f"skip-containers: this pod has no container named {name!r}")
    if errors:
        return DialectResult(errors=tuple(errors), warnings=tuple(warnings))
    if not tokens:
        return DialectResult(skipped=f"no token enabled (no {prefix}/audience)", warnings=tuple(warnings))

    env = tuple(
        EnvGroup(((t.env, value),), frozenset((t.env,)), guard_values=frozenset((value,)), token=t.name)
        for t in tokens
        if t.env
        for value in (windows_path(t.file_path) if windows else t.file_path,)
    )
    injection = Injection(dialect=NAME, tokens=tuple(tokens), env=env, skip_containers=skip)
    return DialectResult(injection=injection, warnings=tuple(warnings))


def _token(
    token: str,
    fields: Mapping[tuple[str, str], _Value],
    prefix: str,
    settings: GenericSettings,
    errors: list[str],
    known: set[Any],
    where_pod: str,
) -> TokenSpec | None:
    """Build one token from its fields (defaults filled in); append every problem to errors."""
    audience = fields.get((token, "audience"))
    start = len(errors)
    if audience is None:
        given = ", ".join(v.key for (t, _), v in fields.items() if t == token)
        errors.append(
            f"{given}: token {token!r} has no audience; "
            f"add {_annotation_key(prefix, token, 'audience')} or remove these annotations"
        )
    elif not audience.value.strip():
        errors.append(f"{audience.describe()}: the audience is empty; set the audience the receiver expects")

    expiration = settings.default_expiration_seconds
    if (item := fields.get((token, "expiration-seconds"))) is not None:
        text = item.value.strip()
        # isdigit() alone accepts '¹' and other Unicode digits that int() rejects.
        if not (text.isascii() and text.isdigit()):
            errors.append(f'{item.describe()}: not a whole number of seconds; use e.g. "3600"')
        # More digits than the maximum has: out of range without int(), which refuses > 4,300 digits.
        elif len(text.lstrip("0")) > len(str(MAX_EXPIRATION_SECONDS)):
            errors.append(
                f"{item.describe()}: out of range; use {MIN_EXPIRATION_SECONDS}..{MAX_EXPIRATION_SECONDS}"
            )
        else:
            expiration = int(text.lstrip("0") or "0")
            if not MIN_EXPIRATION_SECONDS <= expiration <= MAX_EXPIRATION_SECONDS:
                errors.append(
                    f"{item.describe()}: out of range; use {MIN_EXPIRATION_SECONDS}..{MAX_EXPIRATION_SECONDS}"
                )

    mount_path = settings.default_mount_path
    mount_key = f"{_annotation_key(prefix, token, 'mount-path')} (default --default-mount-path)"
    if (item := fields.get((token, "mount-path"))) is not None:
        mount_key = item.key
        mount_path, reason = normalise_mount_path(item.value)
        if reason:
            errors.append(f"{item.describe()}: {reason}")
    else:
        mount_path, _ = normalise_mount_path(mount_path)

    path = token
    if (item := fields.get((token, "path"))) is not None:
        path = item.value
        if reason := token_path_problem(path):
            errors.append(f"{item.describe()}: {reason}")

    env = default_env_name(token)
    if (item := fields.get((token, "env"))) is not None:
        env = item.value.strip()
        if env and (reason := env_error(env)):
            errors.append(f"{item.describe()}: {reason}")
    elif reason := env_error(env):
        errors.append(
            f"token {token!r}: default env var {env!r} {reason.split(';')[0]}; "
            f"set {_annotation_key(prefix, token, 'env')}"
        )

    scope: dict[str, frozenset[str]] = {}
    for field in ("containers", "skip-containers"):
        if (item := fields.get((token, field))) is None:
            continue
        names = _names(item.value)
        if not names:
            errors.append(f"{item.describe()}: lists no container; remove it (every container) or name some")
        elif unknown := sorted(names - known):
            have = ", ".join(sorted(str(n) for n in known if n)) or "none"
            errors.append(
                f"{item.describe()}: {where_pod} has no container named {', '.join(map(repr, unknown))} "
                f"(it has {have}); fix the name"
            )
        scope[field] = names

    if len(errors) > start or audience is None:
        return None
    keys = tuple((f, _annotation_key(prefix, token, a)) for f, a in _FIELD_KEYS)
    return TokenSpec(
        name=token,
        audience=audience.value.strip(),
        expiration_seconds=expiration,
        mount_path=mount_path,
        path=path,
        env=env,
        dialect=NAME,
        volume_name=volume_name_for(mount_path),
        mount_path_source=mount_key,
        containers=scope.get("containers"),
        skip_containers=scope.get("skip-containers", frozenset()),
        field_keys=keys,
    )


_FIELD_KEYS = (
    ("audience", "audience"),
    ("expiration", "expiration-seconds"),
    ("path", "path"),
    ("mount-path", "mount-path"),
)


def _check_together(tokens: list[TokenSpec], prefix: str, errors: list[str]) -> None:
    """Two tokens may share a directory but not a file, and not an env var."""
    files: dict[str, TokenSpec] = {}
    envs: dict[str, TokenSpec] = {}
    for t in tokens:
        if (other := files.get(t.file_path)) is not None:
            errors.append(
                f"tokens {other.name!r} and {t.name!r} both write {t.file_path}; "
                f"give one a different {_annotation_key(prefix, t.name, 'path')}"
            )
        files.setdefault(t.file_path, t)
        if t.env and (other := envs.get(t.env)) is not None:
            errors.append(
                f"tokens {other.name!r} and {t.name!r} both set env var {t.env}; "
                f"give one a different {_annotation_key(prefix, t.name, 'env')}"
            )
        if t.env:
            envs.setdefault(t.env, t)


def _all_containers(pod: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    spec = pod.get("spec") or {}
    out: list[Mapping[str, Any]] = []
    for key in ("initContainers", "containers"):
        out.extend(c for c in spec.get(key) or () if isinstance(c, MAPPING_TYPES))
    return out


DIALECT = Dialect(
    name=NAME,
    summary="this webhook's own P/ annotations (--annotation-prefix)",
    resolve=resolve,
    annotation_prefixes=lambda settings: (
        (settings.annotation_prefix if settings is not None else "projected-token.io") + "/",
    ),
    opted_out=opted_out,
)
