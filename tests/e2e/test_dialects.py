"""The cloud dialects through the live apiserver: a second `webhook serve` with only those dialects,
registered for one labelled namespace with the selectors the dialects declare (their overlays'). Each pod
gets the peer's volume and env, equal to what `webhook render` prints, and a token for the dialect's
audience verifies against the apiserver's own JWKS."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from kubernetes import client

from tests.common import container, containers, env_of, mounts_of, serviceaccount
from tests.e2e.controlplane import ControlPlane
from tests.e2e.support import dump_all, load_all, pod, render, wait_for, without_api_access
from tests.e2e.webhookserver import WebhookServer
from webhook.dialects import object_selector_requirements

pytestmark = pytest.mark.e2e

LABEL = "e2e.projected-token.io/dialects"
TENANT = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
DIALECTS = ("azure", "gcp")
SETTINGS = ("--dialects", ",".join(DIALECTS), "--azure-tenant-id", TENANT)


@pytest.fixture(scope="module")
def dialects_webhook(
    control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WebhookServer]:
    """Beside the session's webhook (which leaves these pods alone: they carry no generic annotations)."""
    server = WebhookServer(control_plane, tmp_path_factory.mktemp("dialects"), settings_args=SETTINGS)
    config = server.registration()
    config["metadata"]["name"] = "projected-token-webhook-dialects"
    for hook in config["webhooks"]:
        hook["namespaceSelector"] = {"matchLabels": {LABEL: "true"}}
        hook["objectSelector"]["matchExpressions"].extend(object_selector_requirements(DIALECTS))
    server.start()
    control_plane.kubectl("apply", "-f", "-", input=json.dumps(config))
    try:
        yield server
    finally:
        control_plane.kubectl(
            "delete", "mutatingwebhookconfiguration", config["metadata"]["name"], check=False
        )
        server.stop()


@pytest.fixture
def cloud_namespace(
    control_plane: ControlPlane, namespace: str, dialects_webhook: WebhookServer, webhook: WebhookServer
) -> str:
    control_plane.kubectl("label", "namespace", namespace, f"{LABEL}=true")
    return namespace


def _create(plane: ControlPlane, namespace: str, *docs: dict[str, Any]) -> None:
    plane.kubectl("create", "-n", namespace, "-f", "-", input=dump_all(docs))


def _stored(plane: ControlPlane, namespace: str, name: str) -> dict[str, Any]:
    return plane.kubectl_json("get", "pod", name, "-n", namespace)


def _rendered(sa_doc: dict[str, Any], pod_doc: dict[str, Any], tmp_path: Any) -> dict[str, Any]:
    accounts = tmp_path / "serviceaccounts.yaml"
    accounts.write_text(dump_all([sa_doc]))
    out = render("-", "-s", str(accounts), "-o", "yaml", *SETTINGS, input=dump_all([pod_doc])).stdout
    [rendered] = load_all(out)
    return rendered


def _verified(
    plane: ControlPlane, namespace: str, account: str, stored: dict[str, Any], audience: str
) -> dict:
    """What the kubelet asks for the projected source (a TokenRequest bound to the pod), verified as a
    relying party does: discovery and keys fetched anonymously from the issuer."""
    source = next(
        s["serviceAccountToken"]
        for v in stored["spec"]["volumes"]
        for s in (v.get("projected") or {}).get("sources") or []
        if (s.get("serviceAccountToken") or {}).get("audience") == audience
    )
    with plane.api_client() as api:
        request = client.AuthenticationV1TokenRequest(
            spec=client.V1TokenRequestSpec(
                audiences=[audience],
                expiration_seconds=source["expirationSeconds"],
                bound_object_ref=client.V1BoundObjectReference(
                    api_version="v1",
                    kind="Pod",
                    name=stored["metadata"]["name"],
                    uid=stored["metadata"]["uid"],
                ),
            )
        )
        token = client.CoreV1Api(api).create_namespaced_service_account_token(account, namespace, request)
    discovery = plane.get("/.well-known/openid-configuration", admin=False)
    jwks = plane.get("/openid/v1/jwks", admin=False)
    header = jwt.get_unverified_header(token.status.token)
    [jwk] = [k for k in jwks["keys"] if k["kid"] == header["kid"]]
    key = jwt.PyJWK(jwk).key
    claims: dict = jwt.decode(
        token.status.token, key, algorithms=["RS256"], audience=audience, issuer=discovery["issuer"]
    )
    with pytest.raises(jwt.InvalidAudienceError):
        jwt.decode(
            token.status.token, key, algorithms=["RS256"], audience="other", issuer=discovery["issuer"]
        )
    assert claims["sub"] == f"system:serviceaccount:{namespace}:{account}"
    assert claims["exp"] - claims["iat"] == source["expirationSeconds"]
    return claims


