"""The README's curl example: examples/admissionreview.json with examples/serviceaccounts.yaml is patched."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import jsonpatch

from tests.server.support import start_server
from webhook.certs import CertPaths

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_example_review_gets_a_real_patch(cert_bundle: CertPaths) -> None:
    server = start_server(
        cert_bundle.cert, cert_bundle.key, cert_bundle.ca_cert, EXAMPLES / "serviceaccounts.yaml"
    )
    body = (EXAMPLES / "admissionreview.json").read_bytes()
    try:
        with server.client() as client:
            response = client.post("/mutate", content=body, headers={"content-type": "application/json"})
    finally:
        server.stop()
    answer = response.json()["response"]
    review = json.loads(body)
    assert answer["uid"] == review["request"]["uid"] and answer["allowed"] is True
    pod = jsonpatch.apply_patch(review["request"]["object"], json.loads(base64.b64decode(answer["patch"])))
    mounts = {m["mountPath"] for m in pod["spec"]["containers"][0]["volumeMounts"]}
    assert mounts == {"/var/run/secrets/kubernetes.io/serviceaccount", "/var/run/secrets/tokens"}
    assert {"name": "TOKEN_FILE", "value": "/var/run/secrets/tokens/oidc-token"} in pod["spec"]["containers"][
        0
    ]["env"]
