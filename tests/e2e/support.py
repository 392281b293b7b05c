"""Small helpers shared by the e2e scenarios: polling, manifests, reading what the apiserver stored."""

from __future__ import annotations

import io
import json
import os
import subprocess
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import pytest
from ruamel.yaml import YAML

from tests import common
from tests.common import WEBHOOK_BIN

T = TypeVar("T")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
PREFIX = "projected-token.io"
API_ACCESS_PREFIX = "kube-api-access-"


def skip_or_fail(reason: str) -> None:
    """Skip with a one-line reason on a developer's machine; fail loudly in CI (nothing may skip there)."""
    if IN_CI:
        pytest.fail(f"CI: {reason}", pytrace=False)
    pytest.skip(reason)


def need_controller_manager(plane: Any) -> None:
    if not plane.has_controller_manager:
        skip_or_fail("kube-controller-manager not in the e2e assets: workloads create no pods")


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 60, interval: float = 0.25) -> T:
    """Poll probe until it returns something truthy; fail naming what never happened."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")


def dump_all(docs: Iterable[dict[str, Any]]) -> str:
    """Multi-document YAML, as users write it."""
    out = io.StringIO()
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.width = 4096
    yaml.dump_all(list(docs), out)
    return out.getvalue()


def load_all(text: str) -> list[dict[str, Any]]:
    return [doc for doc in YAML(typ="safe").load_all(text) if isinstance(doc, dict)]


def pod(
    name: str,
    serviceaccount_name: str,
    *,
    annotations: dict[str, str] | None = None,
    init: bool = True,
    labels: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A pod with an init container and two containers; never scheduled (no kubelet here), only stored."""
    return common.pod(
        {"name": "app", "image": "registry.invalid/app:1", "env": [{"name": "KEEP", "value": "me"}]},
        {"name": "sidecar", "image": "registry.invalid/sidecar:1"},
        name=name,
        namespace=None,
        serviceaccount=serviceaccount_name,
        annotations=annotations or {},
        labels=labels or {},
        init=[{"name": "setup", "image": "registry.invalid/setup:1"}] if init else (),
    )


def deployment(name: str, serviceaccount_name: str, replicas: int = 1) -> dict[str, Any]:
    template = {
        "metadata": {"labels": {"app": name}},
        "spec": pod(name, serviceaccount_name, init=False)["spec"],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}}, "template": template},
    }


def token_volumes(pod_obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Volumes holding a serviceAccountToken source, except the ServiceAccount plugin's own."""
    found = {}
    for volume in pod_obj["spec"].get("volumes") or []:
        sources = (volume.get("projected") or {}).get("sources") or []
        if volume["name"].startswith(API_ACCESS_PREFIX):
            continue
        if any("serviceAccountToken" in s for s in sources):
            found[volume["name"]] = volume
    return found


def token_sources(pod_obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """audience -> serviceAccountToken source, over all our volumes."""
    return {
        source["serviceAccountToken"].get("audience", ""): source["serviceAccountToken"]
        for volume in token_volumes(pod_obj).values()
        for source in volume["projected"]["sources"]
        if "serviceAccountToken" in source
    }


def api_access_volume(pod_obj: dict[str, Any]) -> str | None:
    names = [
        v["name"] for v in pod_obj["spec"].get("volumes") or [] if v["name"].startswith(API_ACCESS_PREFIX)
    ]
    return names[0] if names else None


def without_api_access(pod_spec: dict[str, Any]) -> dict[str, Any]:
    """A pod spec minus the ServiceAccount plugin's randomly named volume and its mounts (for comparisons)."""
    spec = json.loads(json.dumps(pod_spec))
    spec["volumes"] = [v for v in spec.get("volumes") or [] if not v["name"].startswith(API_ACCESS_PREFIX)]
    for key in ("initContainers", "containers"):
        for container in spec.get(key) or []:
            container["volumeMounts"] = [
                m for m in container.get("volumeMounts") or [] if not m["name"].startswith(API_ACCESS_PREFIX)
            ]
    return spec


def render(*args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run `webhook render` (the offline shell of the same core)."""
    result = subprocess.run(
        [str(WEBHOOK_BIN), "render", *args], input=input, capture_output=True, text=True, timeout=120
    )
    if check and result.returncode != 0:
        raise AssertionError(f"webhook render {' '.join(args)} exited {result.returncode}:\n{result.stderr}")
    return result


def cli(*args: str, check: bool = True, input: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run the installed `webhook` console script, as a user would."""
    result = subprocess.run(
        [str(WEBHOOK_BIN), *args], capture_output=True, text=True, timeout=120, input=input, check=False
    )
    if check and result.returncode != 0:
        raise AssertionError(f"webhook {' '.join(args)} exited {result.returncode}: {result.stderr}")
    return result