def _same_as_render(stored: dict[str, Any], rendered: dict[str, Any]) -> None:
    live = without_api_access(stored["spec"])
    for field in ("volumes", "initContainers", "containers"):
        for item in rendered["spec"].get(field) or []:
            [match] = [i for i in live.get(field) or [] if i["name"] == item["name"]]
            for key in ("env", "volumeMounts", "args", "image", "restartPolicy"):
                assert match.get(key) == item.get(key), (field, item["name"], key)
        if field == "volumes":
            names = [v["name"] for v in live.get("volumes") or []]
            assert names == [v["name"] for v in rendered["spec"].get("volumes") or []]


# ---------------------------------------------------------------------------------------------------- Azure


def test_azure_pod_gets_the_peers_volume_env_and_proxy(
    control_plane: ControlPlane, cloud_namespace: str, tmp_path: Any
) -> None:
    ns = cloud_namespace
    account = serviceaccount("azure-app", {"azure.workload.identity/client-id": "cid-1"})
    labelled = pod(
        "p",
        "azure-app",
        labels={"azure.workload.identity/use": "true"},
        annotations={"azure.workload.identity/inject-proxy-sidecar": "true"},
    )
    _create(control_plane, ns, account, labelled, pod("unlabelled", "azure-app"))

    stored = wait_for("the azure pod", lambda: _stored(control_plane, ns, "p"))
    volumes = {v["name"]: v for v in stored["spec"]["volumes"]}
    assert volumes["azure-identity-token"]["projected"]["sources"] == [
        {
            "serviceAccountToken": {
                "audience": "api://AzureADTokenExchange",
                "expirationSeconds": 3600,
                "path": "azure-identity-token",
            }
        }
    ]
    names = [c["name"] for c in stored["spec"]["initContainers"]]
    assert names == ["azwi-proxy", "setup", "azwi-proxy-init"]
    assert container(stored, "azwi-proxy")["restartPolicy"] == "Always"
    for item in containers(stored):
        env = dict(env_of(stored, item["name"]))
        assert env["AZURE_CLIENT_ID"] == "cid-1" and env["AZURE_TENANT_ID"] == TENANT
        assert env["AZURE_FEDERATED_TOKEN_FILE"] == "/var/run/secrets/azure/tokens/azure-identity-token"
        assert env["AZURE_AUTHORITY_HOST"] == "https://login.microsoftonline.com/"
        mount = next(m for m in mounts_of(stored, item["name"]) if m["name"] == "azure-identity-token")
        assert mount == {
            "name": "azure-identity-token",
            "readOnly": True,
            "mountPath": "/var/run/secrets/azure/tokens",
        }
    _same_as_render(stored, _rendered(account, labelled, tmp_path))
    _verified(control_plane, ns, "azure-app", stored, "api://AzureADTokenExchange")

    # No label: skipped by the dialect (alone, the overlay's objectSelector would not even send it).
    untouched = _stored(control_plane, ns, "unlabelled")
    assert "azure-identity-token" not in {v["name"] for v in untouched["spec"]["volumes"]}


def test_azure_refusal_names_the_annotation(control_plane: ControlPlane, cloud_namespace: str) -> None:
    ns = cloud_namespace
    bad = pod(
        "bad",
        "default",
        labels={"azure.workload.identity/use": "true"},
        annotations={"azure.workload.identity/service-account-token-expiration": "100"},
    )
    result = control_plane.kubectl("create", "-n", ns, "-f", "-", input=dump_all([bad]), check=False)
    assert result.returncode != 0
    assert "azure.workload.identity/service-account-token-expiration" in result.stderr
    assert "expected a value between 3600 and 86400" in result.stderr


