"""Issue 15 live: two trusted issuers on one downstream apiserver, the JWKS lifecycle, TokenReview.

second upstream     a signing key of our own, its discovery documents (`webhook oidc discovery|jwks`)
                    served from a loopback HTTPS server, tokens minted with PyJWT
downstream          a kube-apiserver whose AuthenticationConfiguration is one
                    `webhook downstream authn-config --issuer A ... --issuer B ...`
hosting             a loopback HTTPS "bucket" holding `webhook oidc discovery` + `oidc jwks --from-cluster`
rotation            the bucket still holding the JWKS of the key before a rotation (a key the cluster no
                    longer signs with): `oidc check` fails naming the kid; the merged JWKS fixes it
"""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import threading
import time
import urllib.error
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.common import WEBHOOK_BIN
from tests.e2e.controlplane import ControlPlane
from tests.e2e.support import cli, wait_for
from webhook.certs import generate_ca, generate_serving, pem_cert, pem_key
from webhook.federation.oidc import key_id

pytestmark = pytest.mark.e2e

AUDIENCE = "downstream-cluster"
UPSTREAM_NS = "lifecycle"
SA = "deployer"
SA_USER = f"system:serviceaccount:{UPSTREAM_NS}:{SA}"


class StaticHTTPS:
    """A static-hosting HTTPS server on 127.0.0.1 (its own CA) serving whatever `documents` holds."""

    def __init__(self, folder: Path) -> None:
        ca_key, ca_cert = generate_ca("lifecycle-hosting-ca")
        key, cert = generate_serving(ca_key, ca_cert, ["localhost"], ["127.0.0.1"], 1)
        self.ca_file = folder / "hosting-ca.crt"
        self.ca_file.write_bytes(pem_cert(ca_cert))
        (folder / "tls.crt").write_bytes(pem_cert(cert))
        (folder / "tls.key").write_bytes(pem_key(key))
        self.documents: dict[str, bytes] = {}
        documents = self.documents

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = documents.get(self.path)
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(folder / "tls.crt", folder / "tls.key")
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.base = f"https://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def put(self, path: str, text: str) -> str:
        self.documents[path] = text.encode()
        return self.base + path

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def write_key(path: Path, key: rsa.RSAPrivateKey) -> Path:
    path.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return path


def mint(key: rsa.RSAPrivateKey, issuer: str, sub: str = SA_USER, audience: str = AUDIENCE) -> str:
    """A token as another issuer's kube-apiserver would sign it (kid as kube-apiserver computes it)."""
    now = int(time.time())
    claims = {"iss": issuer, "sub": sub, "aud": [audience], "iat": now, "nbf": now, "exp": now + 600}
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": key_id(key.public_key())})


@dataclass
class Lifecycle:
    upstream: ControlPlane
    downstream: ControlPlane
    hosting: StaticHTTPS
    second_issuer: str
    second_key: rsa.RSAPrivateKey
    workdir: Path
    upstream_token: str

    def whoami(self, name: str, token: str) -> subprocess.CompletedProcess[str]:
        token_file = self.workdir / f"{name}.token"
        token_file.write_text(token)
        kubeconfig = self.workdir / f"{name}.kubeconfig"
        cli(
            "kubeconfig", "--server", self.downstream.url, "--ca-file", str(self.downstream.ca_file),
            "--token-file", str(token_file), "--command", str(WEBHOOK_BIN), "--out", str(kubeconfig),
        )  # fmt: skip
        env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
        return subprocess.run(
            [str(self.downstream.assets.kubectl), f"--kubeconfig={kubeconfig}", "--request-timeout=20s",
             "auth", "whoami", "-o", "json"],
            capture_output=True, text=True, timeout=60, env=env,
        )  # fmt: skip


