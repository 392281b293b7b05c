"""Bad input never crashes or hangs: clear HTTP errors with a JSON body, or a well-formed denial."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from tests.server.support import RunningServer, pod, review, tls_socket
from webhook.admission import MAX_BODY_BYTES


def error_of(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == status
    return body["error"]


def test_wrong_content_type_is_415(client: httpx.Client) -> None:
    body = json.dumps(review()).encode()
    for content_type in ("text/plain", "application/yaml", "application/x-www-form-urlencoded"):
        message = error_of(client.post("/mutate", content=body, headers={"content-type": content_type}), 415)
        assert "application/json" in message and content_type in message
    error_of(client.post("/mutate", content=body), 415)  # no content type at all
    ok = client.post("/mutate", content=body, headers={"content-type": "application/json; charset=utf-8"})
    assert ok.status_code == 200


def test_oversized_body_is_413_before_it_is_read(client: httpx.Client) -> None:
    big = b'{"x":"' + b"a" * MAX_BODY_BYTES + b'"}'
    response = client.post("/mutate", content=big, headers={"content-type": "application/json"})
    assert "exceeds" in error_of(response, 413)
    assert response.headers.get("connection") == "close"


def test_oversized_chunked_body_is_413(client: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"x":"'
        for _ in range(MAX_BODY_BYTES // 65536 + 2):
            yield b"a" * 65536
        yield b'"}'

    response = client.post("/mutate", content=chunks(), headers={"content-type": "application/json"})
    assert "exceeds" in error_of(response, 413)


def test_announced_size_over_limit_is_refused_without_sending_the_body(server: RunningServer) -> None:
    # Only the headers go out: the server must answer 413 at once instead of waiting for 3 MiB.
    with tls_socket(server) as tls:
        tls.sendall(
            b"POST /mutate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {MAX_BODY_BYTES + 1}\r\n\r\n".encode()
        )
        head = tls.recv(65536)
    assert head.startswith(b"HTTP/1.1 413")


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (b"", "not valid JSON"),
        (b"[]", "JSON object"),
        (b"null", "JSON object"),
        (b'{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}', "no request"),
        (b'{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":[]}', "no request"),
        (b'{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{}}', "uid"),
        (b'{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":7}}', "uid"),
        (b'{"apiVersion":"v1","kind":"AdmissionReview","request":{"uid":"a"}}', "apiVersion"),
        (b'{"apiVersion":"admission.k8s.io/v1","kind":"Pod","request":{"uid":"a"}}', "kind"),
    ],
)
def test_unreadable_reviews_are_400_with_a_reason(client: httpx.Client, body: bytes, needle: str) -> None:
    response = client.post("/mutate", content=body, headers={"content-type": "application/json"})
    assert needle in error_of(response, 400)


def test_wrong_method_and_path(client: httpx.Client) -> None:
    assert client.get("/mutate").status_code == 405
    assert client.post("/validate", json=review()).status_code == 404


def test_malformed_pods_are_denied_naming_the_field(client: httpx.Client) -> None:
    cases = {
        "spec.containers[0] must be an object": {"spec": {"containers": ["app"]}},
        "metadata.annotations['a'] must be a string": {
            "metadata": {"annotations": {"a": 1}},
            "spec": {"containers": []},
        },
        "spec.volumes must be an array": {"spec": {"containers": [], "volumes": {"a": 1}}},
        "spec.serviceAccountName must be a string": {"spec": {"containers": [], "serviceAccountName": 5}},
    }
    for needle, obj in cases.items():
        response = client.post("/mutate", json=review(obj)).json()["response"]
        assert response["allowed"] is False
        assert needle in response["status"]["message"], response["status"]["message"]


def test_server_survives_a_client_that_disconnects_mid_body(
    server: RunningServer, client: httpx.Client
) -> None:
    with tls_socket(server) as tls:
        tls.sendall(b"POST /mutate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n")
        tls.sendall(b"Content-Length: 100\r\n\r\n{")
    assert client.post("/mutate", json=review(pod("vault"))).status_code == 200
    text = client.get("/metrics").text
    assert 'webhook_bad_requests_total{code="415"}' in text
