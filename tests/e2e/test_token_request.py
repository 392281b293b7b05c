"""The token our volume asks for is a real OIDC token, verified with the apiserver's own discovery."""

from __future__ import annotations

import base64
import json

import jwt
import pytest
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from kubernetes import client

from tests.common import serviceaccount
from tests.e2e.controlplane import ControlPlane
from tests.e2e.support import PREFIX, dump_all, pod, token_sources
from tests.e2e.webhookserver import WebhookServer

pytestmark = pytest.mark.e2e


def _b64uint(value: str) -> int:
    return int.from_bytes(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)), "big")


def test_apiserver_reports_the_built_version(control_plane: ControlPlane):
    version = control_plane.get("/version")
    assert version["gitVersion"].startswith("v1.") and int(version["minor"]) >= 34, version


def test_token_request_verifies_against_discovery(
    control_plane: ControlPlane, webhook: WebhookServer, namespace: str
):
    annotations = {f"{PREFIX}/audience": "vault", f"{PREFIX}/expiration-seconds": "7200"}
    control_plane.kubectl(
        "create", "-n", namespace, "-f", "-", input=dump_all([serviceaccount("app", annotations)])
    )
    control_plane.kubectl("create", "-n", namespace, "-f", "-", input=json.dumps(pod("p", "app")))
    stored = control_plane.kubectl_json("get", "pod", "p", "-n", namespace)
    [(audience, source)] = token_sources(stored).items()

    # What the kubelet does for the projected source: a TokenRequest bound to the pod.
    with control_plane.api_client() as api:
        request = client.AuthenticationV1TokenRequest(
            spec=client.V1TokenRequestSpec(
                audiences=[audience],
                expiration_seconds=source["expirationSeconds"],
                bound_object_ref=client.V1BoundObjectReference(
                    api_version="v1", kind="Pod", name="p", uid=stored["metadata"]["uid"]
                ),
            )
        )
        token = (
            client.CoreV1Api(api)
            .create_namespaced_service_account_token("app", namespace, request)
            .status.token
        )

    # A relying party: discovery and keys fetched anonymously, from the issuer itself.
    discovery = control_plane.get("/.well-known/openid-configuration", admin=False)
    assert discovery["issuer"] == control_plane.issuer
    assert discovery["jwks_uri"] == f"{control_plane.issuer}/openid/v1/jwks"
    jwks = control_plane.get("/openid/v1/jwks", admin=False)
    header = jwt.get_unverified_header(token)
    [jwk] = [k for k in jwks["keys"] if k["kid"] == header["kid"]]
    assert header["alg"] == jwk["alg"] == "RS256"
    # The published key is the one the apiserver was given.
    mine = load_pem_public_key(control_plane.sa_public_key_file.read_bytes()).public_numbers()
    assert (_b64uint(jwk["n"]), _b64uint(jwk["e"])) == (mine.n, mine.e)

    key = jwt.PyJWK(jwk).key
    claims = jwt.decode(token, key, algorithms=["RS256"], audience=audience, issuer=discovery["issuer"])
    assert claims["sub"] == f"system:serviceaccount:{namespace}:app"
    assert claims["kubernetes.io"]["pod"]["name"] == "p"
    assert claims["exp"] - claims["iat"] == 7200
    # Verification is real: another audience, another issuer or another key is refused.
    with pytest.raises(jwt.InvalidAudienceError):
        jwt.decode(token, key, algorithms=["RS256"], audience="someone-else", issuer=discovery["issuer"])
    with pytest.raises(jwt.InvalidIssuerError):
        jwt.decode(token, key, algorithms=["RS256"], audience=audience, issuer="https://elsewhere.example")
    tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(tampered, key, algorithms=["RS256"], audience=audience, issuer=discovery["issuer"])
