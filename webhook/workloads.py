"""Where pod templates live inside workload objects (and `List`s of them)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from webhook.vocabulary import is_map

# kind -> JSON pointer of its pod template, relative to the object ("" = the object is the pod).
TEMPLATE_PATHS: dict[str, tuple[str, ...]] = {
    "Pod": (),
    "PodTemplate": ("template",),
    "Deployment": ("spec", "template"),
    "StatefulSet": ("spec", "template"),
    "DaemonSet": ("spec", "template"),
    "ReplicaSet": ("spec", "template"),
    "ReplicationController": ("spec", "template"),
    "Job": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
}


class PodTemplate:
    """One pod template found in a document; read-only by convention. A plain class: built for every
    template render sees, and a frozen dataclass's __init__ costs an object.__setattr__ per field."""

    def __init__(
        self,
        pointer: str,
        kind: str,
        name: str,
        namespace: str,
        template: Mapping[str, Any],
        bad_namespace: bool = False,
    ) -> None:
        self.pointer = pointer  # JSON pointer of the template inside the document ("" for a Pod document)
        self.kind = kind
        self.name = name
        self.namespace = namespace
        self.template = template  # a Pod, or a pod template (metadata + spec)
        self.bad_namespace = bad_namespace  # the object's metadata.namespace is not a string (str()-ed)

    def describe(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"


# The template's JSON pointer below its object, per kind.
_POINTERS: dict[str, str] = {
    kind: "".join(f"/{key}" for key in path) for kind, path in TEMPLATE_PATHS.items()
}


def pod_templates(obj: Any, pointer: str = "", default_namespace: str = "default") -> list[PodTemplate]:
    """Every pod template in a Kubernetes object; `List` kinds are walked item by item. An object without
    a namespace is in `default_namespace` (kubectl -n)."""
    found: list[PodTemplate] = []
    _collect(obj, pointer, default_namespace, found)
    return found


def _collect(obj: Any, pointer: str, default_namespace: str, found: list[PodTemplate]) -> None:
    if not is_map(obj):
        return
    kind = obj.get("kind")
    if type(kind) is not str:
        return
    items = obj.get("items")
    if kind.endswith("List") and isinstance(items, list):
        for index, item in enumerate(items):
            _collect(item, f"{pointer}/items/{index}", default_namespace, found)
        return
    path = TEMPLATE_PATHS.get(kind)
    if path is None:
        return
    template: Any = obj
    for key in path:
        template = template.get(key) if is_map(template) else None
    if not is_map(template) or not is_map(template.get("spec")):
        return
    metadata = obj.get("metadata")
    meta: Mapping[str, Any] = metadata if is_map(metadata) else {}
    name = meta.get("name") or meta.get("generateName") or "<unnamed>"
    namespace = meta.get("namespace") or default_namespace
    found.append(
        PodTemplate(
            pointer + _POINTERS[kind],
            kind,
            str(name),
            str(namespace),
            template,
            not isinstance(namespace, str),
        )
    )
