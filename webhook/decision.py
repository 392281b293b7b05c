"""The one admission decision, shared by the server and `webhook render`: a pod (or pod template), its
ServiceAccount and the settings in; allow, mutate or deny out, with the reason and warnings.

Pure: the shells do the I/O. The server's order is subject_of -> (look the ServiceAccount up) -> decide;
render does the same for every template, after its scope check (webhook.selectors).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from webhook.mutate import mutate_pod, serviceaccount_name
from webhook.settings import CoreSettings
from webhook.vocabulary import MAPPING_TYPES, JsonPatchOp, ServiceAccountInfo

# Decision.outcome: also the `outcome` label of the metrics and the decision log.
MUTATED: Final = "mutated"
UNCHANGED: Final = "unchanged"
SKIPPED: Final = "skipped"
DENIED: Final = "denied"

DEFAULT_NAMESPACE: Final = "default"
DEFAULT_SERVICEACCOUNT: Final = "default"


@dataclass(frozen=True, slots=True)
class Subject:
    """Whom a pod is decided for: its namespace and ServiceAccount name, or why no lookup is needed."""

    namespace: str
    serviceaccount: str
    problems: tuple[str, ...] = ()  # shape problems: the pod is denied
    excluded: bool = False  # an --excluded-namespaces namespace: left alone

    @property
    def needs_serviceaccount(self) -> bool:
        return not self.problems and not self.excluded


@dataclass(frozen=True, slots=True)
class Decision:
    outcome: str  # MUTATED, UNCHANGED, SKIPPED or DENIED
    reason: str | None = None  # why skipped, or the denial message's problems joined
    ops: list[JsonPatchOp] = field(default_factory=list)  # against the pod as given
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # the denial's problems, one per item
    dialects: tuple[str, ...] = ()


def subject_of(
    pod: Any,
    namespace: str = "",
    *,
    default_namespace: str = DEFAULT_NAMESPACE,
    excluded_namespaces: Collection[str] = (),
) -> Subject:
    """The pod's namespace (the request's, else the pod's own, else `default_namespace`, as kubectl -n)
    and its ServiceAccount name (the pod's, else `default`); a malformed pod carries its problems."""
    problems = pod_shape_problems(pod)
    metadata = pod.get("metadata") if isinstance(pod, MAPPING_TYPES) else None
    own = metadata.get("namespace") if isinstance(metadata, MAPPING_TYPES) else None
    namespace = namespace or (own if isinstance(own, str) else "") or default_namespace
    if namespace in excluded_namespaces:
        return Subject(namespace, "", excluded=True)
    if problems:
        return Subject(namespace, "", tuple(f"malformed pod: {p}" for p in problems))
    return Subject(namespace, serviceaccount_name(pod))


_IMPLIED_DEFAULTS: dict[str, ServiceAccountInfo] = {}


def implied_default(namespace: str) -> ServiceAccountInfo:
    """The `default` ServiceAccount the controller-manager creates in every namespace: no annotations.
    One object per namespace, so the dialects' per-ServiceAccount memo keeps working."""
    found = _IMPLIED_DEFAULTS.get(namespace)
    if found is None:
        if len(_IMPLIED_DEFAULTS) >= 4096:
            _IMPLIED_DEFAULTS.clear()
        found = _IMPLIED_DEFAULTS[namespace] = ServiceAccountInfo(namespace, DEFAULT_SERVICEACCOUNT)
    return found


def decide(
    pod: Any, subject: Subject, serviceaccount: ServiceAccountInfo | None, settings: CoreSettings
) -> Decision:
    """The decision for a pod whose subject is `subject` and whose ServiceAccount lookup gave
    `serviceaccount` (None: not found). A missing `default` ServiceAccount counts as unannotated."""
    if subject.excluded:
        return Decision(SKIPPED, "excluded namespace")
    if subject.problems:
        return Decision(DENIED, "; ".join(subject.problems), errors=list(subject.problems))
    if serviceaccount is None:
        if subject.serviceaccount != DEFAULT_SERVICEACCOUNT:
            reason = f"ServiceAccount {subject.namespace}/{subject.serviceaccount} not found; pod not mutated"
            return Decision(SKIPPED, reason, warnings=[reason])
        serviceaccount = implied_default(subject.namespace)
    mutation = mutate_pod(pod, serviceaccount, settings)
    dialects = tuple(mutation.dialects)
    if mutation.errors:
        return Decision(DENIED, "; ".join(mutation.errors), [], mutation.warnings, mutation.errors, dialects)
    if mutation.patch:
        return Decision(MUTATED, None, mutation.patch, mutation.warnings, [], dialects)
    if mutation.skipped:
        return Decision(SKIPPED, mutation.skipped, [], mutation.warnings, [], dialects)
    return Decision(UNCHANGED, None, [], mutation.warnings, [], dialects)


# ------------------------------------------------------------------------------------------ the shape check


def type_name(value: Any) -> str:
    """The JSON type of a value, as the messages name it."""
    return {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), "object" if isinstance(value, Mapping) else "number"
    )


