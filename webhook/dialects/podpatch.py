"""Targeted `add` ops for what a dialect adds besides tokens (containers, other volumes, annotations).

A PodEdit starts from the pod with the token patch applied (a copy), so every op it makes is addressed
against the pod as that patch leaves it, and it applies each op it makes to its copy, so the next one
sees it. Only `add` ops: `webhook render` splices those, and the apiserver applies them in order. An
addition to a list or volume an earlier op creates goes into that op's value (a new op replaces it in the
patch): no op ever addresses the inside of another's value, which a reader applying ops by reference (as
render's round trip does) would see twice.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from webhook.vocabulary import MAPPING_TYPES, JsonPatchOp


def pointer(*parts: str | int) -> str:
    """A JSON pointer from its parts (`/` and `~` escaped as RFC 6901 says)."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def _parts(path: str) -> list[str]:
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def apply(target: Any, op: JsonPatchOp) -> None:
    """One `add` op, as RFC 6902 defines it."""
    parts = _parts(op["path"])
    parent = target
    for part in parts[:-1]:
        parent = parent[int(part)] if isinstance(parent, list) else parent[part]
    last = parts[-1]
    if isinstance(parent, list) and last == "-":
        parent.append(op["value"])
    elif isinstance(parent, list):
        parent.insert(int(last), op["value"])
    else:
        parent[last] = op["value"]


class PodEdit:
    def __init__(self, pod: Mapping[str, Any], patch: list[JsonPatchOp]) -> None:
        self.patch = patch  # amended in place where an addition belongs in one of its ops
        self.state: dict[str, Any] = copy.deepcopy(dict(pod))
        for op in patch:  # copies: the ops' values must not change when the state does
            apply(self.state, copy.deepcopy(op))
        self.ops: list[JsonPatchOp] = []

    @property
    def spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = self.state["spec"]
        return spec

    def get(self, *parts: str | int) -> Any:
        node: Any = self.state
        for part in parts:
            found = (isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)) or (
                isinstance(node, MAPPING_TYPES) and part in node
            )
            if not found:
                return None
            node = node[part]
        return node

    def add(self, path: str, value: Any) -> None:
        op = {"op": "add", "path": path, "value": value}
        apply(self.state, copy.deepcopy(op))
        self.ops.append(op)

    def _amend(self, path: str, change: Any) -> bool:
        """Apply `change` to a copy of the value of the op (of the patch, or ours) that creates `path`."""
        for ops in (self.ops, self.patch):
            for number, op in enumerate(ops):
                if op["path"] == path:
                    value = copy.deepcopy(op["value"])
                    change(value)
                    ops[number] = {**op, "value": value}
                    return True
        return False

    def append(self, value: Any, *parts: str | int) -> None:
        """Append to the list at parts, creating it when absent."""
        target = self.get(*parts)
        if isinstance(target, list) and self._amend(pointer(*parts), lambda items: items.append(value)):
            target.append(copy.deepcopy(value))
        elif isinstance(target, list):
            self.add(pointer(*parts, "-"), value)
        else:
            self.add(pointer(*parts), [value])

    def insert(self, index: int, value: Any, *parts: str | int) -> None:
        """Insert into the list at parts (index 0: first), creating it when absent."""
        target = self.get(*parts)
        if isinstance(target, list) and self._amend(
            pointer(*parts), lambda items: items.insert(index, value)
        ):
            target.insert(index, copy.deepcopy(value))
        elif isinstance(target, list):
            self.add(pointer(*parts, index), value)
        else:
            self.add(pointer(*parts), [value])

    def amend_new_volume(self, name: str, change: Any) -> bool:
        """Change the volume `name` an op of the patch adds (in that op's value); False if none adds it."""
        for number, op in enumerate(self.patch):
            if op["path"] not in ("/spec/volumes", "/spec/volumes/-"):
                continue
            value = copy.deepcopy(op["value"])
            volumes = value if isinstance(value, list) else [value]
            found = [v for v in volumes if isinstance(v, MAPPING_TYPES) and v.get("name") == name]
            if found:
                change(found[0])
                self.patch[number] = {**op, "value": value}
                for volume in self.spec.get("volumes") or []:
                    if volume.get("name") == name:
                        change(volume)
                return True
        return False

    def set_member(self, key: str, value: Any, *parts: str | int) -> None:
        """Set a member of the object at parts (an `add` replaces an existing member), creating the
        object when absent."""
        if isinstance(self.get(*parts), MAPPING_TYPES):
            self.add(pointer(*parts, key), value)
        elif parts and not isinstance(self.get(*parts[:-1]), MAPPING_TYPES):
            self.set_member(str(parts[-1]), {key: value}, *parts[:-1])
        else:
            self.add(pointer(*parts), {key: value})
