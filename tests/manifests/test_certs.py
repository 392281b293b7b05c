"""Certificates: cert-manager's chain and SANs, and the static overlay's Secret and caBundle."""

from __future__ import annotations

import base64
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature

from tests.manifests.support import copy_manifests, kubectl, one, pod_template
from webhook.certs import CertPaths, covers, generate_ca, service_dns_names

Docs = dict[str, list[dict[str, Any]]]


def _service_names(docs: list[dict[str, Any]]) -> list[str]:
    hook = one(docs, "MutatingWebhookConfiguration")["webhooks"][0]
    ref = hook["clientConfig"]["service"]
    return service_dns_names(ref["name"], ref["namespace"])


def _cert_secret_name(docs: list[dict[str, Any]]) -> str:
    volumes = {v["name"]: v for v in pod_template(docs)["spec"]["volumes"]}
    return volumes["certs"]["secret"]["secretName"]


def _signed_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def test_cert_manager_serving_certificate(built: Docs) -> None:
    docs = built["cert-manager"]
    serving = one(docs, "Certificate", "projected-token-webhook-serving")
    spec = serving["spec"]
    # The name the kube-apiserver dials (<svc>.<ns>.svc) and its variants, for the Service actually built.
    assert set(_service_names(docs)) <= set(spec["dnsNames"])
    assert spec["secretName"] == _cert_secret_name(docs)
    assert "server auth" in spec["usages"]
    assert spec["privateKey"]["rotationPolicy"] == "Always"
    # Issued by a CA Issuer (not the self-signed one), so renewals keep the caBundle unchanged.
    ca_issuer = one(docs, "Issuer", spec["issuerRef"]["name"])
    ca_cert = next(
        d
        for d in docs
        if d["kind"] == "Certificate" and d["spec"]["secretName"] == ca_issuer["spec"]["ca"]["secretName"]
    )
    assert ca_cert["spec"]["isCA"] is True
    root = one(docs, "Issuer", ca_cert["spec"]["issuerRef"]["name"])
    assert root["spec"] == {"selfSigned": {}}
    # cainjector copies the serving Secret's ca.crt (the CA) into the webhook configuration.
    hook_config = one(docs, "MutatingWebhookConfiguration")
    ns = serving["metadata"]["namespace"]
    assert (
        hook_config["metadata"]["annotations"]["cert-manager.io/inject-ca-from"]
        == f"{ns}/{serving['metadata']['name']}"
    )
    assert "caBundle" not in hook_config["webhooks"][0]["clientConfig"]


def test_static_overlay_secret_and_ca_bundle(built: Docs, static_certs: CertPaths) -> None:
    docs = built["static"]
    ca_pem = static_certs.ca_cert.read_bytes()
    bundle = one(docs, "MutatingWebhookConfiguration")["webhooks"][0]["clientConfig"]["caBundle"]
    assert base64.b64decode(bundle) == ca_pem

    secret = one(docs, "Secret", _cert_secret_name(docs))
    assert secret["type"] == "kubernetes.io/tls"
    assert secret["metadata"]["name"].startswith("projected-token-webhook-tls-"), "content-hashed name"
    data = {k: base64.b64decode(v) for k, v in secret["data"].items()}
    assert set(data) == {"ca.crt", "tls.crt", "tls.key"}
    assert data["tls.key"] == static_certs.key.read_bytes()
    cert = x509.load_pem_x509_certificate(data["tls.crt"])
    assert covers(cert, _service_names(docs), [])
    assert _signed_by(cert, x509.load_pem_x509_certificate(ca_pem))
    assert not _signed_by(cert, generate_ca("another-ca")[1]), "the signature check can fail"


def test_static_overlay_without_certificates_names_the_missing_file(tmp_path: Path) -> None:
    exe = kubectl()
    if not exe:
        pytest.skip("kubectl (with kustomize) is not on PATH")
    tree = copy_manifests(tmp_path)
    shutil.rmtree(tree / "overlays" / "static" / "certs", ignore_errors=True)
    proc = subprocess.run(
        [exe, "kustomize", str(tree / "overlays" / "static")], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode != 0
    assert "certs/ca.crt" in proc.stderr
