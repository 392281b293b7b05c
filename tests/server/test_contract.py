"""The admission contract against a real server over TLS: echo, patch, skips, denials, endpoints."""

from __future__ import annotations

import base64
import json
import re
import ssl
from typing import Any

import httpx
import jsonpatch
import pytest

from tests.server.support import RunningServer, pod, review, ssl_context, tls_socket


def post(client: httpx.Client, body: dict[str, Any], path: str = "/mutate?timeout=10s") -> dict[str, Any]:
    response = client.post(path, json=body)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    answer = response.json()
    assert answer["apiVersion"] == body["apiVersion"]
    assert answer["kind"] == "AdmissionReview"
    assert answer["response"]["uid"] == body["request"]["uid"]
    return answer["response"]


def patch_of(response: dict[str, Any]) -> list[dict[str, Any]]:
    assert response["patchType"] == "JSONPatch"
    return json.loads(base64.b64decode(response["patch"]))


def test_pod_create_gets_a_patch_that_applies_and_is_idempotent(client: httpx.Client) -> None:
    body = review(pod("vault"))
    response = post(client, body)
    assert response["allowed"] is True
    ops = patch_of(response)
    patched = jsonpatch.apply_patch(body["request"]["object"], ops)
    volumes = patched["spec"]["volumes"]
    sources = [s["serviceAccountToken"] for v in volumes for s in v["projected"]["sources"]]
    assert sources == [{"audience": "vault", "expirationSeconds": 7200, "path": "oidc-token"}]
    container = patched["spec"]["containers"][0]
    assert {"name": "TOKEN_FILE", "value": "/var/run/secrets/tokens/oidc-token"} in container["env"]
    assert any(
        m["mountPath"] == "/var/run/secrets/tokens" and m["readOnly"] for m in container["volumeMounts"]
    )
    # Reinvocation: the patched pod comes back and must not change again.
    again = post(client, review(patched))
    assert again["allowed"] is True
    assert "patch" not in again and "patchType" not in again


def test_timeout_query_is_ignored_and_path_is_routed(client: httpx.Client) -> None:
    for path in ("/mutate", "/mutate?timeout=30s", "/mutate?timeout=1s&x=y"):
        assert "patch" in post(client, review(pod("vault")), path)


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"operation": "UPDATE"}, "updates are not mutated"),
        ({"operation": "DELETE"}, "deletes are not mutated"),
        ({"kind": "Deployment"}, "only pods are mutated"),
        ({"namespace": "kube-system"}, "excluded namespace"),
    ],
)
def test_anything_but_a_pod_create_is_allowed_unchanged(
    client: httpx.Client, changes: dict[str, Any], why: str
) -> None:
    response = post(client, review(pod("vault"), **changes))
    assert response["allowed"] is True, why
    assert "patch" not in response, why


def test_pod_subresource_is_not_mutated(client: httpx.Client) -> None:
    body = review(pod("vault"))
    body["request"]["subResource"] = "ephemeralcontainers"
    body["request"]["operation"] = "UPDATE"
    assert "patch" not in post(client, body)


def test_dry_run_gets_the_same_answer(client: httpx.Client) -> None:
    wet = post(client, review(pod("vault"), uid="wet"))
    dry = post(client, review(pod("vault"), uid="dry", dry_run=True))
    assert patch_of(dry) == patch_of(wet)


def test_missing_serviceaccount_name_means_default_and_namespace_comes_from_the_request(
    client: httpx.Client,
) -> None:
    # The object has no namespace (ReplicaSet-created pod); team-a's default SA carries an audience.
    response = post(client, review(pod(sa=None), namespace="team-a"))
    ops = patch_of(response)
    assert "team-a" in json.dumps(ops)


def test_missing_serviceaccount_is_no_mutation_plus_a_warning(client: httpx.Client) -> None:
    response = post(client, review(pod("ghost")))
    assert response["allowed"] is True
    assert "patch" not in response
    assert any("ghost" in w and "not found" in w for w in response["warnings"])
    assert all(len(w) <= 120 for w in response["warnings"])


def test_serviceaccount_without_annotations_is_left_alone(client: httpx.Client) -> None:
    response = post(client, review(pod("plain")))
    assert response["allowed"] is True and "patch" not in response


def test_invalid_annotations_are_denied_with_every_problem_named(client: httpx.Client) -> None:
    response = post(client, review(pod("broken")))
    assert response["allowed"] is False
    assert "patch" not in response
    status = response["status"]
    assert status["code"] == 400
    assert "expiration-seconds" in status["message"]
    assert "path" in status["message"] and ".." in status["message"]


def test_pod_annotation_conflict_is_denied(client: httpx.Client) -> None:
    # A container already mounts another volume at the token directory: a conflict, not a silent skip.
    conflicting = pod("vault")
    conflicting["spec"]["volumes"] = [{"name": "other", "emptyDir": {}}]
    conflicting["spec"]["containers"][0]["volumeMounts"] = [
        {"name": "other", "mountPath": "/var/run/secrets/tokens"}
    ]
    response = post(client, review(conflicting))
    assert response["allowed"] is False
    assert response["status"]["code"] == 400
    assert "app" in response["status"]["message"]


