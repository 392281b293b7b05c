"""Clients that hold on to what the server gives: huge or endless heads, silence, slowness, many connections.

Each limit answers (or closes) the offending connection alone; everyone else is served as before.
"""

from __future__ import annotations

import json
import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.server.support import (
    RunningServer,
    exchange,
    pod,
    read_response,
    review,
    ssl_context,
    start_server,
)
from webhook.certs import CertPaths
from webhook.protocol import Limits

LIMITS = Limits()
HEAD = b"POST /mutate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"


def connect(server: RunningServer, timeout: float = 15) -> ssl.SSLSocket:
    raw = socket.create_connection(("127.0.0.1", server.port), timeout=timeout)
    return ssl_context(server.ca).wrap_socket(raw, server_hostname="127.0.0.1")


def closed_by_server(tls: ssl.SSLSocket) -> bytes:
    """Everything the server still sends until it closes the connection (raises on a read timeout)."""
    data = b""
    while True:
        try:
            chunk = tls.recv(65536)
        except (ConnectionResetError, ssl.SSLError):
            return data
        if not chunk:
            return data
        data += chunk


def test_a_head_over_the_limit_is_431_and_the_connection_closed(server: RunningServer) -> None:
    with connect(server) as tls:
        filler = b"X-Filler: " + b"a" * (LIMITS.max_head_bytes + 1) + b"\r\n"
        tls.sendall(HEAD + filler + b"Content-Length: 2\r\n\r\n{}")
        answer = closed_by_server(tls)
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
    body = json.loads(answer.partition(b"\r\n\r\n")[2])
    assert body["code"] == 431 and str(LIMITS.max_head_bytes) in body["error"]


def test_an_endless_header_is_cut_off_after_the_limit(server: RunningServer) -> None:
    # 80 MiB headers made other reviews wait seconds and took hundreds of MiB: the server must stop
    # reading once the limit is passed, long before the client is done sending.
    sent = 0
    started = time.monotonic()
    with connect(server) as tls:
        tls.sendall(HEAD + b"X-Endless: ")
        with pytest.raises(OSError):  # broken pipe / reset once the server has closed
            while sent < 64 * 1024 * 1024:
                tls.sendall(b"a" * 65536)
                sent += 65536
    assert time.monotonic() - started < 5, f"{sent} bytes of one header taken"


def test_too_many_headers_is_431(server: RunningServer) -> None:
    many = b"".join(b"X-H%d: 1\r\n" % i for i in range(LIMITS.max_headers + 1))
    with connect(server) as tls:
        tls.sendall(HEAD + many + b"Content-Length: 2\r\n\r\n{}")
        answer = closed_by_server(tls)
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
    assert f"more than {LIMITS.max_headers} request headers".encode() in answer


def test_the_apiserver_head_size_is_well_within_the_limits(client: httpx.Client) -> None:
    # What the apiserver sends, and then some: a long path and a few dozen headers still pass.
    headers = {f"x-extra-{i}": "v" * 40 for i in range(50)}
    response = client.post("/mutate?timeout=10s&" + "a" * 2000, json=review(pod("vault")), headers=headers)
    assert response.status_code == 200 and response.json()["response"]["patch"]


@pytest.mark.timeout(60)
def test_silent_slow_and_stalled_connections_are_closed(server: RunningServer, client: httpx.Client) -> None:
    """Slowloris: without these timeouts ~240 half-sent requests exhausted the descriptors for good."""
    payload = json.dumps(review(pod("vault"))).encode()
    silent = connect(server)  # TLS done, never a byte
    half_head = connect(server)
    half_head.sendall(HEAD[:30])
    half_body = connect(server)
    half_body.sendall(HEAD + f"Content-Length: {len(payload)}\r\n\r\n".encode() + payload[:50])
    trickle = connect(server)  # a byte every second: each arrival alone would reset an idle timer
    started = time.monotonic()
    trickle_answer = b""
    try:
        for byte in HEAD[: int(LIMITS.request_timeout) + 3]:
            trickle.sendall(bytes([byte]))
            time.sleep(1)
    except OSError:
        pass
    else:
        trickle_answer = closed_by_server(trickle)
    answers = {name: closed_by_server(tls) for name, tls in [("silent", silent), ("half_head", half_head)]}
    answers["half_body"] = closed_by_server(half_body)
    waited = time.monotonic() - started
    for tls in (silent, half_head, half_body, trickle):
        tls.close()
    assert answers["silent"] == b""  # nothing was asked: closed without an answer
    assert answers["half_head"].startswith(b"HTTP/1.1 408 "), answers["half_head"][:100]
    assert answers["half_body"].startswith(b"HTTP/1.1 408 "), answers["half_body"][:100]
    assert trickle_answer == b"" or trickle_answer.startswith(b"HTTP/1.1 408 ")
    assert waited < LIMITS.request_timeout + 8
    assert client.post("/mutate", json=review(pod("vault"))).status_code == 200
    metrics = client.get("/metrics").text
    assert 'webhook_connection_limits_total{limit="first_byte_timeout"}' in metrics
    assert 'webhook_connection_limits_total{limit="request_timeout"}' in metrics


@pytest.fixture
def small_server(cert_bundle: CertPaths, sa_file: Path) -> Iterator[RunningServer]:
    limits = Limits(max_connections=20, first_byte_timeout=30, request_timeout=30)
    running = start_server(cert_bundle.cert, cert_bundle.key, cert_bundle.ca_cert, sa_file, limits=limits)
    yield running
    running.stop()


def test_at_the_connection_cap_idle_connections_make_room(
    small_server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    payload = json.dumps(review(pod("vault"))).encode()
    with connect(small_server) as worker:  # a client in the middle of a request is never the one closed
        worker.sendall(HEAD + f"Content-Length: {len(payload)}\r\n\r\n".encode() + payload[:10])
        time.sleep(0.2)
        idle = [connect(small_server) for _ in range(30)]  # past the cap, silent or slow
        for tls in idle[::2]:
            tls.sendall(HEAD[:20])
        with connect(small_server) as late:  # the apiserver's next connection still gets in
            status, _, body = exchange(late, "POST", "/mutate", payload)
            assert status == 200 and json.loads(body)["response"]["patch"]
        worker.sendall(payload[10:])
        status, _, _ = read_response(worker)
        assert status == 200
    open_ones = 0
    for tls in idle:
        tls.settimeout(0.5)
        try:
            open_ones += tls.recv(1) != b""  # b"" once closed
        except TimeoutError:
            open_ones += 1
        except OSError:
            pass
        tls.close()
    assert open_ones <= 20
    warnings = [r for r in caplog.records if r.getMessage().startswith("connection limit reached")]
    assert 1 <= len(warnings) <= 2, "one clear line when the cap is reached, not one per connection"
    with small_server.client() as client:
        assert (
            'webhook_connection_limits_total{limit="max_connections_idle_closed"}'
            in client.get("/metrics").text
        )


def test_when_every_connection_is_busy_new_ones_are_refused(small_server: RunningServer) -> None:
    busy = []
    for _ in range(20):
        tls = connect(small_server)
        tls.sendall(HEAD + b"Content-Length: 100\r\n\r\n{")  # mid-body: the app has its request
        busy.append(tls)
    time.sleep(0.3)
    with pytest.raises(OSError), connect(small_server) as refused:
        refused.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        if not refused.recv(100):
            raise ConnectionResetError("closed")
    for tls in busy:
        tls.close()
    time.sleep(0.3)
    with small_server.client() as client:
        assert client.get("/healthz").status_code == 200
        assert 'webhook_connection_limits_total{limit="max_connections"}' in client.get("/metrics").text
