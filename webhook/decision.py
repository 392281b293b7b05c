"""The one admission decision, shared by the server and `webhook render`: a pod (or pod template), its
ServiceAccount and the settings in; allow, mutate or deny out, with the reason and warnings.

Pure: the shells do the I/O. The server's order is subject_of -> (look the ServiceAccount up) -> decide;
render does the same for every template, after its scope check (webhook.selectors).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any, Final

from webhook.mutate import mutate_pod, serviceaccount_name
from webhook.settings import CoreSettings
from webhook.vocabulary import JsonPatchOp, ServiceAccountInfo, is_map

# Decision.outcome: also the `outcome` label of the metrics and the decision log.
MUTATED: Final = "mutated"
UNCHANGED: Final = "unchanged"
SKIPPED: Final = "skipped"
DENIED: Final = "denied"

DEFAULT_NAMESPACE: Final = "default"
DEFAULT_SERVICEACCOUNT: Final = "default"


class Subject:
    """Whom a pod is decided for: its namespace and ServiceAccount name, or why no lookup is needed.
    Read-only by convention (one object serves every pod of a pair); plain classes here and below, as a
    compiled frozen dataclass's __init__ runs in the interpreter."""

    def __init__(
        self, namespace: str, serviceaccount: str, problems: tuple[str, ...] = (), excluded: bool = False
    ) -> None:
        self.namespace = namespace
        self.serviceaccount = serviceaccount
        self.problems = problems  # shape problems: the pod is denied
        self.excluded = excluded  # an --excluded-namespaces namespace: left alone

    @property
    def needs_serviceaccount(self) -> bool:
        return not self.problems and not self.excluded

    def __repr__(self) -> str:
        return (
            f"Subject({self.namespace!r}, {self.serviceaccount!r}, problems={self.problems!r}, "
            f"excluded={self.excluded!r})"
        )


class Decision:
    def __init__(
        self,
        outcome: str,
        reason: str | None = None,
        ops: list[JsonPatchOp] | None = None,
        warnings: list[str] | None = None,
        errors: list[str] | None = None,
        dialects: tuple[str, ...] = (),
    ) -> None:
        self.outcome = outcome  # MUTATED, UNCHANGED, SKIPPED or DENIED
        self.reason = reason  # why skipped, or the denial message's problems joined
        self.ops: list[JsonPatchOp] = [] if ops is None else ops  # against the pod as given
        self.warnings: list[str] = [] if warnings is None else warnings
        self.errors: list[str] = [] if errors is None else errors  # the denial's problems, one per item
        self.dialects = dialects

    def __repr__(self) -> str:
        return (
            f"Decision({self.outcome!r}, reason={self.reason!r}, ops={self.ops!r}, "
            f"warnings={self.warnings!r}, errors={self.errors!r}, dialects={self.dialects!r})"
        )


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
    metadata = pod.get("metadata") if is_map(pod) else None
    own = metadata.get("namespace") if is_map(metadata) else None
    namespace = namespace or (own if isinstance(own, str) else "") or default_namespace
    if namespace in excluded_namespaces:
        return Subject(namespace, "", excluded=True)
    if problems:
        return Subject(namespace, "", tuple(f"malformed pod: {p}" for p in problems))
    key = (namespace, serviceaccount_name(pod))
    found = _SUBJECTS.get(key)
    if found is None:
        if len(_SUBJECTS) >= 4096:
            _SUBJECTS.clear()
        found = _SUBJECTS[key] = Subject(*key)
    return found


# Subjects are shared: one per (namespace, ServiceAccount) serves every pod of the pair.
_SUBJECTS: dict[tuple[str, str], Subject] = {}


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
    mutation = mutate_pod(_annotations_sorted(pod), serviceaccount, settings)
    dialects = tuple(mutation.dialects)
    if mutation.errors:
        return Decision(DENIED, "; ".join(mutation.errors), [], mutation.warnings, mutation.errors, dialects)
    if mutation.patch:
        return Decision(MUTATED, None, mutation.patch, mutation.warnings, [], dialects)
    if mutation.skipped:
        return Decision(SKIPPED, mutation.skipped, [], mutation.warnings, [], dialects)
    return Decision(UNCHANGED, None, [], mutation.warnings, [], dialects)


