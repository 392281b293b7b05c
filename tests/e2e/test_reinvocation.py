"""Reinvocation: another mutating webhook, called after ours, adds a container; ours runs again for it."""

from __future__ import annotations

import base64
import json
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.common import containers, env_of, mounts_of, serviceaccount
from tests.e2e.controlplane import ControlPlane
from tests.e2e.support import PREFIX, dump_all, pod, token_volumes, wait_for
from tests.e2e.webhookserver import WebhookServer
from webhook.certs import write_bundle

pytestmark = pytest.mark.e2e
LABEL = "e2e-add-container"
# Configurations run in name order: this one sorts after the project's "projected-token-webhook".
CONFIG_NAME = "zz-e2e-add-container"


class AddContainer(BaseHTTPRequestHandler):
    """A minimal mutating webhook: adds a container named `late` unless it is there."""

    calls: list[str]

    def do_POST(self) -> None:
        review = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        request = review["request"]
        names = [c["name"] for c in request["object"]["spec"]["containers"]]
        self.server.calls.append(request["uid"])  # type: ignore[attr-defined]
        response = {"uid": request["uid"], "allowed": True}
        if "late" not in names:
            patch = [
                {"op": "add", "path": "/spec/containers/-", "value": {"name": "late", "image": "late:1"}}
            ]
            response |= {
                "patchType": "JSONPatch",
                "patch": base64.b64encode(json.dumps(patch).encode()).decode(),
            }
        body = json.dumps(
            {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response}
        )
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def add_container_webhook(control_plane: ControlPlane, tmp_path: Path) -> Iterator[ThreadingHTTPServer]:
    certs = write_bundle(tmp_path / "certs", service="add-container", ip_addresses=["127.0.0.1"])
    server = ThreadingHTTPServer(("127.0.0.1", 0), AddContainer)
    server.calls = []  # type: ignore[attr-defined]
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certs.cert, certs.key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    config = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingWebhookConfiguration",
        "metadata": {"name": CONFIG_NAME},
        "webhooks": [
            {
                "name": "add-container.e2e.invalid",
                "admissionReviewVersions": ["v1"],
                "sideEffects": "None",
                "failurePolicy": "Fail",
                "reinvocationPolicy": "Never",
                "clientConfig": {
                    "url": f"https://127.0.0.1:{server.server_address[1]}/",
                    "caBundle": base64.b64encode(certs.ca_cert.read_bytes()).decode(),
                },
                "rules": [
                    {
                        "operations": ["CREATE"],
                        "apiGroups": [""],
                        "apiVersions": ["v1"],
                        "resources": ["pods"],
                    }
                ],
                "objectSelector": {"matchLabels": {LABEL: "true"}},
            }
        ],
    }
    control_plane.kubectl("apply", "-f", "-", input=json.dumps(config))
    try:
        yield server
    finally:
        control_plane.kubectl("delete", "mutatingwebhookconfiguration", CONFIG_NAME, "--ignore-not-found")
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("policy", ["IfNeeded", "Never"])
def test_container_added_later_gets_the_mount_once(
    control_plane: ControlPlane, webhook: WebhookServer, add_container_webhook, namespace: str, policy: str
):
    """The manifest's IfNeeded is what makes the late container get its mount (Never shows the difference)."""
    if policy != webhook.registration()["webhooks"][0].get("reinvocationPolicy"):
        webhook.register(reinvocationPolicy=policy)
    control_plane.kubectl(
        "create",
        "-n",
        namespace,
        "-f",
        "-",
        input=dump_all([serviceaccount("app", {f"{PREFIX}/audience": "vault"})]),
    )
    manifest = json.dumps(pod("p", "app", labels={LABEL: "true"}))

    def configuration_active() -> bool:
        # New configurations take a moment to reach the apiserver's webhook cache: probe with dry runs.
        result = control_plane.kubectl(
            "create", "--dry-run=server", "-o", "json", "-n", namespace, "-f", "-", input=manifest
        )
        created = json.loads(result.stdout)
        late = [c for c in created["spec"]["containers"] if c["name"] == "late"]
        return bool(late) and ("TOKEN_FILE" in dict(env_of(created, "late"))) == (policy == "IfNeeded")

    wait_for("both configurations to take effect", configuration_active, timeout=30, interval=0.5)
    control_plane.kubectl("create", "-n", namespace, "-f", "-", input=manifest)
    stored = control_plane.kubectl_json("get", "pod", "p", "-n", namespace)
    names = [c["name"] for c in stored["spec"]["containers"]]
    assert names == ["app", "sidecar", "late"], names
    [(volume_name, _)] = token_volumes(stored).items()
    for container in containers(stored):
        if container["name"] == "late" and policy == "Never":
            continue
        mounts = [m for m in container.get("volumeMounts") or [] if m["name"] == volume_name]
        assert len(mounts) == 1, f"{container['name']}: {container.get('volumeMounts')}"
        mount_paths = {m["mountPath"]: m for m in mounts_of(stored, container["name"])}
        assert mount_paths["/var/run/secrets/tokens"]["readOnly"] is True
        token_env = [e for e in container.get("env") or [] if e["name"] == "TOKEN_FILE"]
        assert token_env == [{"name": "TOKEN_FILE", "value": "/var/run/secrets/tokens/token"}], container[
            "name"
        ]
    late = stored["spec"]["containers"][2]
    if policy == "Never":
        # Only the ServiceAccount plugin (re-run too once a webhook changed the pod) mounted its volume.
        assert [m["mountPath"] for m in mounts_of(stored, "late")] == [
            "/var/run/secrets/kubernetes.io/serviceaccount"
        ], json.dumps(late)
        assert "env" not in late, json.dumps(late)
        return
    assert env_of(stored, "late") == [("TOKEN_FILE", "/var/run/secrets/tokens/token")]
