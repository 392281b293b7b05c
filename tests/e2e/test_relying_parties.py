"""Live journeys against real relying parties configured only with what `webhook vault|oauth2-proxy` generate.

Vault                   `webhook vault config` and `webhook vault role` output run as shell (the vault
                        CLI) or sent to the HTTP API; logins with TokenRequest tokens from the e2e apiserver
OAuth2-Proxy            `webhook oauth2-proxy` flags / config file in front of a loopback upstream
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.common import WEBHOOK_BIN
from tests.e2e.controlplane import ControlPlane
from tests.e2e.relyingparties import EchoUpstream, OAuth2Proxy, Vault, find_binary
from tests.e2e.support import skip_or_fail

pytestmark = pytest.mark.e2e

VAULT_AUDIENCE = "vault"
PROXY_AUDIENCE = "sample"


def cli(*args: str) -> str:
    result = subprocess.run(
        [str(WEBHOOK_BIN), *args], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, f"webhook {' '.join(args)} exited {result.returncode}: {result.stderr}"
    return result.stdout


def binary(name: str) -> Path:
    found, reason = find_binary(name)
    if found is None:
        skip_or_fail(reason)
    return found  # type: ignore[return-value]


@pytest.fixture(scope="module")
def serviceaccounts(control_plane: ControlPlane) -> Iterator[str]:
    """A namespace with the bound ServiceAccount `app` and an unrelated `other`."""
    namespace = "e2e-relying-parties"
    control_plane.kubectl("create", "namespace", namespace)
    for name in ("app", "other"):
        control_plane.kubectl("create", "serviceaccount", name, "-n", namespace)
    yield namespace
    control_plane.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


def request_token(plane: ControlPlane, namespace: str, name: str, audience: str) -> str:
    """A TokenRequest through the e2e apiserver, as the kubelet makes for a pod's projected volume."""
    return cli(
        "token", "request", "--serviceaccount", f"{namespace}/{name}", "--audience", audience,
        "--duration", "10m", "--kubeconfig", str(plane.admin_kubeconfig),
    ).strip()  # fmt: skip


# --- Vault ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def vault(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Vault]:
    # Not buildable from the Go module proxy (hack/relying-parties.sh says why): runs with a binary of yours.
    given = os.environ.get("VAULT_BIN")
    if not given:
        pytest.skip("Vault is not buildable from Go modules here (hack/relying-parties.sh): set VAULT_BIN")
    server = Vault.start(Path(given), tmp_path_factory.mktemp("vault"))
    try:
        yield server
    finally:
        server.stop()


