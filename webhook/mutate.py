"""The patch engine: a pod (or pod template) and its ServiceAccount in, targeted RFC 6902 ops out.

Pure and idempotent: ops only ever add (a volume, a token source, an env entry, a mount) at paths that
exist in the object exactly as given, so unknown fields survive and a second pass yields no ops.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from webhook.dialects import dialect_calls
from webhook.settings import CoreSettings
from webhook.vocabulary import (
    RESERVED_VOLUME_PREFIX,
    DialectResult,
    Injection,
    JsonPatchOp,
    ServiceAccountInfo,
    TokenSpec,
    clean_path,
    is_map,
    is_under,
    is_windows,
    volume_name_for,
)

__all__ = ["Outcome", "mutate_pod", "serviceaccount_name"]


class Outcome:
    """What mutate_pod found; read-only by convention. A plain class, not a dataclass: compiled, its
    __init__ is native code (a frozen dataclass's runs in the interpreter, one object.__setattr__ a field)."""

    def __init__(
        self,
        patch: list[JsonPatchOp],
        errors: list[str],
        warnings: list[str],
        skipped: str | None,
        tokens: tuple[TokenSpec, ...],
        dialects: tuple[str, ...],
        adopted: tuple[str, ...] = (),
    ) -> None:
        self.patch = patch  # ops against the pod as given; [] = no change
        self.errors = errors  # non-empty => deny / exit 1; each names the annotation or container and the fix
        self.warnings = warnings  # short notes for the user
        self.skipped = skipped  # why the pod is deliberately untouched, else None
        self.tokens = tokens
        self.dialects = dialects
        # Tokens the pod already had by hand (same audience, expiration and file): nothing was added for them.
        self.adopted = adopted

    def __repr__(self) -> str:
        return (
            f"Outcome(patch={self.patch!r}, errors={self.errors!r}, warnings={self.warnings!r}, "
            f"skipped={self.skipped!r}, dialects={self.dialects!r}, adopted={self.adopted!r})"
        )


def serviceaccount_name(pod: Mapping[str, Any]) -> str:
    spec = pod.get("spec") or {}
    return spec.get("serviceAccountName") or spec.get("serviceAccount") or "default"


def mutate_pod(
    pod: Mapping[str, Any], serviceaccount: ServiceAccountInfo | None, settings: CoreSettings
) -> Outcome:
    """Resolve every enabled dialect for this pod and compute the patch that injects their tokens."""
    spec = pod.get("spec")
    if not is_map(spec):
        return Outcome([], ["the pod has no spec object; nothing to inject into"], [], None, (), ())
    checks, resolvers = dialect_calls(tuple(settings.dialects))
    for check in checks:  # a reason stops every dialect
        reason = check(pod, serviceaccount, settings)
        if reason:
            return Outcome([], [], [], reason, (), ())

    results: list[DialectResult] = [resolve(pod, serviceaccount, settings) for resolve in resolvers]
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

    patcher = _Patcher(spec, injections, errors, warnings, pod)
    patch = patcher.run()
    for injection in injections:  # containers, other volumes, annotations: after the token ops
        if injection.finish is not None and not errors:
            extra = injection.finish(pod, patch)
            patch.extend(extra.ops)
            errors.extend(extra.errors)
            warnings.extend(extra.warnings)
    if errors:
        return Outcome([], errors, warnings, None, tokens, dialects)
    return Outcome(patch, [], warnings, None, tokens, dialects, tuple(dict.fromkeys(patcher.adopted)))


_NORMS: dict[str, str] = {}


def _norm(path: Any) -> str:
    """A mount path as the runtime sees it ("" if not absolute); memoised: a pod's few paths recur."""
    if not isinstance(path, str) or not path.startswith("/"):
        return ""
    found = _NORMS.get(path)
    if found is None:
        if len(_NORMS) >= 4096:
            _NORMS.clear()
        found = _NORMS[path] = clean_path(path)
    return found


def _clean_relative(path: Any) -> str:
    return "/".join(p for p in path.split("/") if p and p != ".") if isinstance(path, str) else ""


class _Volume:
    """One projected volume we want: its name, mount path and tokens, and the injection it belongs to."""

    __slots__ = ("injection", "mount_path", "name", "source", "tokens")

    def __init__(self, injection: Injection, name: str, mount_path: str, tokens: list[TokenSpec]) -> None:
        self.injection = injection
        self.name = name
        self.mount_path = mount_path
        self.source = tokens[0].mount_path_source
        self.tokens = tokens


class _Container:
    """One container as found, and what this pass gives it."""

    __slots__ = ("base", "env_list", "env_names", "env_values", "mounts", "mounts_list", "name", "new_mounts")

    def __init__(self, base: str, container: Mapping[str, Any]) -> None:
        self.base = base
        self.name: Any = container.get("name")
        self.env_list: Any = container.get("env")
        self.mounts_list: Any = container.get("volumeMounts")
        env = [e for e in self.env_list or () if is_map(e)]
        self.env_names = {e.get("name") for e in env}
        self.env_values = {e.get("value") for e in env if isinstance(e.get("value"), str)}
        self.mounts: list[Mapping[str, Any]] = [m for m in self.mounts_list or () if is_map(m)]
        self.new_mounts: list[dict[str, Any]] = []

    def mount_at(self, path: str) -> Mapping[str, Any] | None:
        for mount in self.mounts:
            if _norm(mount.get("mountPath")) == path:
                return mount
        return None


def _token_source(t: TokenSpec) -> dict[str, Any]:
    return {
        "serviceAccountToken": {
            "audience": t.audience,
            "expirationSeconds": t.expiration_seconds,
            "path": t.path,
        }
    }


def _expiration(value: Any) -> Any:
    return 3600 if value is None else value  # the API's default


def _short(names: list[str]) -> str:
    return ", ".join(names[:3]) + (f" +{len(names) - 3}" if len(names) > 3 else "")


class _Patcher:
    def __init__(
        self,
        spec: Mapping[str, Any],
        injections: list[Injection],
        errors: list[str],
        warnings: list[str],
        pod: Mapping[str, Any],
    ) -> None:
        self.spec = spec
        self.injections = injections
        self.errors = errors
        self.warnings = warnings
        self.pod = pod
        self.ops: list[JsonPatchOp] = []
        self.adopted: list[str] = []
        self.token_volumes: set[str] = set()  # the volumes our tokens come from (ours or adopted)
        self.wanted: dict[str, _Volume] = {}
        # The pod's own volumes: first of each name, and the token sources of each projected one.
        self.volumes: dict[str, tuple[int, Mapping[str, Any]]] = {}
        self.token_sources: dict[str, dict[str, tuple[Any, Any]]] = {}
        self.pure: set[str] = set()  # projected volumes holding only token sources
        self.ours: set[str] = set()  # names this webhook gives volumes
        self.scoped: set[int] = set()  # ids of the injections with a token for some containers only
        volumes = spec.get("volumes")
        for index, vol in enumerate(volumes if isinstance(volumes, list) else ()):
            if not is_map(vol) or not isinstance(vol.get("name"), str):
                continue
            name = vol["name"]
            if name in self.volumes:
                continue
            self.volumes[name] = (index, vol)
            projected = vol.get("projected")
            sources = projected.get("sources") if is_map(projected) else None
            if not isinstance(sources, list) or name.startswith(RESERVED_VOLUME_PREFIX):
                continue
            found: dict[str, tuple[Any, Any]] = {}
            pure = True
            for source in sources:
                token = source.get("serviceAccountToken") if is_map(source) else None
                if is_map(token):
                    found.setdefault(
                        _clean_relative(token.get("path")),
                        (token.get("audience") or "", _expiration(token.get("expirationSeconds"))),
                    )
                if not is_map(source) or set(source) != {"serviceAccountToken"}:
                    pure = False
            self.token_sources[name] = found
            if pure:
                self.pure.add(name)
        self.containers: list[_Container] = []
        for list_name in ("initContainers", "containers"):
            containers = spec.get(list_name)
            if isinstance(containers, list):
                for index, container in enumerate(containers):
                    if is_map(container):
                        self.containers.append(_Container(f"/spec/{list_name}/{index}", container))

    def run(self) -> list[JsonPatchOp]:
        groups = self._groups()
        self._check_layout()
        if self.errors:
            return []
        for injection in self.injections:
            for token in injection.tokens:
                self.ours.add(token.volume_name)
                if token.containers is not None or token.skip_containers:
                    self.scoped.add(id(injection))
        plans: list[tuple[_Container, Injection, list[TokenSpec]]] = []
        # Per injection and mount path, the tokens some container gets: a container getting all of them
        # mounts the volume of the path's own name, one getting fewer a volume named for its subset.
        given: dict[tuple[int, str], set[str]] = {}
        for container in self.containers:
            for injection in self.injections:
                tokens = self._tokens_for(container, injection)
                if tokens:
                    plans.append((container, injection, tokens))
                    for token in tokens:
                        given.setdefault((id(injection), token.mount_path), set()).add(token.name)
        for container, injection, tokens in plans:
            by_path: dict[str, list[TokenSpec]] = {}
            for token in tokens:
                by_path.setdefault(token.mount_path, []).append(token)
            for path, here in by_path.items():
                self._place(container, injection, path, here, len(given[(id(injection), path)]))
        for key, full in groups.items():
            if key in given:
                for _, token in full:
                    if token.name not in given[key]:
                        self.warnings.append(f"token {token.name!r} goes to no container: not added")
            else:
                volume = _Volume(
                    full[0][0], full[0][1].volume_name, full[0][1].mount_path, [t for _, t in full]
                )
                self.wanted.setdefault(volume.name, volume)
        if self.errors:
            return []
        self._readability()
        self._volumes(list(self.wanted.values()))
        touched = 0
        for container in self.containers:
            new_env: list[dict[str, Any]] = []
            for owner, injection, tokens in plans:
                if owner is not container:
                    continue
                touched = 1
                names = {t.name for t in tokens}
                for group in injection.env:
                    if group.token and group.token not in names:
                        continue
                    if not (
                        container.env_names.isdisjoint(group.guard)
                        and container.env_values.isdisjoint(group.guard_values)
                    ):
                        continue
                    for env_name, value in group.vars:
                        new_env.append({"name": env_name, "value": value})
                        container.env_names.add(env_name)
            self._append(f"{container.base}/env", container.env_list, new_env)
            self._append(f"{container.base}/volumeMounts", container.mounts_list, container.new_mounts)
        if not touched and self.ops:
            self.warnings.append("every container is skipped: the token volume is added but mounted nowhere")
        return self.ops

    def _groups(self) -> dict[tuple[int, str], list[tuple[Injection, TokenSpec]]]:
        """Each injection's tokens by mount path; two injections at one path is an error."""
        groups: dict[tuple[int, str], list[tuple[Injection, TokenSpec]]] = {}
        owner: dict[str, tuple[Injection, TokenSpec]] = {}
        for injection in self.injections:
            for token in injection.tokens:
                other = owner.get(token.mount_path)
                if other is not None and other[0] is not injection:
                    self.errors.append(
                        f"{other[0].dialect} ({other[1].mount_path_source}) and "
                        f"{injection.dialect} ({token.mount_path_source}) "
                        f"both mount a token volume at {token.mount_path}; move one of them"
                    )
                    continue
                owner[token.mount_path] = (injection, token)
                groups.setdefault((id(injection), token.mount_path), []).append((injection, token))
        return groups

    def _check_layout(self) -> None:
        """No token directory on, or over, another token's file (the mount would hide it or fail)."""
        tokens = [t for inj in self.injections for t in inj.tokens]
        if len({t.mount_path for t in tokens}) < 2:
            return
        for a in tokens:
            for b in tokens:
                if a.mount_path == b.mount_path:
                    continue
                if is_under(b.mount_path, a.file_path) or (
                    is_under(a.file_path, b.mount_path) and not is_under(a.mount_path, b.mount_path)
                ):
                    self.errors.append(
                        f"token {b.name!r} is mounted at {b.mount_path} ({b.mount_path_source}), "
                        f"over token {a.name!r}'s file {a.file_path}; move one of them"
                    )

    def _tokens_for(self, container: _Container, injection: Injection) -> list[TokenSpec] | None:
        """The injection's tokens this container gets; None when the injection leaves it alone."""
        if container.name in injection.skip_containers:
            return None
        if injection.hands_off_when_env and all(
            not container.env_names.isdisjoint(keys) for keys in injection.hands_off_when_env
        ):
            return None
        if id(injection) not in self.scoped:
            return list(injection.tokens)
        return [t for t in injection.tokens if t.gets(container.name)]

    def _place(
        self,
        container: _Container,
        injection: Injection,
        path: str,
        tokens: list[TokenSpec],
        given: int,
    ) -> None:
        """Give the container these tokens at `path`: our volume, or what the pod already has."""
        if len(tokens) == given:
            name = tokens[0].volume_name
        else:
            name = volume_name_for(path, tuple(t.name for t in tokens))
            self.ours.add(name)
        if injection.trust_existing_by_name and any(m.get("name") == name for m in container.mounts):
            return
        mount = container.mount_at(path)
        if mount is not None and mount.get("name") == name:
            if mount.get("subPath") or mount.get("subPathExpr"):
                self.warnings.append(
                    f"container {container.name!r} mounts {name} with subPath: the token is never refreshed"
                )
            self._want(name, injection, path, tokens)
            return
        if mount is not None:
            self._adopt_mounted(container, mount, path, tokens)
            return
        if not self._no_clash(container, tokens):
            return
        reuse = self._foreign_match(path, tokens)
        if reuse is not None:
            self._adopted(container, reuse, tokens, "mounted it here")
            new = {"name": reuse, "readOnly": True, "mountPath": path}
        else:
            self._want(name, injection, path, tokens)
            new = {"name": name, "readOnly": True, "mountPath": path}
        container.mounts.append(new)
        container.new_mounts.append(new)

    def _want(self, name: str, injection: Injection, path: str, tokens: list[TokenSpec]) -> None:
        self.token_volumes.add(name)
        if name not in self.wanted:
            self.wanted[name] = _Volume(injection, name, path, tokens)

    def _adopted(self, container: _Container, volume: str, tokens: list[TokenSpec], how: str) -> None:
        names = [t.name for t in tokens]
        self.adopted.extend(names)
        self.token_volumes.add(volume)
        self.warnings.append(
            f"token {_short(names)} already in volume {volume!r} ({container.name}): adopted, {how}"[:150]
        )

    def _adopt_mounted(
        self, container: _Container, mount: Mapping[str, Any], path: str, tokens: list[TokenSpec]
    ) -> None:
        """Another volume is mounted at our path: the same tokens by hand are adopted, else denied."""
        volume = mount.get("name")
        have = self.token_sources.get(volume) if isinstance(volume, str) else None
        if have is None or mount.get("subPath") or mount.get("subPathExpr"):
            self.errors.append(
                f"container {container.name!r} already mounts volume {volume!r} at {path}, "
                f"where {tokens[0].mount_path_source} puts the token: change that mount path, remove the "
                "mount, or list the container in skip-containers"
            )
            return
        start = len(self.errors)
        for token in tokens:
            found = have.get(token.path)
            if found is None:
                same = [p for p, (audience, _) in have.items() if audience == token.audience]
                if same:
                    self._differs(container, str(volume), token, f"{path}/{same[0]}", *have[same[0]])
                else:
                    self.errors.append(
                        f"container {container.name!r} mounts volume {volume!r} at {path} without token "
                        f"{token.name!r}'s file {token.path}: add it to that volume by hand, remove the "
                        f"volume (the webhook then adds it), or set {token.key_for('mount-path')}"
                    )
            elif found != (token.audience, token.expiration_seconds):
                self._differs(container, str(volume), token, token.file_path, *found)
        if len(self.errors) == start:
            self._adopted(container, str(volume), tokens, "nothing added")

    def _differs(
        self,
        container: _Container,
        volume: str,
        token: TokenSpec,
        file_path: str,
        audience: Any,
        expiration: Any,
    ) -> None:
        diffs: list[str] = []
        fixes: list[str] = []
        if audience != token.audience:
            diffs.append(f"audience {audience!r} (wanted {token.audience!r})")
            fixes.append(f"{token.key_for('audience')}={audience!r}")
        if expiration != token.expiration_seconds:
            diffs.append(f"expiration {expiration} (wanted {token.expiration_seconds})")
            fixes.append(f"{token.key_for('expiration')}={str(expiration)!r}")
        if file_path != token.file_path:
            diffs.append(f"file {file_path} (wanted {token.file_path})")
            directory, _, base = file_path.rpartition("/")
            if directory != token.mount_path:
                fixes.append(f"{token.key_for('mount-path')}={directory!r}")
            if base != token.path:
                fixes.append(f"{token.key_for('path')}={base!r}")
        self.errors.append(
            f"container {container.name!r}: hand-written volume {volume!r} has token {token.name!r} with "
            f"{', '.join(diffs)}; remove that volume and its mounts (the webhook then adds the token) or "
            f"change the annotations to match: {', '.join(fixes)}"
        )

    def _no_clash(self, container: _Container, tokens: list[TokenSpec]) -> bool:
        """Nothing of the container's own on a token's file, and no hand-written token of the same audience
        at another file (that is the same token in the wrong place)."""
        ok = True
        for token in tokens:
            for mount in container.mounts:
                volume = mount.get("name")
                at = _norm(mount.get("mountPath"))
                if at and at != token.mount_path and is_under(at, token.file_path):
                    self.errors.append(
                        f"container {container.name!r} mounts volume {volume!r} at {at}, on token "
                        f"{token.name!r}'s file {token.file_path}: move that mount or the token"
                    )
                    ok = False
                    continue
                if not self.token_sources:
                    continue  # no hand-written token in the pod: nothing to compare
                have = self.token_sources.get(volume) if isinstance(volume, str) else None
                if not have or not at or volume in self.ours or str(volume).startswith("ptw-"):
                    continue
                for rel, (audience, expiration) in have.items():
                    if audience == token.audience and f"{at}/{rel}" != token.file_path:
                        self._differs(container, str(volume), token, f"{at}/{rel}", audience, expiration)
                        ok = False
        return ok

    def _foreign_match(self, path: str, tokens: list[TokenSpec]) -> str | None:
        """A hand-written token-only volume holding exactly these tokens, mounted at `path` elsewhere."""
        if not self.pure:
            return None
        want = {t.path: (t.audience, t.expiration_seconds) for t in tokens}
        for other in self.containers:
            mount = other.mount_at(path)
            volume = mount.get("name") if mount is not None else None
            if (
                isinstance(volume, str)
                and volume in self.pure
                and volume not in self.ours
                and self.token_sources.get(volume) == want
            ):
                return volume
        return None

    def _readability(self) -> None:
        """Warn where the kubelet's file mode and owner keep a container from reading its token (README)."""
        # Without a defaultMode a token file is 0644, 0600 owned by the one user of every container, or
        # group-readable by the fsGroup: readable by all. Only hand-written volumes set one.
        if not any(_default_mode(self.volumes.get(v)) is not None for v in self.token_volumes):
            return
        if is_windows(self.pod):
            return
        security = self.spec.get("securityContext")
        pod_sc: Mapping[str, Any] = security if is_map(security) else {}
        fs_group = pod_sc.get("fsGroup")
        uids = [_effective(pod_sc, c, "runAsUser") for c in self._raw_containers()]
        fs_user = uids[0] if uids and uids[0] is not None and all(u == uids[0] for u in uids) else None
        supplemental = pod_sc.get("supplementalGroups")
        groups = set(supplemental) if isinstance(supplemental, list) else set()
        if fs_group is not None:
            groups.add(fs_group)
        for container, raw in zip(self.containers, self._raw_containers(), strict=True):
            uid = _effective(pod_sc, raw, "runAsUser")
            if uid == 0 or (uid is None and not _effective(pod_sc, raw, "runAsNonRoot")):
                continue  # root, or unknown (the image decides): nothing to say
            gid = _effective(pod_sc, raw, "runAsGroup")
            mine = groups | ({gid} if gid is not None else set())
            for mount in [*container.mounts]:
                volume = mount.get("name")
                if not isinstance(volume, str) or volume not in self.token_volumes:
                    continue
                mode = _default_mode(self.volumes.get(volume))
                mode = mode if mode is not None else 0o644
                owner = 0
                group = 0
                if fs_user is not None or fs_group is not None:
                    mode = 0o600
                    owner = fs_user if fs_user is not None else 0
                if fs_group is not None:
                    mode |= 0o040
                    group = fs_group
                readable = (
                    mode & 0o004
                    or (uid is not None and uid == owner and mode & 0o400)
                    or (group in mine and mode & 0o040)
                )
                if not readable:
                    self.warnings.append(
                        f"container {container.name!r} (uid {uid if uid is not None else 'non-root'}) cannot "
                        f"read the tokens in {volume!r} (mode {mode:04o}, {owner}:{group}); set "
                        "securityContext.fsGroup or one runAsUser for all containers"
                    )

    def _raw_containers(self) -> list[Mapping[str, Any]]:
        out: list[Mapping[str, Any]] = []
        for list_name in ("initContainers", "containers"):
            containers = self.spec.get(list_name)
            if isinstance(containers, list):
                out.extend(c for c in containers if is_map(c))
        return out

    def _volumes(self, wanted: list[_Volume]) -> None:
        existing_list = self.spec.get("volumes")
        new: list[dict[str, Any]] = []
        for volume in wanted:
            found = self.volumes.get(volume.name)
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
        sources = projected.get("sources") if is_map(projected) else None
        if not isinstance(sources, list) or not all(
            is_map(s) and set(s) == {"serviceAccountToken"} for s in sources
        ):
            self.errors.append(
                f"volume {volume.name!r} already exists and is not a projected token volume; "
                f"rename that volume (the name is reserved for tokens at {volume.mount_path})"
            )
            return
        have = {
            _clean_relative(s["serviceAccountToken"].get("path")): s["serviceAccountToken"] for s in sources
        }
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

    def _append(self, path: str, current: Any, items: list[dict[str, Any]]) -> None:
        if not items:
            return
        if isinstance(current, list):
            self.ops.extend({"op": "add", "path": f"{path}/-", "value": item} for item in items)
        else:
            self.ops.append({"op": "add", "path": path, "value": items})


def _effective(pod_sc: Mapping[str, Any], container: Mapping[str, Any], key: str) -> Any:
    """A security setting as the kubelet reads it: the container's, else the pod's."""
    own = container.get("securityContext")
    if is_map(own) and own.get(key) is not None:
        return own.get(key)
    return pod_sc.get(key)


def _default_mode(found: tuple[int, Mapping[str, Any]] | None) -> int | None:
    projected = found[1].get("projected") if found is not None else None
    mode = projected.get("defaultMode") if is_map(projected) else None
    return mode if isinstance(mode, int) else None
