"""The trusting side, live: a second kube-apiserver (downstream) trusts the upstream's service-account tokens.

Everything the users would apply comes from `webhook ...` commands, run as the console script:
  downstream apiserver  --authentication-config from `webhook downstream authn-config` (upstream CA inside)
  downstream RBAC       `webhook downstream rbac` (its default Role in namespace demo: pods, deployments)
  upstream token        `webhook token request` (TokenRequest with the downstream audience) → a file
  kubectl               kubeconfig from `webhook kubeconfig` (exec: `webhook credential`, or bash)
  ArgoCD                the exec provider inside the `webhook argocd cluster-secret` Secret, run by client-go
  Vault-like check      `webhook token verify --issuer` through the upstream's anonymous discovery
  static hosting        `webhook oidc jwks|discovery` equal what the upstream serves
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.common import WEBHOOK_BIN
from tests.e2e.controlplane import ControlPlane
from tests.e2e.support import cli, load_all, pod, token_sources, wait_for

pytestmark = pytest.mark.e2e

AUDIENCE = "downstream-cluster"
PREFIX_USER = "upstream:"
UPSTREAM_NS = "argocd"
SA = "argocd-application-controller"
USER = f"{PREFIX_USER}system:serviceaccount:{UPSTREAM_NS}:{SA}"


@dataclass
class Federation:
    upstream: ControlPlane
    downstream: ControlPlane
    workdir: Path
    token_file: Path  # the upstream SA's token for the downstream audience, as the kubelet would write it

    def kubectl_as_upstream_sa(
        self, kubeconfig: Path, *args: str, check: bool = False
    ) -> subprocess.CompletedProcess[str]:
        argv = [
            str(self.downstream.assets.kubectl),
            f"--kubeconfig={kubeconfig}",
            "--request-timeout=20s",
            *args,
        ]
        env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
        result = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env)
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} exited {result.returncode}: {result.stderr}")
        return result


def request_token(upstream: ControlPlane, out: Path, audience: str = AUDIENCE) -> Path:
    cli(
        "token",
        "request",
        "--serviceaccount",
        f"{UPSTREAM_NS}/{SA}",
        "--audience",
        audience,
        "--duration",
        "10m",
        "--kubeconfig",
        str(upstream.admin_kubeconfig),
        "--out",
        str(out),
    )
    return out


@pytest.fixture(scope="module")
def federation(
    control_plane: ControlPlane,
    control_plane_factory: Callable[..., ControlPlane],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Federation]:
    upstream = control_plane
    workdir = tmp_path_factory.mktemp("federation")

    # Upstream: ArgoCD's ServiceAccounts, annotated as `webhook argocd annotate` says.
    upstream.kubectl("create", "namespace", UPSTREAM_NS, check=False)
    annotated = cli("argocd", "annotate", "--audience", AUDIENCE, "-n", UPSTREAM_NS).stdout
    upstream.kubectl("apply", "-f", "-", input=annotated)

    # Downstream: a second apiserver trusting the upstream issuer through structured authentication.
    authn = workdir / "authn.yaml"
    cli(
        "downstream",
        "authn-config",
        "--issuer",
        upstream.issuer,
        "--audience",
        AUDIENCE,
        "--username-prefix",
        PREFIX_USER,
        "--ca-file",
        str(upstream.ca_file),
        "--out",
        str(authn),
    )
    downstream = control_plane_factory(
        name="downstream",
        extra_apiserver_args=(f"--authentication-config={authn}",),
        controller_manager=False,
    )
    rbac = cli(
        "downstream",
        "rbac",
        "--username-prefix",
        PREFIX_USER,
        "--serviceaccount",
        f"{UPSTREAM_NS}/{SA}",
        "-n",
        "demo",
    ).stdout
    for ns in ("demo", "other"):
        downstream.kubectl("create", "namespace", ns)
        downstream.kubectl("create", "serviceaccount", "default", "-n", ns)
        downstream.kubectl(
            "create", "-n", ns, "-f", "-", input=json.dumps(pod(f"{ns}-pod", "default", init=False))
        )
    downstream.kubectl("apply", "-f", "-", input=rbac)

    token_file = request_token(upstream, workdir / "federated-token")
    yield Federation(upstream, downstream, workdir, token_file)


def webhook_kubeconfig(fed: Federation, name: str, token_file: Path, *extra: str) -> Path:
    out = fed.workdir / f"{name}.kubeconfig"
    cli(
        "kubeconfig",
        "--server",
        fed.downstream.url,
        "--ca-file",
        str(fed.downstream.ca_file),
        "--token-file",
        str(token_file),
        "--namespace",
        "demo",
        "--command",
        str(WEBHOOK_BIN),
        "--out",
        str(out),
        *extra,
    )
    return out


def list_pods_when_authenticator_ready(fed: Federation, kubeconfig: Path) -> subprocess.CompletedProcess[str]:
    """The JWT authenticator fetches the upstream's discovery in the background after start: poll briefly."""

    def attempt() -> subprocess.CompletedProcess[str] | None:
        result = fed.kubectl_as_upstream_sa(kubeconfig, "get", "pods", "-o", "name")
        return result if result.returncode == 0 else None

    return wait_for("the downstream to accept the upstream token", attempt, timeout=60, interval=1)