def _is_map(value: Any) -> bool:
    return isinstance(value, MAPPING_TYPES)


def _check_list_of_objects(where: str, value: Any, problems: list[str], names: bool = True) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        problems.append(f"{where} must be an array, got {type_name(value)}")
        return []
    items = []
    for i, item in enumerate(value):
        if not _is_map(item):
            problems.append(f"{where}[{i}] must be an object, got {type_name(item)}")
            continue
        if names and not isinstance(item.get("name"), str):
            problems.append(f"{where}[{i}].name must be a string, got {type_name(item.get('name'))}")
            continue
        items.append(item)
    return items


def _check_string_map(where: str, value: Any, problems: list[str]) -> None:
    if value is None:
        return
    if not _is_map(value):
        problems.append(f"{where} must be an object, got {type_name(value)}")
        return
    for key, item in value.items():
        if not isinstance(key, str):
            problems.append(f"{where} has a key that is not a string: {key!r}"[:200])
            return
        if not isinstance(item, str):
            problems.append(f"{where}[{key!r}] must be a string, got {type_name(item)}")
            return


def _check_string(where: str, value: Any, problems: list[str]) -> None:
    if value is not None and not isinstance(value, str):
        problems.append(f"{where} must be a string, got {type_name(value)}")


def pod_shape_problems(pod: Any) -> list[str]:
    """Type errors in the parts of a pod the mutation reads: such a pod is denied, never a crash."""
    if not _is_map(pod):
        return [f"the Pod must be an object, got {type_name(pod)}"]
    problems: list[str] = []
    metadata = pod.get("metadata")
    if metadata is not None and not _is_map(metadata):
        problems.append(f"metadata must be an object, got {type_name(metadata)}")
    elif metadata:
        _check_string_map("metadata.annotations", metadata.get("annotations"), problems)
        _check_string_map("metadata.labels", metadata.get("labels"), problems)
        for key in ("name", "generateName", "namespace"):
            _check_string(f"metadata.{key}", metadata.get(key), problems)
    spec = pod.get("spec")
    if not _is_map(spec):
        problems.append(f"spec must be an object, got {type_name(spec)}")
        return problems
    for key in ("serviceAccountName", "serviceAccount"):
        _check_string(f"spec.{key}", spec.get(key), problems)
    _check_string_map("spec.nodeSelector", spec.get("nodeSelector"), problems)
    os_ = spec.get("os")
    if os_ is not None and not (_is_map(os_) and isinstance(os_.get("name", ""), str)):
        problems.append("spec.os must be an object with a string name")
    for volume in _check_list_of_objects("spec.volumes", spec.get("volumes"), problems):
        if "projected" not in volume:
            continue
        projected = volume["projected"]
        where = f"spec.volumes[{volume['name']!r}].projected"
        if not _is_map(projected):
            problems.append(f"{where} must be an object, got {type_name(projected)}")
            continue
        sources = _check_list_of_objects(f"{where}.sources", projected.get("sources"), problems, False)
        for i, source in enumerate(sources):
            if "serviceAccountToken" not in source:
                continue
            token = source["serviceAccountToken"]
            at = f"{where}.sources[{i}].serviceAccountToken"
            if not _is_map(token):
                problems.append(f"{at} must be an object, got {type_name(token)}")
                continue
            _check_string(f"{at}.path", token.get("path"), problems)
            _check_string(f"{at}.audience", token.get("audience"), problems)
            seconds = token.get("expirationSeconds")
            if seconds is not None and (isinstance(seconds, bool) or not isinstance(seconds, int)):
                problems.append(f"{at}.expirationSeconds must be an integer, got {type_name(seconds)}")
    if spec.get("containers") is None:
        problems.append("spec.containers is missing")
    for field_name in ("initContainers", "containers", "ephemeralContainers"):
        for container in _check_list_of_objects(f"spec.{field_name}", spec.get(field_name), problems):
            where = f"spec.{field_name}[{container['name']!r}]"
            for env in _check_list_of_objects(f"{where}.env", container.get("env"), problems):
                _check_string(f"{where}.env[{env['name']!r}].value", env.get("value"), problems)
            for mount in _check_list_of_objects(
                f"{where}.volumeMounts", container.get("volumeMounts"), problems
            ):
                if not isinstance(mount.get("mountPath"), str):
                    problems.append(
                        f"{where}.volumeMounts[{mount['name']!r}].mountPath must be a string, "
                        f"got {type_name(mount.get('mountPath'))}"
                    )
                for key in ("subPath", "subPathExpr"):
                    _check_string(f"{where}.volumeMounts[{mount['name']!r}].{key}", mount.get(key), problems)
            _check_string(f"{where}.restartPolicy", container.get("restartPolicy"), problems)
    return problems
