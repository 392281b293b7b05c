"""The kube-apiserver calls the real webhook, applies its patch and stores the pod."""

from __future__ import annotations

import json

import pytest

from tests.common import containers, env_of, mounts_of, serviceaccount
from tests.e2e.controlplane import ControlPlane
from tests.e2e.support import (
    PREFIX,
    api_access_volume,
    deployment,
    dump_all,
    need_controller_manager,
    pod,
    token_sources,
    token_volumes,
    wait_for,
)
from tests.e2e.webhookserver import WebhookServer

pytestmark = pytest.mark.e2e
SA_MOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"


def create(plane: ControlPlane, namespace: str, *docs: dict) -> None:
    plane.kubectl("create", "-n", namespace, "-f", "-", input=dump_all(docs))


def stored_pod(plane: ControlPlane, namespace: str, name: str) -> dict:
    return plane.kubectl_json("get", "pod", name, "-n", namespace)


def assert_injected(pod_obj: dict, *, mount_path: str, file_path: str, env: str) -> None:
    """Every container (init included) mounts our volume read-only at mount_path and has env -> file_path."""
    volumes = token_volumes(pod_obj)
    for container in containers(pod_obj):
        mounts = {m["mountPath"]: m for m in mounts_of(pod_obj, container["name"])}
        mount = mounts.get(mount_path)
        assert mount is not None, (
            f"{container['name']}: no mount at {mount_path}: {container.get('volumeMounts')}"
        )
        assert mount["name"] in volumes and mount.get("readOnly") is True, mount
        assert dict(env_of(pod_obj, container["name"])).get(env) == file_path, (
            f"{container['name']}: {container.get('env')}"
        )
        # The ServiceAccount admission plugin's mount is still there, untouched.
        assert mounts[SA_MOUNT]["name"] == api_access_volume(pod_obj)


def test_annotated_serviceaccount_then_pod(
    control_plane: ControlPlane, webhook: WebhookServer, namespace: str
):
    annotations = {
        f"{PREFIX}/audience": "vault",
        f"{PREFIX}/expiration-seconds": "7200",
        f"{PREFIX}/path": "oidc-token",
    }
    create(control_plane, namespace, serviceaccount("app", annotations))
    create(control_plane, namespace, pod("p", "app"))

    stored = stored_pod(control_plane, namespace, "p")
    sources = token_sources(stored)
    assert sources == {"vault": {"audience": "vault", "expirationSeconds": 7200, "path": "oidc-token"}}
    assert len(token_volumes(stored)) == 1
    assert api_access_volume(stored), "the ServiceAccount admission plugin's kube-api-access-* volume is gone"
    assert_injected(
        stored,
        mount_path="/var/run/secrets/tokens",
        file_path="/var/run/secrets/tokens/oidc-token",
        env="TOKEN_FILE",
    )
    assert dict(env_of(stored, "app"))["KEEP"] == "me", "the container's own env must survive"


def test_several_named_tokens(control_plane: ControlPlane, webhook: WebhookServer, namespace: str):
    create(
        control_plane,
        namespace,
        serviceaccount(
            "multi",
            {
                f"{PREFIX}/audience": "vault",
                f"{PREFIX}/downstream.audience": "downstream-cluster",
                f"{PREFIX}/downstream.path": "federated-token",
                f"{PREFIX}/s3.audience": "sts.example.com",
                f"{PREFIX}/s3.mount-path": "/var/run/secrets/s3",
            },
        ),
    )
    # The Pod's annotation wins over the ServiceAccount's for the same token and field.
    create(
        control_plane, namespace, pod("p", "multi", annotations={f"{PREFIX}/s3.expiration-seconds": "900"})
    )

    stored = stored_pod(control_plane, namespace, "p")
    sources = token_sources(stored)
    assert set(sources) == {"vault", "downstream-cluster", "sts.example.com"}
    assert sources["downstream-cluster"]["path"] == "federated-token"
    assert sources["sts.example.com"]["expirationSeconds"] == 900
    # Two mount paths, two volumes: tokens sharing /var/run/secrets/tokens share one volume.
    assert len(token_volumes(stored)) == 2
    for container in containers(stored):
        env = dict(env_of(stored, container["name"]))
        assert env["TOKEN_FILE"] == "/var/run/secrets/tokens/token"
        assert env["DOWNSTREAM_TOKEN_FILE"] == "/var/run/secrets/tokens/federated-token"
        assert env["S3_TOKEN_FILE"] == "/var/run/secrets/s3/s3"
        assert {"/var/run/secrets/tokens", "/var/run/secrets/s3", SA_MOUNT} <= {
            m["mountPath"] for m in mounts_of(stored, container["name"])
        }


