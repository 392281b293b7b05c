"""The in-place YAML edit on many generated layouts: it must take the fast path and keep every line."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from webhook.documents import load_yaml
from webhook.mutate import mutate_pod
from webhook.settings import CoreSettings
from webhook.vocabulary import ServiceAccountInfo
from webhook.workloads import pod_templates
from webhook.yamledit import apply_ops, splice

P = "projected-token.io"
ACCOUNT = ServiceAccountInfo(
    namespace="default",
    name="x",
    annotations={f"{P}/audience": "a", f"{P}/x.audience": "b", f"{P}/x.mount-path": "/var/run/x"},
)
SETTINGS = CoreSettings()
SCALARS = ("x", "'quoted: yes'", '"double"', "8080", "true", "null", "[a, b]", "{a: 1}", "''")


class Layout:
    """Writes block-style YAML the way people and tools do: indents of 2 or 4, sequences indented under
    their key or not, comments and blank lines anywhere, items that start on the dash line or below it."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.step = rng.choice((2, 4))
        self.offset = rng.choice((0, 2, self.step))
        self.lines: list[str] = []

    def noise(self, indent: int) -> None:
        roll = self.rng.random()
        if roll < 0.08:
            self.lines.append(" " * self.rng.randint(0, indent + 4) + "# note")
        elif roll < 0.12:
            self.lines.append("")

    def mapping(self, value: dict[str, Any], indent: int, first: str | None = None) -> None:
        for number, (key, item) in enumerate(value.items()):
            if number or first is None:
                self.noise(indent)
            head = first if number == 0 and first is not None else " " * indent
            if isinstance(item, dict) and item:
                self.lines.append(f"{head}{key}:" + (" # why" if self.rng.random() < 0.1 else ""))
                self.mapping(item, indent + self.step)
            elif isinstance(item, list) and item:
                self.lines.append(f"{head}{key}:")
                self.sequence(item, indent + self.offset)
            elif isinstance(item, str) and item.startswith("|"):
                self.lines.append(f"{head}{key}: |")
                self.lines.extend(" " * (indent + self.step) + line for line in item[1:].split("\n"))
            else:
                self.lines.append(f"{head}{key}: {item if isinstance(item, str) else json.dumps(item)}")

    def sequence(self, value: list[Any], indent: int) -> None:
        for item in value:
            self.noise(indent)
            if isinstance(item, dict):
                if self.rng.random() < 0.15:  # "-" alone, the mapping below it
                    self.lines.append(" " * indent + "-")
                    self.mapping(item, indent + 2)
                else:
                    self.mapping(item, indent + 2, first=" " * indent + "- ")
            else:
                self.lines.append(f"{' ' * indent}- {item}")


def _container(rng: random.Random, name: str) -> dict[str, Any]:
    container: dict[str, Any] = {"name": name, "image": "registry.example.com/app:1"}
    if rng.random() < 0.5:
        container["env"] = [{"name": "A", "value": rng.choice(SCALARS)}]
    if rng.random() < 0.5:
        container["volumeMounts"] = [{"name": "data", "mountPath": "/data"}]
    if rng.random() < 0.3:
        container["command"] = ["sh", "-c"]
        container["env"] = [*container.get("env", ()), {"name": "SCRIPT", "value": "|echo one\necho two"}]
    if rng.random() < 0.3:
        container["resources"] = {"limits": {"cpu": "1", "memory": rng.choice(SCALARS)}}
    keys = list(container)
    rng.shuffle(keys)
    return {key: container[key] for key in keys}


def _workload(rng: random.Random) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "serviceAccountName": "x",
        "containers": [_container(rng, f"c{i}") for i in range(rng.randint(1, 3))],
    }
    if rng.random() < 0.3:
        spec["initContainers"] = [_container(rng, "init")]
    if rng.random() < 0.5:
        spec["volumes"] = [{"name": "data", "emptyDir": {}}]
    keys = list(spec)
    rng.shuffle(keys)
    spec = {key: spec[key] for key in keys}
    template = {"metadata": {"labels": {"app": "w"}}, "spec": spec}
    kind = rng.choice(("Pod", "Deployment", "CronJob"))
    if kind == "Pod":
        return {"apiVersion": "v1", "kind": kind, "metadata": {"name": "w"}, "spec": spec}
    if kind == "Deployment":
        return {
            "apiVersion": "apps/v1",
            "kind": kind,
            "metadata": {"name": "w"},
            "spec": {"template": template},
        }
    job = {"spec": {"template": template}}
    return {"apiVersion": "batch/v1", "kind": kind, "metadata": {"name": "w"}, "spec": {"jobTemplate": job}}


@pytest.mark.parametrize("seed", range(8))
def test_generated_layouts_are_spliced_line_for_line(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(60):
        layout = Layout(rng)
        layout.mapping(_workload(rng), 0)
        text = (
            rng.choice(("", "---\n", "# head\n"))
            + "\n".join(layout.lines)
            + rng.choice(("\n", "", "\n# end\n"))
        )
        data = load_yaml(text)
        ops = [
            {**op, "path": template.pointer + op["path"]}
            for template in pod_templates(data)
            for op in mutate_pod(template.template, ACCOUNT, SETTINGS).patch
        ]
        assert ops
        edited = splice(text, ops)  # no EditError: every layout here is one the fast path handles
        assert load_yaml(edited) == apply_ops(data, ops), text
        remaining = iter(edited.splitlines())
        assert all(any(line == new for new in remaining) for line in text.splitlines()), text
