"""The patch engine: a pod (or pod template) and its ServiceAccount in, targeted RFC 6902 ops out.

Pure and idempotent: ops only ever add (a volume, a token source, an env entry, a mount) at paths that
exist in the object exactly as given, so unknown fields survive and a second pass yields no ops.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from webhook.dialects import DIALECTS
from webhook.settings import CoreSettings
from webhook.vocabulary import (
    MAPPING_TYPES,
    DialectResult,
    Injection,
    JsonPatchOp,
    ServiceAccountInfo,
    TokenSpec,
)

__all__ = ["Outcome", "mutate_pod", "serviceaccount_name"]


@dataclass(frozen=True, slots=True)
class Outcome:
    patch: list[JsonPatchOp]  # ops against the pod as given; [] = no change
    errors: list[str]  # non-empty => deny / exit 1; each names the annotation or container and the fix
    warnings: list[str]  # short notes for the user
    skipped: str | None  # why the pod is deliberately untouched, else None
    tokens: tuple[TokenSpec, ...]
    dialects: tuple[str, ...]


def serviceaccount_name(pod: Mapping[str, Any]) -> str:
    spec = pod.get("spec") or {}
    return spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"


def mutate_pod(
    pod: Mapping[str, Any], serviceaccount: ServiceAccountInfo | None, settings: CoreSettings
) -> Outcome:
    """Resolve every enabled dialect for this pod and compute the patch that injects their tokens."""
    spec = pod.get("spec")
    if not isinstance(spec, MAPPING_TYPES):
        return Outcome([], ["the pod has no spec object; nothing to inject into"], [], None, (), ())

    results: list[DialectResult] = []
    for name in settings.dialects:
        resolver: Callable[..., DialectResult] = DIALECTS[name]
        results.append(resolver(pod, serviceaccount, settings))
    errors = [e for r in results for e in r.errors]
    warnings = [w for r in results for w in r.warnings]
    injections = [r.injection for r in results if r.injection is not None]
    tokens = tuple(t for inj in injections for t in inj.tokens)
    dialects = tuple(inj.dialect for inj in injections)
    if errors:
        return Outcome([], errors, warnings, None, tokens, dialects)
    if not injections:
        skipped = "; ".join(r.skipped for r in results if r.skipped) or "nothing to inject"
        return Outcome([], [], warnings, skipped, (), ())

    patch = _Patcher(spec, injections, errors, warnings).run()
    if errors:
        return Outcome([], errors, warnings, None, tokens, dialects)
    return Outcome(patch, [], warnings, None, tokens, dialects)


def _norm(path: Any) -> str:
    return path.rstrip("/") or "/" if isinstance(path, str) else ""


class _Volume:
    """One projected volume we want: its name, mount path and tokens, and the injection it belongs to."""

    __slots__ = ("injection", "mount_path", "name", "source", "tokens")

    def __init__(self, injection: Injection, token: TokenSpec) -> None:
        self.injection = injection
        self.name = token.volume_name
        self.mount_path = token.mount_path
        self.source = token.mount_path_source
        self.tokens: list[TokenSpec] = [token]


def _token_source(t: TokenSpec) -> dict[str, Any]:
    return {
        "serviceAccountToken": {
            "audience": t.audience,
            "expirationSeconds": t.expiration_seconds,
            "path": t.path,
        }
    }


class _Patcher:
    def __init__(
        self, spec: Mapping[str, Any], injections: list[Injection], errors: list[str], warnings: list[str]
    ) -> None:
        self.spec = spec
        self.injections = injections
        self.errors = errors
        self.warnings = warnings
        self.ops: list[JsonPatchOp] = []

    def run(self) -> list[JsonPatchOp]:
        volumes = self._plan_volumes()
        if self.errors:
            return []
        self._volumes(volumes)
        touched = 0
        for list_name in ("initContainers", "containers"):
            containers = self.spec.get(list_name)
            if not isinstance(containers, list):
                continue
            for index, container in enumerate(containers):
                if isinstance(container, MAPPING_TYPES):
                    touched += self._container(f"/spec/{list_name}/{index}", container, volumes)
        if not touched and self.ops:
            self.warnings.append("every container is skipped: the token volume is added but mounted nowhere")
        return self.ops

    def _plan_volumes(self) -> list[_Volume]:
        by_name: dict[str, _Volume] = {}
        by_path: dict[str, _Volume] = {}
        for injection in self.injections:
            for token in injection.tokens:
                volume = by_name.get(token.volume_name)
                if volume is not None:
                    volume.tokens.append(token)
                    continue
                volume = _Volume(injection, token)
                other = by_path.get(volume.mount_path)
                if other is not None:
                    self.errors.append(
                        f"{other.injection.dialect} ({other.source}) and "
                        f"{injection.dialect} ({volume.source}) "
                        f"both mount a token volume at {volume.mount_path}; move one of them"
                    )
                    continue
                by_name[volume.name] = by_path[volume.mount_path] = volume
        return list(by_name.values())

    def _volumes(self, wanted: list[_Volume]) -> None:
        existing_list = self.spec.get("volumes")
        existing: dict[str, tuple[int, Mapping[str, Any]]] = {}
        if isinstance(existing_list, list):
            for index, vol in enumerate(existing_list):
                if isinstance(vol, MAPPING_TYPES) and isinstance(vol.get("name"), str):
                    existing.setdefault(vol["name"], (index, vol))
        new: list[dict[str, Any]] = []
        for volume in wanted:
            found = existing.get(volume.name)
            if found is None:
                sources = [_token_source(t) for t in volume.tokens]
                new.append({"name": volume.name, "projected": {"sources": sources}})
            elif not volume.injection.trust_existing_by_name:
                self._reuse_volume(volume, *found)
        if not new:
            return
        if isinstance(existing_list, list):
            self.ops.extend({"op": "add", "path": "/spec/volumes/-", "value": v} for v in new)
        else:
            self.ops.append({"op": "add", "path": "/spec/volumes", "value": new})

    def _reuse_volume(self, volume: _Volume, index: int, existing: Mapping[str, Any]) -> None:
        """A volume of our name exists (a previous pass, or a rendered manifest): complete it or refuse."""
        projected = existing.get("projected")
        sources = projected.get("sources") if isinstance(projected, MAPPING_TYPES) else None
        if not isinstance(sources, list) or not all(
            isinstance(s, MAPPING_TYPES) and set(s) == {"serviceAccountToken"} for s in sources
        ):
            self.errors.append(
                f"volume {volume.name!r} already exists and is not a projected token volume; "
                f"rename that volume (the name is reserved for tokens at {volume.mount_path})"
            )
            return
        have = {s["serviceAccountToken"].get("path"): s["serviceAccountToken"] for s in sources}
        for token in volume.tokens:
            current = have.get(token.path)
            if current is None:
                self.ops.append(
                    {
                        "op": "add",
                        "path": f"/spec/volumes/{index}/projected/sources/-",
                        "value": _token_source(token),
                    }
                )
            elif (current.get("audience") or "", current.get("expirationSeconds") or 3600) != (
                token.audience,
                token.expiration_seconds,
            ):
                self.errors.append(
                    f"volume {volume.name!r} already holds {token.file_path} for audience "
                    f"{current.get('audience')!r}, expiration {current.get('expirationSeconds')}; "
                    f"token {token.name!r} wants {token.audience!r}, {token.expiration_seconds}: "
                    "remove the stale volume from the pod template"
                )

    def _container(self, base: str, container: Mapping[str, Any], volumes: list[_Volume]) -> int:
        """Append mounts and env for every injection that does not skip this container; 1 if any applies."""
        name = container.get("name")
        env_list = container.get("env")
        mounts_list = container.get("volumeMounts")
        env_names = {e.get("name") for e in env_list or () if isinstance(e, MAPPING_TYPES)}
        mounts = [m for m in mounts_list or () if isinstance(m, MAPPING_TYPES)]
        new_env: list[dict[str, Any]] = []
        new_mounts: list[dict[str, Any]] = []
        applied = 0
        for injection in self.injections:
            if name in injection.skip_containers:
                continue
            if injection.hands_off_when_env and all(
                env_names & keys for keys in injection.hands_off_when_env
            ):
                continue
            applied = 1
            for volume in volumes:
                if volume.injection is injection:
                    self._mount(name, volume, mounts, new_mounts)
            for group in injection.env:
                if env_names & group.guard:
                    continue
                for env_name, value in group.vars:
                    new_env.append({"name": env_name, "value": value})
                    env_names.add(env_name)
        self._append(f"{base}/env", env_list, new_env)
        self._append(f"{base}/volumeMounts", mounts_list, new_mounts)
        return applied

    def _mount(
        self, container: Any, volume: _Volume, mounts: list[Mapping[str, Any]], new: list[dict[str, Any]]
    ) -> None:
        if volume.injection.trust_existing_by_name and any(m.get("name") == volume.name for m in mounts):
            return
        for mount in mounts:
            if _norm(mount.get("mountPath")) != volume.mount_path:
                continue
            if mount.get("name") == volume.name:
                if mount.get("subPath") or mount.get("subPathExpr"):
                    self.warnings.append(
                        f"container {container!r} mounts {volume.name} with subPath: "
                        "the token is never refreshed"
                    )
                return
            self.errors.append(
                f"container {container!r} already mounts volume {mount.get('name')!r} "
                f"at {volume.mount_path}, "
                f"where {volume.source} puts the token: change that mount path, remove the mount, "
                "or list the container in skip-containers"
            )
            return
        mount = {"name": volume.name, "readOnly": True, "mountPath": volume.mount_path}
        mounts.append(mount)
        new.append(mount)

    def _append(self, path: str, current: Any, items: list[dict[str, Any]]) -> None:
        if not items:
            return
        if isinstance(current, list):
            self.ops.extend({"op": "add", "path": f"{path}/-", "value": item} for item in items)
        else:
            self.ops.append({"op": "add", "path": path, "value": items})
