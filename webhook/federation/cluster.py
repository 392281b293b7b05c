"""Talking to a cluster through a kubeconfig (the official client, as kubectl would): API calls with
one-line errors, the service-account issuer's discovery documents, TokenRequest and TokenReview."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from webhook.federation.common import InputError, parse_json

T = TypeVar("T")
REQUEST_TIMEOUT = 30
DISCOVERY_PATH = "/.well-known/openid-configuration"
JWKS_PATH = "/openid/v1/jwks"


@contextlib.contextmanager
def api_client(kubeconfig: str | None, context: str | None) -> Iterator[Any]:
    """A kubernetes ApiClient for the kubeconfig ($KUBECONFIG or ~/.kube/config when None)."""
    from kubernetes import config
    from kubernetes.config.config_exception import ConfigException

    if kubeconfig is not None and not os.path.exists(kubeconfig):
        raise InputError(f"--kubeconfig {kubeconfig}: no such file")
    if kubeconfig is None:
        candidates = [p for p in os.environ.get("KUBECONFIG", "").split(os.pathsep) if p]
        if not any(os.path.exists(p) for p in candidates or [os.path.expanduser("~/.kube/config")]):
            where = f"$KUBECONFIG ({os.environ['KUBECONFIG']})" if candidates else "~/.kube/config"
            raise InputError(f"no kubeconfig: {where} does not exist; pass --kubeconfig FILE")
    try:
        client = config.new_client_from_config(config_file=kubeconfig, context=context)
    except ConfigException as exc:
        raise InputError(f"kubeconfig: {str(exc).splitlines()[0]}") from None
    except OSError as exc:
        raise InputError(f"kubeconfig {kubeconfig}: {exc.strerror or exc}") from None
    with client:
        yield client


def call(what: str, request: Callable[[], T]) -> T:
    """Run one API request; an HTTP error or a connection failure becomes `<what> failed: ...`."""
    from kubernetes.client import ApiException

    try:
        return request()
    except ApiException as exc:
        message = exc.reason
        with contextlib.suppress(TypeError, ValueError, AttributeError):
            message = json.loads(exc.body or "").get("message") or message
        raise InputError(f"{what} failed: HTTP {exc.status}: {message}") from None
    except InputError:
        raise
    except Exception as exc:  # urllib3 connection errors carry long chains; keep the first line
        raise InputError(f"{what} failed: {str(exc).splitlines()[0]}") from None


def get_json(client: Any, path: str) -> Any:
    """GET a non-resource path (the issuer's documents) with the kubeconfig's credentials."""
    from kubernetes.client import ApiException

    def get() -> Any:
        method, url, headers, body, post = client.param_serialize("GET", path, auth_settings=["BearerToken"])
        response = client.call_api(
            method, url, header_params=headers, body=body, post_params=post, _request_timeout=REQUEST_TIMEOUT
        )
        data = response.read()
        if not 200 <= response.status < 300:
            raise ApiException(status=response.status, reason=response.reason, body=data)
        return data

    return parse_json(call(f"GET {path}", get), f"the cluster's {path}")


def issuer_documents(kubeconfig: str | None, context: str | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """The cluster's (discovery document, JWKS), as kube-apiserver serves them."""
    with api_client(kubeconfig, context) as client:
        discovery = get_json(client, DISCOVERY_PATH)
        jwks = get_json(client, JWKS_PATH)
    if not isinstance(discovery, dict):
        raise InputError(f"the cluster's {DISCOVERY_PATH}: not a JSON object")
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
        raise InputError(f"the cluster's {JWKS_PATH}: not a JWKS")
    return discovery, jwks


def request_token(
    *,
    namespace: str,
    name: str,
    audiences: Sequence[str],
    duration_seconds: int,
    kubeconfig: str | None = None,
    context: str | None = None,
) -> dict[str, Any]:
    """TokenRequest (as `kubectl create token`): {token, expirationTimestamp}."""
    from kubernetes import client

    body = client.AuthenticationV1TokenRequest(
        spec=client.V1TokenRequestSpec(audiences=list(audiences), expiration_seconds=duration_seconds)
    )
    with api_client(kubeconfig, context) as api:
        result = call(
            f"TokenRequest for {namespace}/{name}",
            lambda: client.CoreV1Api(api).create_namespaced_service_account_token(
                name, namespace, body, _request_timeout=REQUEST_TIMEOUT
            ),
        )
    if result.status is None:
        raise InputError(f"TokenRequest for {namespace}/{name} failed: the apiserver returned no status")
    expiration = result.status.expiration_timestamp
    return {
        "token": result.status.token,
        "expirationTimestamp": expiration.strftime("%Y-%m-%dT%H:%M:%SZ") if expiration else None,
    }


def review_token(
    token: str, *, audiences: Sequence[str] = (), kubeconfig: str | None = None, context: str | None = None
) -> dict[str, Any]:
    """TokenReview: the status the apiserver gives (authenticated, user, audiences, error)."""
    from kubernetes import client

    body = client.V1TokenReview(spec=client.V1TokenReviewSpec(token=token, audiences=list(audiences) or None))
    with api_client(kubeconfig, context) as api:
        result = call(
            "TokenReview",
            lambda: client.AuthenticationV1Api(api).create_token_review(
                body, _request_timeout=REQUEST_TIMEOUT
            ),
        )
        status: dict[str, Any] = api.sanitize_for_serialization(result.status) or {}
    return status