def run_shell(script: str, env: dict[str, str]) -> None:
    result = subprocess.run(
        ["bash", "-euo", "pipefail"], input=script, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, (
        f"script failed ({result.returncode}):\n{script}\n{result.stderr}{result.stdout}"
    )


def test_vault_accepts_the_bound_serviceaccount_only(
    vault: Vault, control_plane: ControlPlane, serviceaccounts: str
) -> None:
    namespace = serviceaccounts
    # The article's `vault auth enable jwt`, `vault write auth/jwt/config`, `vault write auth/jwt/role/demo`.
    run_shell(
        cli("vault", "config", "--issuer", control_plane.issuer, "--ca-file", str(control_plane.ca_file)),
        vault.cli_env(),
    )
    run_shell(
        cli(
            "vault", "role", "demo", "--audience", VAULT_AUDIENCE, "--serviceaccount", f"{namespace}/app",
            "--policy", "default",
        ),
        vault.cli_env(),
    )  # fmt: skip
    status, config = vault.api("GET", "auth/jwt/config", token=vault.root_token)
    assert status == 200 and config["data"]["bound_issuer"] == control_plane.issuer, config

    app = request_token(control_plane, namespace, "app", VAULT_AUDIENCE)
    status, body = vault.login("jwt", "demo", app)
    assert status == 200, (body, vault.diagnostics())
    assert body["auth"]["client_token"] and "default" in body["auth"]["token_policies"]
    # The Vault token really works: look itself up.
    status, me = vault.api("GET", "auth/token/lookup-self", token=body["auth"]["client_token"])
    assert status == 200 and me["data"]["meta"]["role"] == "demo", me

    other = request_token(control_plane, namespace, "other", VAULT_AUDIENCE)
    status, body = vault.login("jwt", "demo", other)
    assert status == 400 and "invalid subject (sub) claim" in json.dumps(body), body

    wrong_audience = request_token(control_plane, namespace, "app", "not-vault")
    status, body = vault.login("jwt", "demo", wrong_audience)
    assert status == 400 and "invalid audience (aud) claim" in json.dumps(body), body

    # `token verify --subject` says what the role's bound_subject says, for both tokens.
    verify = [str(WEBHOOK_BIN), "token", "verify", "-", "--issuer", control_plane.issuer]
    verify += ["--ca-file", str(control_plane.ca_file), "--audience", VAULT_AUDIENCE]
    verify += ["--subject", f"system:serviceaccount:{namespace}:app"]
    good = subprocess.run(verify, input=app, capture_output=True, text=True, timeout=60)
    assert good.returncode == 0, good.stderr
    bad = subprocess.run(verify, input=other, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1 and "does not match bound subject" in bad.stderr, bad.stderr


def test_vault_namespace_role_through_the_http_api(
    vault: Vault, control_plane: ControlPlane, serviceaccounts: str, tmp_path: Path
) -> None:
    """A second mount set up with the JSON payloads over the HTTP API: any ServiceAccount of the namespace."""
    namespace = serviceaccounts
    status, _ = vault.api("POST", "sys/auth/upstream", {"type": "jwt"}, token=vault.root_token)
    assert status in (200, 204)
    config = json.loads(
        cli(
            "vault", "config", "--issuer", control_plane.issuer, "--ca-file", str(control_plane.ca_file),
            "--format", "json",
        )
    )  # fmt: skip
    status, body = vault.api("POST", "auth/upstream/config", config, token=vault.root_token)
    assert status in (200, 204), body
    role = json.loads(
        cli(
            "vault", "role", "team", "--audience", VAULT_AUDIENCE, "--serviceaccount", f"{namespace}/*",
            "--claim", f"/kubernetes.io/namespace={namespace}", "--ttl", "5m", "--format", "json",
        )
    )  # fmt: skip
    status, body = vault.api("POST", "auth/upstream/role/team", role, token=vault.root_token)
    assert status in (200, 204), body
    for name in ("app", "other"):
        status, body = vault.login(
            "upstream", "team", request_token(control_plane, namespace, name, VAULT_AUDIENCE)
        )
        assert status == 200, (name, body)
        assert body["auth"]["lease_duration"] == 300
    control_plane.kubectl("create", "namespace", "e2e-relying-parties-elsewhere", check=False)
    control_plane.kubectl(
        "create", "serviceaccount", "app", "-n", "e2e-relying-parties-elsewhere", check=False
    )
    try:
        elsewhere = request_token(control_plane, "e2e-relying-parties-elsewhere", "app", VAULT_AUDIENCE)
        status, body = vault.login("upstream", "team", elsewhere)
        assert status == 400 and "does not match any associated bound claim values" in json.dumps(body), body
    finally:
        control_plane.kubectl(
            "delete", "namespace", "e2e-relying-parties-elsewhere", "--wait=false", check=False
        )


# --- OAuth2-Proxy --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def upstream() -> Iterator[EchoUpstream]:
    server = EchoUpstream()
    try:
        yield server
    finally:
        server.stop()


def cookie_secret(folder: Path) -> Path:
    path = folder / "cookie-secret"
    path.write_text("0123456789abcdef0123456789abcdef")  # 32 bytes: an AES-256 key, as the proxy requires
    return path


def test_oauth2_proxy_machine_users_only(
    control_plane: ControlPlane,
    serviceaccounts: str,
    upstream: EchoUpstream,
    tmp_path: Path,
) -> None:
    namespace = serviceaccounts
    flags = cli(
        "oauth2-proxy", "--issuer", control_plane.issuer, "--audience", PROXY_AUDIENCE,
        "--ca-path", str(control_plane.ca_file), "--cookie-secret-file", str(cookie_secret(tmp_path)),
    ).splitlines()  # fmt: skip
    proxy = OAuth2Proxy.start(binary("oauth2-proxy"), tmp_path, flags, upstream.url)
    try:
        status, body = proxy.get("/hello", request_token(control_plane, namespace, "app", PROXY_AUDIENCE))
        assert status == 200, (body, proxy.diagnostics())
        assert body["path"] == "/hello"
        assert body["headers"]["X-Forwarded-User"] == f"system:serviceaccount:{namespace}:app", body

        status, body = proxy.get("/hello", request_token(control_plane, namespace, "app", "other-audience"))
        assert status == 403, (status, body)
    finally:
        proxy.stop()


def test_oauth2_proxy_beside_human_sso_admits_listed_serviceaccounts(
    control_plane: ControlPlane,
    serviceaccounts: str,
    upstream: EchoUpstream,
    tmp_path: Path,
) -> None:
    namespace = serviceaccounts
    emails = tmp_path / "emails"
    generate = [
        "oauth2-proxy", "--beside-sso", "--issuer", control_plane.issuer, "--audience", PROXY_AUDIENCE,
        "--ca-path", str(control_plane.ca_file), "--email-domain", "example.com",
        "--serviceaccount", f"{namespace}/app", "--emails-file", str(emails),
    ]  # fmt: skip
    emails.write_text(cli(*generate, "--format", "emails-file"))
    config = tmp_path / "oauth2-proxy.cfg"
    config.write_text(cli(*generate, "--format", "config"))
    # The existing human SSO provider. The proxy tries its keys first on every bearer token (a closed loopback
    # port: refused at once), then our issuer's.
    human_sso = [
        f"--config={config}", "--provider=oidc", "--oidc-issuer-url=https://sso.example.invalid",
        "--skip-oidc-discovery", "--login-url=https://sso.example.invalid/auth",
        "--redeem-url=https://sso.example.invalid/token", "--oidc-jwks-url=https://127.0.0.1:1/jwks",
        "--client-id=humans", "--client-secret=humans-secret",
        f"--cookie-secret-file={cookie_secret(tmp_path)}",
    ]  # fmt: skip
    proxy = OAuth2Proxy.start(binary("oauth2-proxy"), tmp_path, human_sso, upstream.url)
    try:
        status, body = proxy.get("/", request_token(control_plane, namespace, "app", PROXY_AUDIENCE))
        assert status == 200, (body, proxy.diagnostics())
        assert body["headers"]["X-Forwarded-User"] == f"system:serviceaccount:{namespace}:app"

        status, _ = proxy.get("/", request_token(control_plane, namespace, "other", PROXY_AUDIENCE))
        assert status == 403, proxy.diagnostics()
        status, _ = proxy.get("/", request_token(control_plane, namespace, "app", "other-audience"))
        assert status == 403, proxy.diagnostics()
    finally:
        proxy.stop()
