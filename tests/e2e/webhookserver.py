"""A real `webhook serve` on 127.0.0.1, registered through the project's own MutatingWebhookConfiguration."""

from __future__ import annotations

import base64
import copy
import json
import os
import signal
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from tests.common import REPO, WEBHOOK_BIN
from tests.e2e.controlplane import ControlPlane, Process, free_port, spawn, tail
from webhook.certs import write_bundle

MANIFESTS_BASE = REPO / "manifests" / "base"


def load_manifests(plane: ControlPlane, base: Path = MANIFESTS_BASE) -> list[dict[str, Any]]:
    """The install exactly as `kubectl kustomize manifests/base` renders it."""
    if not (base / "kustomization.yaml").is_file():
        raise FileNotFoundError(f"{base}/kustomization.yaml missing: the manifests are not there yet")
    rendered = plane.kubectl("kustomize", str(base)).stdout
    return [doc for doc in YAML(typ="safe").load_all(rendered) if isinstance(doc, dict)]


def only(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = [doc for doc in docs if doc.get("kind") == kind]
    if len(found) != 1:
        raise ValueError(f"expected one {kind} in {MANIFESTS_BASE}, found {len(found)}")
    return found[0]


def point_at(config: dict[str, Any], url: str, ca_pem: bytes) -> dict[str, Any]:
    """The same configuration with every webhook's clientConfig rewritten to a URL and our CA."""
    config = copy.deepcopy(config)
    bundle = base64.b64encode(ca_pem).decode()
    for hook in config.get("webhooks", []):
        hook["clientConfig"] = {"url": url, "caBundle": bundle}
    config.get("metadata", {}).pop("annotations", None)  # cert-manager's CA injector is not here
    return config


@dataclass
class WebhookServer:
    """One `webhook serve` subprocess plus its registration in the control plane."""

    plane: ControlPlane
    workdir: Path
    extra_args: Sequence[str] = ()
    # Settings flags shared by `webhook serve` and `webhook render` in the tests.
    settings_args: tuple[str, ...] = ("--dialects", "generic,eks")
    port: int = field(default_factory=free_port)
    process: Process | None = None
    manifests: list[dict[str, Any]] | None = None
    kubeconfig: Path | None = None
    applied: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.certs = write_bundle(self.workdir / "certs", extra_dns=["localhost"], ip_addresses=["127.0.0.1"])

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def name(self) -> str:
        return self.registration()["metadata"]["name"]

    @property
    def log(self) -> Path:
        return self.workdir / "webhook.log"

    def argv(self) -> list[str]:
        return [
            str(WEBHOOK_BIN),
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--tls-cert",
            str(self.certs.cert),
            "--tls-key",
            str(self.certs.key),
            "--kubeconfig",
            str(self.plane.admin_kubeconfig),
            *self.settings_args,
            *self.extra_args,
        ]

    def install_identity(self) -> Path:
        """Apply the manifests' Namespace, ServiceAccount and RBAC; return a kubeconfig with its token.

        So the server runs with exactly the permissions the install grants it, not as the admin.
        """
        docs = self.load()
        kinds = ("Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding")
        identity = {"apiVersion": "v1", "kind": "List", "items": [d for d in docs if d["kind"] in kinds]}
        self.plane.kubectl("apply", "-f", "-", input=json.dumps(identity))
        account = only(docs, "ServiceAccount")["metadata"]
        token = self.plane.kubectl(
            "create", "token", account["name"], "-n", account["namespace"], "--duration=6h"
        ).stdout.strip()
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "e2e",
                    "cluster": {"server": self.plane.url, "certificate-authority": str(self.plane.ca_file)},
                }
            ],
            "users": [{"name": "webhook", "user": {"token": token}}],
            "contexts": [{"name": "e2e", "context": {"cluster": "e2e", "user": "webhook"}}],
            "current-context": "e2e",
        }
        self.kubeconfig = self.workdir / "webhook.kubeconfig"
        self.kubeconfig.write_text(json.dumps(config))
        self.kubeconfig.chmod(0o600)
        as_webhook = [str(self.plane.assets.kubectl), f"--kubeconfig={self.kubeconfig}"]
        whoami = json.loads(subprocess.check_output([*as_webhook, "auth", "whoami", "-o", "json"], text=True))
        expected = f"system:serviceaccount:{account['namespace']}:{account['name']}"
        assert whoami["status"]["userInfo"]["username"] == expected, whoami
        return self.kubeconfig

    def load(self) -> list[dict[str, Any]]:
        if self.manifests is None:
            self.manifests = load_manifests(self.plane)
        return self.manifests

    def start(self, timeout: float = 60) -> None:
        if self.process and self.process.alive():
            return
        if self.kubeconfig is None:
            self.install_identity()
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.process = spawn("webhook", self.argv(), self.log, env=env)
        deadline = time.monotonic() + timeout
        context = ssl.create_default_context(cafile=str(self.certs.ca_cert))
        while time.monotonic() < deadline:
            if not self.process.alive():
                raise RuntimeError(
                    f"webhook serve exited with {self.process.popen.returncode}:\n{tail(self.log)}"
                )
            try:
                with urllib.request.urlopen(self.url + "/readyz", context=context, timeout=2) as response:
                    if response.status == 200:
                        return
            except (OSError, urllib.error.URLError) as exc:
                if isinstance(exc, urllib.error.HTTPError):
                    exc.close()  # its body holds the connection
            time.sleep(0.2)
        raise RuntimeError(f"webhook serve not ready after {timeout:.0f}s:\n{tail(self.log)}")

    def signal(self, signum: int = signal.SIGTERM) -> None:
        if self.process and self.process.alive():
            self.process.popen.send_signal(signum)

    def stop(self) -> None:
        if self.process:
            self.process.stop()

    def alive(self) -> bool:
        return bool(self.process and self.process.alive())

    def registration(self, **overrides: Any) -> dict[str, Any]:
        """The manifest's configuration pointed at this server; overrides apply to every webhook entry."""
        manifest = only(self.load(), "MutatingWebhookConfiguration")
        config = point_at(manifest, self.url + "/mutate", self.certs.ca_cert.read_bytes())
        for hook in config["webhooks"]:
            hook.update(copy.deepcopy(overrides))
        return config

    def register(self, **overrides: Any) -> dict[str, Any]:
        config = self.registration(**overrides)
        self.plane.kubectl("apply", "--server-side", "--force-conflicts", "-f", "-", input=json.dumps(config))
        self.applied = config
        return config

    def unregister(self) -> None:
        self.plane.kubectl("delete", "mutatingwebhookconfiguration", self.name, "--ignore-not-found")
        self.applied = None

    def diagnostics(self, lines: int = 40) -> str:
        return f"--- webhook serve ({self.log}), last {lines} lines ---\n{tail(self.log, lines)}"