def test_malformed_pod_is_a_well_formed_denial(client: httpx.Client) -> None:
    for broken in (
        [],
        "pod",
        {"spec": []},
        {"spec": {"containers": {"name": "x"}}},
        {"metadata": 3, "spec": {}},
    ):
        response = post(client, review(broken))
        assert response["allowed"] is False
        assert response["status"]["code"] == 400
        assert response["status"]["message"]


def test_health_readiness_and_metrics(client: httpx.Client, server: RunningServer) -> None:
    post(client, review(pod("vault")))
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200
    text = client.get("/metrics").text
    assert 'webhook_admissions_total{dialect="generic",outcome="mutated"}' in text
    assert "webhook_admission_duration_seconds_bucket" in text
    assert 'le="0.001"' in text
    assert "webhook_serviceaccount_cache_size 4.0" in text
    assert "webhook_certificate_expiry_seconds" in text
    expiry = next(
        line for line in text.splitlines() if line.startswith("webhook_certificate_expiry_seconds ")
    )
    assert 86400 < float(expiry.split()[1]) <= 2 * 86400


def test_decision_log_is_one_json_line_without_secrets(
    client: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    from webhook.logs import JsonFormatter

    with caplog.at_level("INFO", logger="webhook.decision"):
        post(client, review(pod("vault", name="web-0"), uid="log-me"))
    records = [r for r in caplog.records if getattr(r, "uid", None) == "log-me"]
    assert len(records) == 1
    line = JsonFormatter().format(records[0])
    entry = json.loads(line)
    assert "\n" not in line
    assert entry["namespace"] == "default" and entry["pod"] == "web-0" and entry["serviceaccount"] == "vault"
    assert entry["outcome"] == "mutated" and entry["duration_ms"] >= 0
    assert "containers" not in line and "registry.example" not in line


def test_tls_12_minimum_and_http11(server: RunningServer) -> None:
    # The local OpenSSL may refuse TLS 1.1 on the client side too, so check the server's floor directly.
    assert server.tls.context.minimum_version == ssl.TLSVersion.TLSv1_2
    tls12 = ssl_context(server.ca)
    tls12.maximum_version = ssl.TLSVersion.TLSv1_2
    with httpx.Client(verify=tls12) as c:
        response = c.get(server.url + "/healthz")
    assert response.status_code == 200 and response.http_version == "HTTP/1.1"
    with tls_socket(server) as tls:
        assert tls.version() == "TLSv1.3"


def test_certificate_is_verified_against_the_ca(server: RunningServer, tmp_path: Any) -> None:
    from webhook.certs import write_bundle

    other = write_bundle(tmp_path, ip_addresses=["127.0.0.1"])
    with pytest.raises(httpx.ConnectError), httpx.Client(verify=ssl_context(other.ca_cert)) as c:
        c.get(server.url + "/healthz")


def test_non_ascii_digits_in_an_annotation_are_a_denial_not_a_500(client: httpx.Client) -> None:
    # Found by the fuzz test: "¹".isdigit() is True but int("¹") raises; the user needs a 400 naming the key.
    odd = pod("vault", annotations={"projected-token.io/expiration-seconds": "\u00b9"})
    response = client.post("/mutate", json=review(odd))
    assert response.status_code == 200, response.text
    answer = response.json()["response"]
    assert answer["allowed"] is False and answer["status"]["code"] == 400
    assert "expiration-seconds" in answer["status"]["message"]


# Non-ASCII and DEL turn the direct line's orjson path away (the stdlib escapes them); a newline both escape.
@pytest.mark.parametrize("pod", ["p", "wéb", "a\x7fb", "line\nbreak"])
def test_decision_log_direct_line_is_the_formatters_line(pod: str) -> None:
    """With configure()'s one JSON handler, decision lines skip the LogRecord: the same fields."""
    import io
    import logging

    from webhook import logs

    webhook_logger = logging.getLogger(logs.LOGGER_NAME)
    saved = (webhook_logger.handlers[:], webhook_logger.level, webhook_logger.propagate)
    try:
        direct = io.StringIO()
        logs.configure("info", direct)
        fields = dict(uid="u-1", namespace="ns", pod=pod, serviceaccount="sa", outcome="denied")
        logs.decision(**fields, duration_ms=1.23456, dry_run=True, dialects=("eks",), reason="x" * 600)
        via_record = io.StringIO()
        logs.configure("info", via_record)
        webhook_logger.handlers[0].addFilter(lambda record: True)  # any filter: the stdlib path
        logs.decision(**fields, duration_ms=1.23456, dry_run=True, dialects=("eks",), reason="x" * 600)
        first, second = json.loads(direct.getvalue()), json.loads(via_record.getvalue())
        assert direct.getvalue().count("\n") == 1 and direct.getvalue().isascii()
        # Byte for byte but the timestamp (taken twice): the escapes are the formatter's too.
        undated = [re.sub(r'"time":"[^"]*"', "", out.getvalue()) for out in (direct, via_record)]
        assert undated[0] == undated[1]
        assert first.pop("time")[:10] == second.pop("time")[:10]
        assert list(first.items()) == list(second.items())
        assert first["reason"] == "x" * 500 and first["duration_ms"] == 1.235 and first["level"] == "info"
        logs.configure("warning", direct)
        logs.decision(**fields, duration_ms=1.0)  # below the level: nothing
        assert direct.getvalue().count("\n") == 1
    finally:
        webhook_logger.handlers[:], webhook_logger.level, webhook_logger.propagate = saved