@pytest.fixture(scope="module")
def lifecycle(
    control_plane: ControlPlane,
    control_plane_factory: Callable[..., ControlPlane],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Lifecycle]:
    workdir = tmp_path_factory.mktemp("lifecycle")
    upstream = control_plane
    upstream.kubectl("create", "namespace", UPSTREAM_NS, check=False)
    upstream.kubectl("create", "serviceaccount", SA, "-n", UPSTREAM_NS, check=False)
    token = cli(
        "token", "request", "--serviceaccount", f"{UPSTREAM_NS}/{SA}", "--audience", AUDIENCE,
        "--duration", "10m", "--kubeconfig", str(upstream.admin_kubeconfig),
    ).stdout.strip()  # fmt: skip

    # The second upstream: its own key and issuer, documents generated by us, served over HTTPS.
    hosting = StaticHTTPS(workdir)
    second_issuer = hosting.base + "/second"
    second_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    second_pub = write_key(workdir / "second.pub", second_key)
    hosting.put(
        "/second/.well-known/openid-configuration",
        cli("oidc", "discovery", "--issuer", second_issuer, "--public-key", str(second_pub)).stdout,
    )
    hosting.put("/second/openid/v1/jwks", cli("oidc", "jwks", "--public-key", str(second_pub)).stdout)

    authn = workdir / "authn.yaml"
    cli(
        "downstream", "authn-config",
        "--issuer", upstream.issuer, "--audience", AUDIENCE, "--username-prefix", "first:",
        "--ca-file", str(upstream.ca_file),
        "--issuer", second_issuer, "--audience", AUDIENCE, "--username-prefix", "second:",
        "--ca-file", str(hosting.ca_file),
        "--out", str(authn),
    )  # fmt: skip
    downstream = control_plane_factory(
        name="two-issuers",
        extra_apiserver_args=(f"--authentication-config={authn}",),
        controller_manager=False,
    )
    try:
        yield Lifecycle(upstream, downstream, hosting, second_issuer, second_key, workdir, token)
    finally:
        downstream.stop()
        hosting.close()


def test_two_issuer_downstream_accepts_tokens_of_both_upstreams(lifecycle: Lifecycle) -> None:
    def username(name: str, token: str) -> str | None:
        result = lifecycle.whoami(name, token)
        return json.loads(result.stdout)["status"]["userInfo"]["username"] if result.returncode == 0 else None

    first = wait_for("the first issuer's token", lambda: username("first", lifecycle.upstream_token), 60, 1)
    assert first == f"first:{SA_USER}"
    second_token = mint(lifecycle.second_key, lifecycle.second_issuer)
    second = wait_for("the second issuer's token", lambda: username("second", second_token), 60, 1)
    assert second == f"second:{SA_USER}"
    # A token of the second key claiming the first issuer is refused: each issuer keeps its own keys.
    forged = lifecycle.whoami("forged", mint(lifecycle.second_key, lifecycle.upstream.issuer))
    assert forged.returncode != 0
    assert "Unauthorized" in forged.stderr or "must be logged in" in forged.stderr, forged.stderr


def test_jwks_from_cluster_equals_what_the_cluster_serves(lifecycle: Lifecycle) -> None:
    up = lifecycle.upstream
    result = cli("oidc", "jwks", "--from-cluster", "--kubeconfig", str(up.admin_kubeconfig))
    assert json.loads(result.stdout) == up.get("/openid/v1/jwks", admin=False)
    assert f"note: the cluster's issuer is '{up.issuer}'; its discovery names jwks_uri " in result.stderr


def test_token_review(lifecycle: Lifecycle) -> None:
    kc = ("--kubeconfig", str(lifecycle.upstream.admin_kubeconfig))
    ok = cli("token", "review", "-", "--audience", AUDIENCE, *kc, input=lifecycle.upstream_token)
    lines = ok.stdout.splitlines()
    assert lines[0] == f"user: {SA_USER}"
    assert (
        lines[2]
        == f"groups: system:serviceaccounts, system:serviceaccounts:{UPSTREAM_NS}, system:authenticated"
    )
    assert lines[3] == f"audiences: {AUDIENCE}"
    as_json = json.loads(
        cli("token", "review", lifecycle.upstream_token, "-o", "json", "--audience", AUDIENCE, *kc).stdout
    )
    assert as_json["authenticated"] is True and as_json["user"]["username"] == SA_USER

    wrong = cli("token", "review", lifecycle.upstream_token, "--audience", "vault", *kc, check=False)
    assert wrong.returncode == 1
    assert wrong.stderr.startswith("Error: not authenticated: "), wrong.stderr
    other = cli("token", "review", mint(lifecycle.second_key, lifecycle.second_issuer), *kc, check=False)
    assert other.returncode == 1 and other.stderr.startswith("Error: not authenticated: ")


