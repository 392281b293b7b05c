"""Where pod templates live inside workload objects (and `List`s of them)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from webhook.vocabulary import MAPPING_TYPES

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


def pod_templates(obj: Any, pointer: str = "", default_namespace: str = "default") -> Iterator[PodTemplate]:
    """Every pod template in a Kubernetes object; `List` kinds are walked item by item. An object without
    a namespace is in `default_namespace` (kubectl -n)."""
    if not isinstance(obj, MAPPING_TYPES):
        return
    kind = obj.get("kind")
    if not isinstance(kind, str):
        return
    items = obj.get("items")
    if kind.endswith("List") and isinstance(items, list):
        for index, item in enumerate(items):
            yield from pod_templates(item, f"{pointer}/items/{index}", default_namespace)
        return
    path = TEMPLATE_PATHS.get(kind)
    if path is None:
        return
    template: Any = obj
    for key in path:
        template = template.get(key) if isinstance(template, MAPPING_TYPES) else None
    if not isinstance(template, MAPPING_TYPES) or not isinstance(template.get("spec"), MAPPING_TYPES):
        return
    metadata = obj.get("metadata")
    meta: Mapping[str, Any] = metadata if isinstance(metadata, MAPPING_TYPES) else {}
    name = meta.get("name") or meta.get("generateName") or "<unnamed>"
    namespace = meta.get("namespace") or default_namespace
    yield PodTemplate(
        pointer + "".join(f"/{key}" for key in path),
        kind,
        str(name),
        str(namespace),
        template,
        not isinstance(namespace, str),
    )