def test_eks_dialect_serviceaccount(control_plane: ControlPlane, webhook: WebhookServer, namespace: str):
    role = "arn:aws:iam::111122223333:role/e2e"
    create(control_plane, namespace, serviceaccount("aws", {"eks.amazonaws.com/role-arn": role}))
    create(control_plane, namespace, pod("p", "aws"))

    stored = stored_pod(control_plane, namespace, "p")
    volumes = token_volumes(stored)
    assert list(volumes) == ["aws-iam-token"]
    assert volumes["aws-iam-token"]["projected"]["sources"] == [
        {
            "serviceAccountToken": {
                "audience": "sts.amazonaws.com",
                "expirationSeconds": 86400,
                "path": "token",
            }
        }
    ]
    mount = "/var/run/secrets/eks.amazonaws.com/serviceaccount"
    assert_injected(stored, mount_path=mount, file_path=f"{mount}/token", env="AWS_WEB_IDENTITY_TOKEN_FILE")
    for container in containers(stored):
        assert dict(env_of(stored, container["name"]))["AWS_ROLE_ARN"] == role


def test_serviceaccount_and_deployment_in_one_apply(
    control_plane: ControlPlane, webhook: WebhookServer, namespace: str, tmp_path
):
    need_controller_manager(control_plane)
    manifest = tmp_path / "app.yaml"
    manifest.write_text(
        dump_all(
            [serviceaccount("app", {f"{PREFIX}/audience": "vault"}), deployment("app", "app", replicas=3)]
        )
    )
    control_plane.kubectl("apply", "-n", namespace, "-f", str(manifest))

    def pods() -> list[dict] | None:
        items = control_plane.kubectl_json("get", "pods", "-n", namespace, "-l", "app=app")["items"]
        return items if len(items) == 3 else None

    for stored in wait_for("3 pods of the Deployment", pods, timeout=90):
        assert set(token_sources(stored)) == {"vault"}, f"{stored['metadata']['name']} missed its token"
        assert_injected(
            stored,
            mount_path="/var/run/secrets/tokens",
            file_path="/var/run/secrets/tokens/token",
            env="TOKEN_FILE",
        )


def test_invalid_annotation_is_refused_with_our_message(
    control_plane: ControlPlane, webhook: WebhookServer, namespace: str, tmp_path
):
    bad = {f"{PREFIX}/audience": "vault", f"{PREFIX}/expiration-seconds": "60"}
    create(control_plane, namespace, serviceaccount("bad", bad))
    manifest = tmp_path / "pod.yaml"
    manifest.write_text(json.dumps(pod("p", "bad")))

    result = control_plane.kubectl("apply", "-n", namespace, "-f", str(manifest), check=False)
    assert result.returncode != 0
    assert "denied the request" in result.stderr, result.stderr
    assert f"{PREFIX}/expiration-seconds" in result.stderr, result.stderr
    assert control_plane.kubectl("get", "pod", "p", "-n", namespace, check=False).returncode != 0


def test_server_dry_run_shows_the_mutation(
    control_plane: ControlPlane, webhook: WebhookServer, namespace: str
):
    create(control_plane, namespace, serviceaccount("app", {f"{PREFIX}/audience": "vault"}))
    result = control_plane.kubectl(
        "apply",
        "--dry-run=server",
        "-n",
        namespace,
        "-o",
        "json",
        "-f",
        "-",
        input=json.dumps(pod("p", "app")),
    )
    shown = json.loads(result.stdout)
    assert set(token_sources(shown)) == {"vault"}
    assert_injected(
        shown,
        mount_path="/var/run/secrets/tokens",
        file_path="/var/run/secrets/tokens/token",
        env="TOKEN_FILE",
    )
    # Nothing was stored.
    assert control_plane.kubectl("get", "pod", "p", "-n", namespace, check=False).returncode != 0