# ------------------------------------------------------------------------------------------------------ GCP

PROVIDER = "projects/12345/locations/global/workloadIdentityPools/e2e/providers/this-cluster"
EMAIL = "app-x@my-project.iam.gserviceaccount.com"


def test_gcp_pod_gets_the_peers_volumes_env_and_setup_container(
    control_plane: ControlPlane, cloud_namespace: str, tmp_path: Any
) -> None:
    ns = cloud_namespace
    annotations = {
        "cloud.google.com/workload-identity-provider": PROVIDER,
        "cloud.google.com/service-account-email": EMAIL,
    }
    account = serviceaccount("gcp-app", annotations)
    direct = serviceaccount("gcp-direct", {**annotations, "cloud.google.com/injection-mode": "direct"})
    plain = pod("g", "gcp-app")
    _create(control_plane, ns, account, direct, plain, pod("d", "gcp-direct"))

    stored = wait_for("the gcp pod", lambda: _stored(control_plane, ns, "g"))
    volumes = {v["name"]: v for v in stored["spec"]["volumes"]}
    assert volumes["gcp-iam-token"]["projected"]["defaultMode"] == 0o440
    assert volumes["gcp-iam-token"]["projected"]["sources"] == [
        {
            "serviceAccountToken": {
                "audience": "sts.googleapis.com",
                "expirationSeconds": 86400,
                "path": "token",
            }
        }
    ]
    assert volumes["gcloud-config"]["emptyDir"] == {}
    assert [c["name"] for c in stored["spec"]["initContainers"]] == ["gcloud-setup", "setup"]
    for item in containers(stored):
        names = {m["name"]: m["mountPath"] for m in mounts_of(stored, item["name"])}
        assert names["gcp-iam-token"] == "/var/run/secrets/sts.googleapis.com/serviceaccount"
        assert names["gcloud-config"] == "/var/run/secrets/gcloud/config"
        if item["name"] != "gcloud-setup":
            env = dict(env_of(stored, item["name"]))
            assert env["GOOGLE_APPLICATION_CREDENTIALS"] == "/var/run/secrets/gcloud/config/federation.json"
            assert env["CLOUDSDK_CONFIG"] == "/var/run/secrets/gcloud/config"
            assert env["CLOUDSDK_CORE_PROJECT"] == "my-project"
    assert stored["metadata"]["annotations"]["cloud.google.com/token-expiration"] == "86400"
    _same_as_render(stored, _rendered(account, plain, tmp_path))
    _verified(control_plane, ns, "gcp-app", stored, "sts.googleapis.com")

    # Direct mode: no init container; the credential configuration comes from the pod's annotation.
    direct_pod = _stored(control_plane, ns, "d")
    assert [c["name"] for c in direct_pod["spec"]["initContainers"]] == ["setup"]
    config = json.loads(direct_pod["metadata"]["annotations"]["cloud.google.com/external-credentials-json"])
    assert config["audience"] == f"//iam.googleapis.com/{PROVIDER}"
    assert config["credential_source"]["file"] == "/var/run/secrets/sts.googleapis.com/serviceaccount/token"
    [item] = {v["name"]: v for v in direct_pod["spec"]["volumes"]}["external-credential-config"][
        "downwardAPI"
    ]["items"]
    assert (
        item["fieldRef"]["fieldPath"] == "metadata.annotations['cloud.google.com/external-credentials-json']"
    )


def test_gcp_refusal_names_the_annotation(control_plane: ControlPlane, cloud_namespace: str) -> None:
    ns = cloud_namespace
    half = serviceaccount("half", {"cloud.google.com/workload-identity-provider": PROVIDER})
    _create(control_plane, ns, half)
    result = control_plane.kubectl(
        "create", "-n", ns, "-f", "-", input=dump_all([pod("h", "half")]), check=False
    )
    assert result.returncode != 0
    assert "cloud.google.com/service-account-email must set at a time" in result.stderr
