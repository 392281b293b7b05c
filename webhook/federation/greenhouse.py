"""Greenhouse (cloudoperators/greenhouse) onboarding a remote cluster by OIDC: the Secret its bootstrap
controller reads. Greenhouse mints tokens for the ServiceAccount named like the Secret, audience
`greenhouse`; the remote cluster trusts them with `downstream authn-config` and `downstream rbac`."""

from __future__ import annotations

import base64
from typing import Any

from webhook.federation.common import InputError, check_https_url
from webhook.federation.downstream import username
from webhook.vocabulary import DNS1123_LABEL_RE, is_dns1123_subdomain

SECRET_TYPE = "greenhouse.sap/oidc"
API_SERVER_URL_ANNOTATION = "oidc.greenhouse.sap/api-server-url"
CA_KEY = "ca.crt"
AUDIENCE = "greenhouse"  # fixed by Greenhouse's bootstrap controller
DEFAULT_PREFIX = "greenhouse:"


def onboarding_secret(*, cluster: str, namespace: str, api_server_url: str, ca_pem: str) -> dict[str, Any]:
    """The `greenhouse.sap/oidc` Secret. Greenhouse base64-decodes `ca.crt` once more after Kubernetes
    has decoded `data`, so the PEM is encoded twice (the article's `... | base64 | base64`)."""
    if not is_dns1123_subdomain(cluster):
        raise InputError(
            f"--cluster {cluster!r} is not a valid object name (lowercase letters, digits, '-', '.')"
        )
    if not DNS1123_LABEL_RE.fullmatch(namespace) or len(namespace) > 63:
        raise InputError(f"--namespace {namespace!r} is not a valid namespace name")
    check_https_url(api_server_url, "--api-server-url")
    once = base64.b64encode(ca_pem.encode()).decode()
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": cluster,
            "namespace": namespace,
            "annotations": {API_SERVER_URL_ANNOTATION: api_server_url},
        },
        "type": SECRET_TYPE,
        "data": {CA_KEY: base64.b64encode(once.encode()).decode()},
    }


def remote_username(prefix: str, namespace: str, cluster: str) -> str:
    """The user Greenhouse is on the remote cluster: prefix + its ServiceAccount (named like the Secret)."""
    return username(prefix, namespace, cluster)