def _annotations_sorted(pod: Any) -> Any:
    """The pod as the apiserver sends it: annotations in key order (it stores a map), which decides the
    order of tokens, env vars and messages. A manifest keeps its author's order; reviews come sorted."""
    metadata = pod.get("metadata")
    annotations: Any = metadata.get("annotations") if is_map(metadata) else None
    if not is_map(annotations) or len(annotations) < 2:
        return pod
    keys = list(annotations)
    if keys == sorted(keys):
        return pod
    return {**pod, "metadata": {**metadata, "annotations": {k: annotations[k] for k in sorted(keys)}}}


# ------------------------------------------------------------------------------------------ the shape check


def type_name(value: Any) -> str:
    """The JSON type of a value, as the messages name it."""
    return {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), "object" if isinstance(value, Mapping) else "number"
    )


# Where-strings are built only for a problem: the check runs on every template render sees, and formatting
# them up front cost more than the mutation itself.


def _objects(where: Any, value: Any, problems: list[str], names: bool = True) -> list[Any]:
    """The object items of an array field; `where` is the field's path, or a callable giving it."""
    if value is None:
        return []
    if type(value) is not list:
        problems.append(f"{_at(where)} must be an array, got {type_name(value)}")
        return []
    for item in value:
        if not (type(item) is dict or isinstance(item, Mapping)) or (
            names and type(item.get("name")) is not str
        ):
            break
    else:
        return value  # the common case: every item fine
    items = []
    for i, item in enumerate(value):
        if not is_map(item):
            problems.append(f"{_at(where)}[{i}] must be an object, got {type_name(item)}")
        elif names and not isinstance(item.get("name"), str):
            problems.append(f"{_at(where)}[{i}].name must be a string, got {type_name(item.get('name'))}")
        else:
            items.append(item)
    return items


def _at(where: Any) -> str:
    return where() if callable(where) else where


def _check_string_map(where: str, value: Any, problems: list[str]) -> None:
    if value is None:
        return
    if not is_map(value):
        problems.append(f"{where} must be an object, got {type_name(value)}")
        return
    for key, item in value.items():
        if type(key) is not str:
            problems.append(f"{where} has a key that is not a string: {key!r}"[:200])
            return
        if type(item) is not str:
            problems.append(f"{where}[{key!r}] must be a string, got {type_name(item)}")
            return


def _not_string(value: Any) -> bool:
    return value is not None and type(value) is not str


def pod_shape_problems(pod: Any) -> list[str]:
    """Type errors in the parts of a pod the mutation reads: such a pod is denied, never a crash."""
    if type(pod) is dict and _plain_shape_ok(pod):
        return []
    return _shape_problems(pod)


def _str_map_ok(value: Any) -> bool:
    if value is None:
        return True
    if type(value) is not dict:
        return False
    return all(type(key) is str and type(item) is str for key, item in value.items())


def _plain_shape_ok(pod: dict) -> bool:
    """The common case fast, on plain dicts and lists: True only if _shape_problems would find nothing
    (anything unusual, such as a Mapping that is not a dict, says False and takes the careful path)."""
    metadata = pod.get("metadata")
    if metadata is not None:
        if type(metadata) is not dict:
            return False
        if not (_str_map_ok(metadata.get("annotations")) and _str_map_ok(metadata.get("labels"))):
            return False
        for key in ("name", "generateName", "namespace"):
            value = metadata.get(key)
            if value is not None and type(value) is not str:
                return False
    spec = pod.get("spec")
    if type(spec) is not dict:
        return False
    for key in ("serviceAccountName", "serviceAccount"):
        value = spec.get(key)
        if value is not None and type(value) is not str:
            return False
    if not _str_map_ok(spec.get("nodeSelector")):
        return False
    os_ = spec.get("os")
    if os_ is not None and not (type(os_) is dict and type(os_.get("name", "")) is str):
        return False
    volumes = spec.get("volumes")
    if volumes is not None:
        if type(volumes) is not list:
            return False
        for volume in volumes:
            if type(volume) is not dict or type(volume.get("name")) is not str:
                return False
            if "projected" in volume:
                return False  # rare enough: the careful path checks its token sources
    if spec.get("containers") is None:
        return False
    for field_name in ("initContainers", "containers", "ephemeralContainers"):
        containers = spec.get(field_name)
        if containers is None:
            continue
        if type(containers) is not list:
            return False
        for container in containers:
            if type(container) is not dict or type(container.get("name")) is not str:
                return False
            env = container.get("env")
            if env is not None:
                if type(env) is not list:
                    return False
                for item in env:
                    if type(item) is not dict or type(item.get("name")) is not str:
                        return False
                    value = item.get("value")
                    if value is not None and type(value) is not str:
                        return False
            mounts = container.get("volumeMounts")
            if mounts is not None:
                if type(mounts) is not list:
                    return False
                for mount in mounts:
                    if type(mount) is not dict or type(mount.get("name")) is not str:
                        return False
                    if type(mount.get("mountPath")) is not str:
                        return False
                    for key in ("subPath", "subPathExpr"):
                        value = mount.get(key)
                        if value is not None and type(value) is not str:
                            return False
            policy = container.get("restartPolicy")
            if policy is not None and type(policy) is not str:
                return False
    return True


