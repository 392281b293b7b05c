"""Where pod templates live inside workload objects (and `List`s of them)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
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


@dataclass(frozen=True, slots=True)
class PodTemplate:
    pointer: str  # JSON pointer of the template inside the document ("" when the document is a Pod)
    kind: str
    name: str
    namespace: str
    template: Mapping[str, Any]  # a Pod, or a pod template (metadata + spec)

    def describe(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"


def pod_templates(obj: Any, pointer: str = "") -> Iterator[PodTemplate]:
    """Every pod template in a Kubernetes object; `List` kinds are walked item by item."""
    if not isinstance(obj, MAPPING_TYPES):
        return
    kind = obj.get("kind")
    if not isinstance(kind, str):
        return
    items = obj.get("items")
    if kind.endswith("List") and isinstance(items, list):
        for index, item in enumerate(items):
            yield from pod_templates(item, f"{pointer}/items/{index}")
        return
    path = TEMPLATE_PATHS.get(kind)
    if path is None:
        return
    template: Any = obj
    for key in path:
        template = template.get(key) if isinstance(template, MAPPING_TYPES) else None
    if not isinstance(template, MAPPING_TYPES) or not isinstance(template.get("spec"), MAPPING_TYPES):
        return
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), MAPPING_TYPES) else {}
    name = meta.get("name") or meta.get("generateName") or "<unnamed>"
    namespace = meta.get("namespace") or "default"
    yield PodTemplate(pointer + "".join(f"/{key}" for key in path), kind, str(name), str(namespace), template)
