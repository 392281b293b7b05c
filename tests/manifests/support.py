"""Helpers for the manifests tests: kustomize builds, schema validation, label selectors."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from tests.common import REPO
from tests.e2e.controlplane import find_assets

MANIFESTS = REPO / "manifests"
OVERLAYS = ("cert-manager", "static", "eks", "azure", "gcp")
CERT_MANAGER_GROUP = "cert-manager.io"


def kubectl() -> str | None:
    """kubectl on PATH, else the one hack/e2e-assets.sh built (CI's fresh machine has only that)."""
    assets, _ = find_assets()
    return shutil.which("kubectl") or (str(assets.kubectl) if assets else None)


def kustomize(path: Path) -> list[dict[str, Any]]:
    """`kubectl kustomize PATH`, parsed; a build error fails with kustomize's own message."""
    exe = kubectl()
    assert exe, "kubectl is needed for kustomize builds"
    proc = subprocess.run([exe, "kustomize", str(path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"kubectl kustomize {path} failed: {proc.stderr.strip()}"
    return [doc for doc in yaml.safe_load_all(proc.stdout) if doc]


def copy_manifests(dest: Path) -> Path:
    """A private copy of manifests/, so generated certificates never land in the work tree."""
    target = dest / "manifests"
    shutil.copytree(MANIFESTS, target, ignore=shutil.ignore_patterns("certs"))
    return target


def find(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]


def one(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = find(docs, kind, name)
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def selects(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """Kubernetes label-selector semantics (an absent or empty selector selects everything)."""
    selector = selector or {}
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        present = key in labels
        ok = {
            "In": present and labels.get(key) in values,
            "NotIn": not present or labels[key] not in values,
            "Exists": present,
            "DoesNotExist": not present,
        }[op]
        if not ok:
            return False
    return True


def pod_template(docs: list[dict[str, Any]]) -> dict[str, Any]:
    return one(docs, "Deployment")["spec"]["template"]


def webhook_container(docs: list[dict[str, Any]]) -> dict[str, Any]:
    containers = pod_template(docs)["spec"]["containers"]
    assert len(containers) == 1, "the webhook pod runs one container"
    return containers[0]


def arg_value(args: list[str], flag: str) -> str | None:
    values = [a.split("=", 1)[1] for a in args if a.startswith(flag + "=")]
    assert len(values) <= 1, f"{flag} given {len(values)} times"
    return values[0] if values else None


DOCKERFILE = REPO / "Dockerfile"


def _instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    logical, pending = [], ""
    for line in text.splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        logical.append(pending + stripped)
        pending = ""
    assert not pending, "dangling line continuation"
    return [
        (part[0].upper(), part[1] if len(part) > 1 else "") for part in (s.split(None, 1) for s in logical)
    ]


def dockerfile_stages() -> tuple[dict[str, str], list[list[tuple[str, str]]]]:
    """Global ARG defaults and the instructions of each stage (FROM first)."""
    args: dict[str, str] = {}
    stages: list[list[tuple[str, str]]] = []
    for instr, rest in _instructions(DOCKERFILE.read_text()):
        if instr == "FROM":
            stages.append([])
        if not stages:
            assert instr == "ARG", f"{instr} before the first FROM"
            name, _, default = rest.partition("=")
            args[name] = default
            continue
        stages[-1].append((instr, rest))
    return args, stages
