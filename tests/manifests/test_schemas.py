"""Every built document against the real Kubernetes OpenAPI schemas (kubernetes-validate, strict)."""

from __future__ import annotations

import copy
from typing import Any

import kubernetes_validate
import pytest
from kubernetes_validate.utils import all_versions

from tests.manifests.support import CERT_MANAGER_GROUP, MANIFESTS, OVERLAYS, kubectl, kustomize


def _key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


# Every version the installed kubernetes-validate ships (1.25 .. 1.37 with 1.37.0): the install must be
# valid on all of them, since nothing in it needs a newer API than policy/v1 and admissionregistration/v1.
VERSIONS = sorted(set(all_versions()), key=_key)


def test_versions_cover_the_supported_range() -> None:
    assert _key(VERSIONS[0]) <= (1, 29, 0) and "1.32.0" in VERSIONS, VERSIONS


def test_kustomize_builds_the_work_tree_base() -> None:
    if not kubectl():
        pytest.skip("kubectl (with kustomize) is not on PATH")
    kinds = sorted(d["kind"] for d in kustomize(MANIFESTS / "base"))
    assert kinds == sorted(
        [
            "Namespace",
            "ServiceAccount",
            "ClusterRole",
            "ClusterRoleBinding",
            "ResourceQuota",
            "Deployment",
            "Service",
            "PodDisruptionBudget",
            "MutatingWebhookConfiguration",
        ]
    )


def test_every_overlay_builds(built: dict[str, list[dict[str, Any]]]) -> None:
    assert set(built) == {"base", *OVERLAYS}
    base_ids = {(d["kind"], d["metadata"]["name"]) for d in built["base"]}
    for name in OVERLAYS:
        ids = {(d["kind"], d["metadata"]["name"]) for d in built[name]}
        # The static Secret carries a content hash suffix; everything of the base is still there.
        assert base_ids <= ids, f"{name} lost {base_ids - ids}"


def _validate(doc: dict[str, Any], version: str) -> None:
    kubernetes_validate.validate(doc, version, strict=True)


@pytest.mark.parametrize("overlay", ["base", *OVERLAYS])
def test_built_documents_validate_on_every_version(
    built: dict[str, list[dict[str, Any]]], overlay: str
) -> None:
    core = [d for d in built[overlay] if not d["apiVersion"].startswith(CERT_MANAGER_GROUP + "/")]
    assert core
    failures = []
    for version in VERSIONS:
        for doc in core:
            try:
                _validate(doc, version)
            except kubernetes_validate.ValidationError as exc:
                failures.append(f"{version} {doc['kind']}/{doc['metadata']['name']}: {exc.message}")
    assert not failures, "\n".join(failures)


def test_strict_validation_rejects_what_the_apiserver_would(built: dict[str, list[dict[str, Any]]]) -> None:
    """Guards the guard: a misspelt field and a bad enum value must fail validation."""
    deployment = copy.deepcopy(next(d for d in built["base"] if d["kind"] == "Deployment"))
    deployment["spec"]["template"]["spec"]["containers"][0]["readOnlyRootFilesytem"] = True
    with pytest.raises(kubernetes_validate.ValidationError):
        _validate(deployment, VERSIONS[-1])
    hook = copy.deepcopy(next(d for d in built["base"] if d["kind"] == "MutatingWebhookConfiguration"))
    hook["webhooks"][0]["sideEffects"] = 3
    with pytest.raises(kubernetes_validate.ValidationError):
        _validate(hook, VERSIONS[-1])


def test_cert_manager_documents_have_no_schema_here_so_their_shape_is_asserted(
    built: dict[str, list[dict[str, Any]]],
) -> None:
    crds = [d for d in built["cert-manager"] if d["apiVersion"].startswith(CERT_MANAGER_GROUP + "/")]
    assert {d["kind"] for d in crds} == {"Issuer", "Certificate"}
    with pytest.raises(kubernetes_validate.SchemaNotFoundError):
        _validate(crds[0], VERSIONS[-1])
    allowed = {
        "Issuer": {"selfSigned", "ca"},
        "Certificate": {
            "isCA",
            "commonName",
            "secretName",
            "duration",
            "renewBefore",
            "dnsNames",
            "usages",
            "privateKey",
            "issuerRef",
        },
    }
    for doc in crds:
        assert doc["apiVersion"] == "cert-manager.io/v1"
        assert doc["metadata"]["namespace"], doc["metadata"]["name"]
        assert set(doc["spec"]) <= allowed[doc["kind"]], doc["spec"]
        if doc["kind"] == "Certificate":
            ref = doc["spec"]["issuerRef"]
            assert ref["group"] == CERT_MANAGER_GROUP and ref["kind"] == "Issuer"
            assert set(doc["spec"]["privateKey"]) <= {"algorithm", "size", "rotationPolicy", "encoding"}
            assert doc["spec"]["privateKey"]["algorithm"] in {"RSA", "ECDSA", "Ed25519"}
            for key in ("duration", "renewBefore"):
                if key in doc["spec"]:
                    assert str(doc["spec"][key]).endswith("h"), f"{key} must be a Go duration"