def test_oidc_check_and_a_rotation(lifecycle: Lifecycle) -> None:
    up, hosting = lifecycle.upstream, lifecycle.hosting
    jwks_uri = hosting.base + "/bucket/openid/v1/jwks"
    hosting.put(
        "/bucket/.well-known/openid-configuration",
        cli("oidc", "discovery", "--issuer", up.issuer, "--jwks-uri", jwks_uri,
            "--public-key", str(up.sa_public_key_file)).stdout,
    )  # fmt: skip
    hosting.put(
        "/bucket/openid/v1/jwks",
        cli("oidc", "jwks", "--from-cluster", "--kubeconfig", str(up.admin_kubeconfig)).stdout,
    )
    check = (
        "oidc", "check", "--issuer", up.issuer,
        "--discovery-url", hosting.base + "/bucket/.well-known/openid-configuration",
        "--jwks-uri", jwks_uri, "--ca-file", str(hosting.ca_file), "--kubeconfig", str(up.admin_kubeconfig),
    )  # fmt: skip
    passed = cli(*check)
    assert passed.stdout == ""
    assert passed.stderr == "note: the hosted documents match the cluster's (issuer, jwks_uri, 1 key(s))\n"

    # After a rotation the bucket still holds the old key's JWKS; the cluster signs with a key it lacks.
    old_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    stale = cli("oidc", "jwks", "--public-key", str(write_key(lifecycle.workdir / "old.pub", old_key))).stdout
    hosting.put("/bucket/openid/v1/jwks", stale)
    failed = cli(*check, check=False)
    kid = key_id(serialization.load_pem_public_key(up.sa_public_key_file.read_bytes()))  # type: ignore[arg-type]
    assert failed.returncode == 1
    assert (
        failed.stdout
        == f"difference: missing kid '{kid}': the cluster signs with it, the hosted JWKS lacks it\n"
    )
    assert failed.stderr == "Error: 1 difference(s) between the hosted documents and the cluster's\n"
    wrong_uri = cli(*check[:-6], "--ca-file", str(hosting.ca_file), "--kubeconfig", str(up.admin_kubeconfig),
                    check=False)  # fmt: skip
    assert "difference: wrong jwks_uri: the hosted discovery names " in wrong_uri.stdout

    # The overlap: the cluster's keys and the old ones, by kid. The check passes and either key verifies.
    stale_file = lifecycle.workdir / "stale.json"
    stale_file.write_text(stale)
    merged = cli(
        "oidc", "jwks", "--from-cluster", "--kubeconfig", str(up.admin_kubeconfig), "--merge", str(stale_file)
    ).stdout
    assert [k["kid"] for k in json.loads(merged)["keys"]] == [kid, key_id(old_key.public_key())]
    hosting.put("/bucket/openid/v1/jwks", merged)
    cli(*check)
    verify = (
        "token",
        "verify",
        "-",
        "--jwks",
        jwks_uri,
        "--ca-file",
        str(hosting.ca_file),
        "--audience",
        AUDIENCE,
    )
    assert json.loads(cli(*verify, input=lifecycle.upstream_token).stdout)["sub"] == SA_USER
    assert json.loads(cli(*verify, input=mint(old_key, up.issuer)).stdout)["iss"] == up.issuer
    # What relying parties saw before the merge was hosted:
    hosting.put("/bucket/openid/v1/jwks", stale)
    stale_only = cli(*verify, input=lifecycle.upstream_token, check=False)
    assert stale_only.returncode == 1 and "no key with kid" in stale_only.stderr


def test_discovery_rbac_opens_the_discovery_documents_to_anonymous_readers(lifecycle: Lifecycle) -> None:
    down = lifecycle.downstream  # this module's own apiserver: its RBAC may change

    def anonymous_status() -> int:
        try:
            down.get("/openid/v1/jwks", admin=False)
        except urllib.error.HTTPError as exc:
            exc.close()  # its body holds the connection
            return exc.code
        return 200

    down.kubectl("delete", "clusterrolebinding", "e2e-service-account-issuer-discovery")
    assert wait_for("anonymous reads to be refused", lambda: anonymous_status() in (401, 403), 30, 0.5)
    down.kubectl("apply", "-f", "-", input=cli("oidc", "discovery-rbac").stdout)
    assert wait_for("anonymous reads to be allowed", lambda: anonymous_status() == 200, 30, 0.5)
    got = down.kubectl_json("get", "clusterrolebinding", "oidc-reviewer")
    assert got["roleRef"]["name"] == "system:service-account-issuer-discovery"
    assert got["subjects"] == [
        {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:unauthenticated"}
    ]


def test_greenhouse_onboarding_secret_is_accepted_by_the_apiserver(lifecycle: Lifecycle) -> None:
    secret = cli(
        "greenhouse", "onboarding-secret", "--cluster", "remote", "-n", "default",
        "--api-server-url", lifecycle.downstream.url, "--ca-file", str(lifecycle.downstream.ca_file),
    ).stdout  # fmt: skip
    created = json.loads(
        lifecycle.upstream.kubectl("create", "--dry-run=server", "-o", "json", "-f", "-", input=secret).stdout
    )
    assert created["type"] == "greenhouse.sap/oidc"