@pytest.mark.parametrize("form", ["webhook", "bash"])
def test_kubectl_with_webhook_kubeconfig(federation: Federation, form: str) -> None:
    kubeconfig = webhook_kubeconfig(federation, f"sa-{form}", federation.token_file, "--exec", form)
    listed = list_pods_when_authenticator_ready(federation, kubeconfig)
    assert listed.stdout.split() == ["pod/demo-pod"]

    whoami = federation.kubectl_as_upstream_sa(kubeconfig, "auth", "whoami", "-o", "json", check=True)
    assert json.loads(whoami.stdout)["status"]["userInfo"]["username"] == USER

    elsewhere = federation.kubectl_as_upstream_sa(kubeconfig, "get", "pods", "-n", "other")
    assert elsewhere.returncode != 0
    assert f'User "{USER}" cannot list resource "pods"' in elsewhere.stderr
    assert 'in the namespace "other"' in elsewhere.stderr

    # The default Role also manages deployments, but not secrets.
    can = federation.kubectl_as_upstream_sa(kubeconfig, "auth", "can-i", "create", "deployments.apps")
    assert can.stdout.strip() == "yes"
    cannot = federation.kubectl_as_upstream_sa(kubeconfig, "auth", "can-i", "get", "secrets")
    assert cannot.stdout.strip() == "no"


def test_wrong_audience_is_rejected(federation: Federation) -> None:
    list_pods_when_authenticator_ready(
        federation, webhook_kubeconfig(federation, "ok", federation.token_file)
    )
    wrong = request_token(federation.upstream, federation.workdir / "wrong-audience-token", audience="vault")
    result = federation.kubectl_as_upstream_sa(
        webhook_kubeconfig(federation, "wrong", wrong), "get", "pods", "-o", "name"
    )
    assert result.returncode != 0
    assert "Unauthorized" in result.stderr or "must be logged in" in result.stderr, result.stderr


def exec_kubeconfig_from_cluster_secret(fed: Federation, secret: dict[str, Any]) -> Path:
    """What ArgoCD does with a cluster Secret: server, caData, execProviderConfig → client-go config."""
    config = json.loads(secret["stringData"]["config"])
    provider = config["execProviderConfig"]
    kubeconfig = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "c",
                "cluster": {
                    "server": secret["stringData"]["server"],
                    "certificate-authority-data": config["tlsClientConfig"]["caData"],
                },
            }
        ],
        "users": [
            {
                "name": "u",
                "user": {
                    "exec": {
                        "apiVersion": provider["apiVersion"],
                        "command": provider["command"],
                        "args": provider["args"],
                        "interactiveMode": "Never",
                    }
                },
            }
        ],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u", "namespace": "demo"}}],
        "current-context": "c",
    }
    path = fed.workdir / "argocd.kubeconfig"
    path.write_text(json.dumps(kubeconfig))
    return path


