"""Issue 13 through the live apiserver: hand-written tokens adopted, a sidecar-only token, the EKS opt-out
label, and `webhook drift` before and after a rollout."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.common import WEBHOOK_BIN, containers, serviceaccount
from tests.e2e.controlplane import ControlPlane
from tests.e2e.support import (
    PREFIX,
    deployment,
    dump_all,
    load_all,
    need_controller_manager,
    pod,
    token_sources,
    token_volumes,
    wait_for,
)
from tests.e2e.webhookserver import WebhookServer

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
SEEDS = REPO / "tests" / "core" / "fixtures" / "adoption.yaml"
ROLE = {"eks.amazonaws.com/role-arn": "arn:aws:iam::111122223333:role/e2e"}
TOKENS = "/var/run/secrets/tokens"


def create(plane: ControlPlane, namespace: str, *docs: dict) -> subprocess.CompletedProcess[str]:
    return plane.kubectl("create", "-n", namespace, "-f", "-", input=dump_all(docs))


def stored(plane: ControlPlane, namespace: str, name: str) -> dict:
    return plane.kubectl_json("get", "pod", name, "-n", namespace)


def container(pod_obj: dict, name: str) -> dict:
    return next(c for c in containers(pod_obj) if c["name"] == name)


def env_of(one: dict) -> dict[str, str]:
    return {e["name"]: e.get("value", "") for e in one.get("env") or []}


def mounts_of(one: dict) -> dict[str, dict]:
    return {m["mountPath"]: m for m in one.get("volumeMounts") or []}


def test_hand_written_token_workloads_are_admitted_without_a_duplicate(
    control_plane: ControlPlane, webhook: WebhookServer, namespace: str
):
    for doc in load_all(SEEDS.read_text()):
        doc["metadata"].pop("namespace", None)
        if doc["kind"] == "ServiceAccount":
            create(control_plane, namespace, doc)
            continue
        template = doc["spec"]["template"]
        name = doc["metadata"]["name"]
        as_pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, **template["metadata"]}}
        result = create(control_plane, namespace, {**as_pod, "spec": template["spec"]})
        assert "adopted" in result.stderr, result.stderr  # the server's warning, shown by kubectl
        got = stored(control_plane, namespace, name)
        hand_written = template["spec"]["volumes"][0]["name"]
        assert set(token_volumes(got)) == {hand_written}, "no second token volume"
        only = container(got, template["spec"]["containers"][0]["name"])
        assert [m["name"] for m in only["volumeMounts"] if m["mountPath"] == TOKENS] == [hand_written]
        assert any(value.startswith(f"{TOKENS}/") for value in env_of(only).values())


def test_two_tokens_one_scoped_to_the_sidecar_only(
    control_plane: ControlPlane, webhook: WebhookServer, namespace: str
):
    annotations = {
        f"{PREFIX}/audience": "vault",
        f"{PREFIX}/proxy.audience": "oauth2-proxy",
        f"{PREFIX}/proxy.containers": "sidecar",
    }
    create(control_plane, namespace, serviceaccount("app", annotations))
    create(control_plane, namespace, pod("p", "app"))
    got = stored(control_plane, namespace, "p")
    volumes = token_volumes(got)

    def audiences(name: str) -> list[str]:
        volume = volumes[mounts_of(container(got, name))[TOKENS]["name"]]
        return [s["serviceAccountToken"]["audience"] for s in volume["projected"]["sources"]]

    assert audiences("app") == ["vault"] and audiences("setup") == ["vault"]
    assert audiences("sidecar") == ["vault", "oauth2-proxy"]
    assert "PROXY_TOKEN_FILE" not in env_of(container(got, "app"))
    assert env_of(container(got, "sidecar"))["PROXY_TOKEN_FILE"] == f"{TOKENS}/proxy"


def test_the_eks_skip_label_keeps_a_pod_unmutated(
    control_plane: ControlPlane, webhook: WebhookServer, namespace: str
):
    create(control_plane, namespace, serviceaccount("aws", {**ROLE, f"{PREFIX}/audience": "vault"}))
    skip = {"eks.amazonaws.com/skip-pod-identity-webhook": "true"}
    create(control_plane, namespace, pod("skipped", "aws", labels=skip), pod("mutated", "aws"))
    assert token_volumes(stored(control_plane, namespace, "skipped")) == {}
    assert not any(
        k.startswith("AWS_") for k in env_of(container(stored(control_plane, namespace, "skipped"), "app"))
    )
    assert {"vault", "sts.amazonaws.com"} <= set(token_sources(stored(control_plane, namespace, "mutated")))


def _drift_kubeconfig(plane: ControlPlane, path: Path) -> Path:
    """A kubeconfig for the ServiceAccount of manifests/optional/drift-rbac.yaml: its RBAC must suffice."""
    plane.kubectl("create", "namespace", "projected-token-webhook", check=False)
    plane.kubectl("apply", "-f", str(REPO / "manifests" / "optional" / "drift-rbac.yaml"))
    token = plane.kubectl("create", "token", "projected-token-drift", "-n", "projected-token-webhook").stdout
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "e2e", "cluster": {"server": plane.url, "certificate-authority": str(plane.ca_file)}}
        ],
        "users": [{"name": "drift", "user": {"token": token.strip()}}],
        "contexts": [{"name": "e2e", "context": {"cluster": "e2e", "user": "drift"}}],
        "current-context": "e2e",
    }
    path.write_text(json.dumps(config))
    return path


def _drift(kubeconfig: Path, namespace: str) -> tuple[int, Any]:
    result = subprocess.run(
        [
            str(WEBHOOK_BIN),
            "drift",
            "--kubeconfig",
            str(kubeconfig),
            "-n",
            namespace,
            "-o",
            "json",
            "--fail-on-drift",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode in (0, 3), result.stderr
    return result.returncode, json.loads(result.stdout)["drifted"]


def test_drift_reports_a_pod_from_before_an_annotation_change_until_its_owner_is_recreated(
    control_plane: ControlPlane, webhook: WebhookServer, namespace: str, tmp_path: Path
):
    need_controller_manager(control_plane)
    kubeconfig = _drift_kubeconfig(control_plane, tmp_path / "drift.kubeconfig")
    create(control_plane, namespace, serviceaccount("web", {f"{PREFIX}/audience": "vault"}))
    web = deployment("web", "web")
    web["spec"]["strategy"] = {"type": "Recreate"}  # no kubelet: a surge pod would never become ready
    create(control_plane, namespace, web)

    def pods(expiration: int) -> list[dict] | None:
        items = control_plane.kubectl_json("get", "pods", "-n", namespace, "-l", "app=web")["items"]
        fresh = [p for p in items if token_sources(p).get("vault", {}).get("expirationSeconds") == expiration]
        return items if items and len(fresh) == len(items) else None

    wait_for("the Deployment's pod", lambda: pods(3600), timeout=90)
    assert _drift(kubeconfig, namespace) == (0, [])

    control_plane.kubectl(
        "annotate",
        "serviceaccount",
        "web",
        "-n",
        namespace,
        f"{PREFIX}/expiration-seconds=7200",
        "--overwrite",
    )
    code, drifted = _drift(kubeconfig, namespace)
    assert code == 3
    assert [(d["kind"], d["name"]) for d in drifted] == [("Deployment", "web")]
    assert drifted[0]["fix"] == f"kubectl rollout restart deployment/web -n {namespace}"
    differences = drifted[0]["pods"][0]["differences"]
    assert differences == [{"token": "token", "kind": "expiration", "detail": "3600, wanted 7200"}]

    def webhook_sees_the_change() -> bool:
        shown = control_plane.kubectl(
            "create",
            "--dry-run=server",
            "-n",
            namespace,
            "-o",
            "json",
            "-f",
            "-",
            input=json.dumps(pod("dry", "web")),
        )
        return token_sources(json.loads(shown.stdout))["vault"]["expirationSeconds"] == 7200

    wait_for("the webhook's ServiceAccount cache", webhook_sees_the_change, timeout=30)
    control_plane.kubectl("rollout", "restart", "deployment/web", "-n", namespace)
    wait_for("the re-created pod", lambda: pods(7200), timeout=90)
    assert _drift(kubeconfig, namespace) == (0, [])
