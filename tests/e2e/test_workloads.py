"""Controllers create the pods (ArgoCD controller and server); they equal what `webhook render` printed."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.common import FIXTURES
from tests.e2e.controlplane import ControlPlane
from tests.e2e.support import (
    PREFIX,
    dump_all,
    load_all,
    need_controller_manager,
    render,
    token_sources,
    wait_for,
    without_api_access,
)
from tests.e2e.webhookserver import WebhookServer

pytestmark = pytest.mark.e2e
ARGOCD = FIXTURES / "argocd" / "namespace-install.yaml"
DOWNSTREAM = {
    f"{PREFIX}/downstream.audience": "downstream-cluster",
    f"{PREFIX}/downstream.path": "federated-token",
}
WORKLOADS = {("StatefulSet", "argocd-application-controller"), ("Deployment", "argocd-server")}
# Fields a controller sets on the pods it creates that are not part of the template.
CONTROLLER_FIELDS = ("hostname", "subdomain")


def argocd_documents() -> list[dict[str, Any]]:
    """ArgoCD's controller and server with their ServiceAccounts, annotated for a downstream cluster."""
    if not ARGOCD.is_file():
        pytest.skip(f"ArgoCD fixture missing: {ARGOCD}")
    picked = []
    for doc in load_all(ARGOCD.read_text()):
        kind, name = doc["kind"], doc["metadata"]["name"]
        if kind == "ServiceAccount" and name in {n for _, n in WORKLOADS}:
            doc["metadata"].setdefault("annotations", {}).update(DOWNSTREAM)
            picked.append(doc)
        elif (kind, name) in WORKLOADS:
            picked.append(doc)
    assert len(picked) == 4, f"expected 2 ServiceAccounts and 2 workloads in {ARGOCD}, got {len(picked)}"
    return picked


def comparable(spec: dict[str, Any]) -> dict[str, Any]:
    spec = without_api_access(spec)
    for key in CONTROLLER_FIELDS:
        spec.pop(key, None)
    return spec


def field_differences(want: Any, got: Any, path: str = "spec") -> list[str]:
    if isinstance(want, dict) and isinstance(got, dict):
        return [
            d
            for k in sorted(set(want) | set(got))
            for d in field_differences(want.get(k), got.get(k), f"{path}.{k}")
        ]
    if isinstance(want, list) and isinstance(got, list) and len(want) == len(got):
        return [
            d
            for i, (w, g) in enumerate(zip(want, got, strict=True))
            for d in field_differences(w, g, f"{path}[{i}]")
        ]
    return [] if want == got else [f"{path}: rendered {json.dumps(want)} != stored {json.dumps(got)}"]


def test_argocd_pods_equal_render_output(
    control_plane: ControlPlane, webhook: WebhookServer, namespace: str, tmp_path
):
    need_controller_manager(control_plane)
    manifest = tmp_path / "argocd.yaml"
    manifest.write_text(dump_all(argocd_documents()))
    rendered = {
        (doc["kind"], doc["metadata"]["name"]): doc
        for doc in load_all(render(str(manifest), "--output", "yaml", *webhook.settings_args).stdout)
    }
    control_plane.kubectl("apply", "-n", namespace, "-f", str(manifest))

    for kind, name in sorted(WORKLOADS):
        template = rendered[(kind, name)]["spec"]["template"]
        assert set(token_sources(template)) == {"downstream-cluster"}, f"render did not inject {kind}/{name}"

        def created(name: str = name) -> dict | None:
            selector = f"app.kubernetes.io/name={name}"
            items = control_plane.kubectl_json("get", "pods", "-n", namespace, "-l", selector)["items"]
            return items[0] if items else None

        stored = wait_for(f"a pod of {kind}/{name}", created, timeout=120)
        # The rendered template as a pod, defaulted by the same apiserver but kept away from the webhook.
        as_pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": f"rendered-{name}", "labels": {f"{PREFIX}/inject": "false"}},
            "spec": template["spec"],
        }
        defaulted = json.loads(
            control_plane.kubectl(
                "create",
                "--dry-run=server",
                "-n",
                namespace,
                "-o",
                "json",
                "-f",
                "-",
                input=json.dumps(as_pod),
            ).stdout
        )
        differences = field_differences(comparable(defaulted["spec"]), comparable(stored["spec"]))
        assert not differences, f"{kind}/{name}: the stored pod differs from `webhook render`:\n" + "\n".join(
            differences
        )