def test_argocd_cluster_secret_exec_is_accepted(federation: Federation) -> None:
    out = cli(
        "argocd",
        "cluster-secret",
        "--name",
        "downstream",
        "--server",
        federation.downstream.url,
        "--ca-file",
        str(federation.downstream.ca_file),
        "--token-file",
        str(federation.token_file),
    ).stdout
    [secret] = load_all(out)
    # Server-side validation of the Secret itself (dry run on the upstream, where ArgoCD would live).
    federation.upstream.kubectl("create", "--dry-run=server", "-n", UPSTREAM_NS, "-f", "-", input=out)

    # The exec command run directly, as client-go runs it: argv, no shell, its stdout parsed as JSON.
    provider = json.loads(secret["stringData"]["config"])["execProviderConfig"]
    done = subprocess.run(
        [provider["command"], *provider["args"]], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    credential = json.loads(done.stdout)
    assert credential["kind"] == "ExecCredential"
    assert credential["status"]["token"] == federation.token_file.read_text().strip()

    # And through client-go (kubectl), with the Secret's own server, caData and exec provider.
    kubeconfig = exec_kubeconfig_from_cluster_secret(federation, secret)
    listed = list_pods_when_authenticator_ready(federation, kubeconfig)
    assert listed.stdout.split() == ["pod/demo-pod"]


def test_token_verify_through_upstream_discovery(federation: Federation) -> None:
    up = federation.upstream
    base = ["token", "verify", "-", "--issuer", up.issuer, "--ca-file", str(up.ca_file)]
    token = federation.token_file.read_text()
    ok = cli(*base, "--audience", AUDIENCE, input=token)
    claims = json.loads(ok.stdout)
    assert claims["sub"] == f"system:serviceaccount:{UPSTREAM_NS}:{SA}" and claims["iss"] == up.issuer
    assert "valid (signature, exp, nbf, iss, aud checked)" in ok.stderr

    wrong = cli(*base, "--audience", "vault", input=token, check=False)
    assert wrong.returncode == 1 and "invalid token: Audience doesn't match" in wrong.stderr

    other_issuer = cli(
        "token",
        "verify",
        "-",
        "--issuer",
        federation.downstream.issuer,
        "--ca-file",
        str(federation.downstream.ca_file),
        input=token,
        check=False,
    )
    assert other_issuer.returncode == 1 and "no key with kid" in other_issuer.stderr


def test_oidc_documents_equal_what_the_upstream_serves(federation: Federation) -> None:
    up = federation.upstream
    served_jwks = up.get("/openid/v1/jwks", admin=False)  # anonymous, as a relying party fetches it
    ours = json.loads(cli("oidc", "jwks", "--public-key", str(up.sa_public_key_file)).stdout)
    assert ours == served_jwks
    # The private key file gives the same set (public part only).
    assert json.loads(cli("oidc", "jwks", "--public-key", str(up.sa_private_key_file)).stdout) == served_jwks

    served_discovery = up.get("/.well-known/openid-configuration", admin=False)
    discovery = cli("oidc", "discovery", "--issuer", up.issuer, "--public-key", str(up.sa_public_key_file))
    assert json.loads(discovery.stdout) == served_discovery


def test_annotations_give_argocd_pods_the_federated_token(federation: Federation, webhook: Any) -> None:
    """`webhook argocd annotate` on the ServiceAccount: the webhook adds the token `argocd patches` would."""
    manifest = json.dumps(pod("argocd-application-controller-0", SA, init=False))
    created = json.loads(
        federation.upstream.kubectl(
            "create", "--dry-run=server", "-n", UPSTREAM_NS, "-o", "json", "-f", "-", input=manifest
        ).stdout
    )
    assert token_sources(created)[AUDIENCE]["path"] == "federated-token"
    for container in created["spec"]["containers"]:
        assert "/var/run/secrets/tokens" in {m["mountPath"] for m in container["volumeMounts"]}
        env = {e["name"]: e.get("value") for e in container.get("env", [])}
        assert env["DOWNSTREAM_TOKEN_FILE"] == "/var/run/secrets/tokens/federated-token"


def test_token_request_outputs_and_errors(federation: Federation) -> None:
    up = federation.upstream
    base = ["token", "request", "--audience", "vault", "--kubeconfig", str(up.admin_kubeconfig)]
    credential = json.loads(
        cli(*base, "--serviceaccount", f"{UPSTREAM_NS}/{SA}", "--output", "credential").stdout
    )
    claims = json.loads(cli("token", "inspect", "--json", credential["status"]["token"]).stdout)["claims"]
    assert claims["aud"] == ["vault"] and claims["exp"] - claims["iat"] == 3600
    assert credential["status"]["expirationTimestamp"].endswith("Z")

    missing = cli(*base, "--serviceaccount", f"{UPSTREAM_NS}/nobody", check=False)
    assert missing.returncode == 1
    assert missing.stderr.strip() == (
        f'Error: TokenRequest for {UPSTREAM_NS}/nobody failed: HTTP 404: serviceaccounts "nobody" not found'
    )


def test_legacy_oidc_flags_are_accepted_by_a_real_apiserver(
    federation: Federation, control_plane_factory: Callable[..., ControlPlane]
) -> None:
    """`--format oidc-flags` (the legacy --oidc-* flags) on a third apiserver: same user, same RBAC."""
    up = federation.upstream
    flags = cli(
        "downstream",
        "authn-config",
        "--issuer",
        up.issuer,
        "--audience",
        AUDIENCE,
        "--username-prefix",
        PREFIX_USER,
        "--ca-file",
        str(up.ca_file),
        "--format",
        "oidc-flags",
    ).stdout
    legacy = control_plane_factory(
        name="legacy", extra_apiserver_args=tuple(shlex.split(flags)), controller_manager=False
    )
    try:
        rbac = cli(
            "downstream",
            "rbac",
            "--username-prefix",
            PREFIX_USER,
            "--serviceaccount",
            f"{UPSTREAM_NS}/{SA}",
            "-n",
            "demo",
        ).stdout
        legacy.kubectl("create", "namespace", "demo")
        legacy.kubectl("apply", "-f", "-", input=rbac)
        out = federation.workdir / "legacy.kubeconfig"
        cli(
            "kubeconfig",
            "--server",
            legacy.url,
            "--ca-file",
            str(legacy.ca_file),
            "--token-file",
            str(federation.token_file),
            "-n",
            "demo",
            "--command",
            str(WEBHOOK_BIN),
            "--out",
            str(out),
        )
        whoami = wait_for(
            "the legacy OIDC authenticator",
            lambda: (
                (r := federation.kubectl_as_upstream_sa(out, "auth", "whoami", "-o", "json")).returncode == 0
                and r
            ),
            timeout=60,
            interval=1,
        )
        assert json.loads(whoami.stdout)["status"]["userInfo"]["username"] == USER
        assert federation.kubectl_as_upstream_sa(out, "auth", "can-i", "list", "pods").stdout.strip() == "yes"
    finally:
        legacy.stop()