def _shape_problems(pod: Any) -> list[str]:
    if not is_map(pod):
        return [f"the Pod must be an object, got {type_name(pod)}"]
    problems: list[str] = []
    metadata = pod.get("metadata")
    if metadata is not None and not is_map(metadata):
        problems.append(f"metadata must be an object, got {type_name(metadata)}")
    elif metadata:
        _check_string_map("metadata.annotations", metadata.get("annotations"), problems)
        _check_string_map("metadata.labels", metadata.get("labels"), problems)
        for key in ("name", "generateName", "namespace"):
            if _not_string(metadata.get(key)):
                problems.append(f"metadata.{key} must be a string, got {type_name(metadata.get(key))}")
    spec = pod.get("spec")
    if not is_map(spec):
        problems.append(f"spec must be an object, got {type_name(spec)}")
        return problems
    for key in ("serviceAccountName", "serviceAccount"):
        if _not_string(spec.get(key)):
            problems.append(f"spec.{key} must be a string, got {type_name(spec.get(key))}")
    _check_string_map("spec.nodeSelector", spec.get("nodeSelector"), problems)
    os_ = spec.get("os")
    if os_ is not None and not (is_map(os_) and isinstance(os_.get("name", ""), str)):
        problems.append("spec.os must be an object with a string name")
    for volume in _objects("spec.volumes", spec.get("volumes"), problems):
        if "projected" in volume:
            _check_projected(volume, problems)
    if spec.get("containers") is None:
        problems.append("spec.containers is missing")
    for field_name in ("initContainers", "containers", "ephemeralContainers"):
        for container in _objects(f"spec.{field_name}", spec.get(field_name), problems):
            _check_container(field_name, container, problems)
    return problems


def _check_projected(volume: Mapping[str, Any], problems: list[str]) -> None:
    projected = volume["projected"]
    where = f"spec.volumes[{volume['name']!r}].projected"
    if not is_map(projected):
        problems.append(f"{where} must be an object, got {type_name(projected)}")
        return
    sources = _objects(f"{where}.sources", projected.get("sources"), problems, False)
    for i, source in enumerate(sources):
        if "serviceAccountToken" not in source:
            continue
        token = source["serviceAccountToken"]
        at = f"{where}.sources[{i}].serviceAccountToken"
        if not is_map(token):
            problems.append(f"{at} must be an object, got {type_name(token)}")
            continue
        for key in ("path", "audience"):
            if _not_string(token.get(key)):
                problems.append(f"{at}.{key} must be a string, got {type_name(token.get(key))}")
        seconds = token.get("expirationSeconds")
        if seconds is not None and (isinstance(seconds, bool) or not isinstance(seconds, int)):
            problems.append(f"{at}.expirationSeconds must be an integer, got {type_name(seconds)}")


def _check_container(field_name: str, container: Mapping[str, Any], problems: list[str]) -> None:
    def where() -> str:
        return f"spec.{field_name}[{container['name']!r}]"

    for env in _objects(lambda: f"{where()}.env", container.get("env"), problems):
        if _not_string(env.get("value")):
            problems.append(
                f"{where()}.env[{env['name']!r}].value must be a string, got {type_name(env['value'])}"
            )
    for mount in _objects(lambda: f"{where()}.volumeMounts", container.get("volumeMounts"), problems):
        if type(mount.get("mountPath")) is not str:
            problems.append(
                f"{where()}.volumeMounts[{mount['name']!r}].mountPath must be a string, "
                f"got {type_name(mount.get('mountPath'))}"
            )
        for key in ("subPath", "subPathExpr"):
            if _not_string(mount.get(key)):
                at = f"{where()}.volumeMounts[{mount['name']!r}].{key}"
                problems.append(f"{at} must be a string, got {type_name(mount[key])}")
    if _not_string(container.get("restartPolicy")):
        problems.append(
            f"{where()}.restartPolicy must be a string, got {type_name(container['restartPolicy'])}"
        )
