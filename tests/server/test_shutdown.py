"""SIGTERM during load: readiness goes false at once, the server keeps answering (with `Connection: close`)
for --shutdown-delay while endpoints are withdrawn, finishes in-flight reviews, and exits 0 within its bound.
"""

from __future__ import annotations

import json
import signal
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.server.support import (
    ServeProcess,
    exchange,
    pod,
    read_response,
    review,
    ssl_context,
    start_serve_process,
)

DELAY = 3.0
DRAIN = 5.0


@pytest.fixture
def serve_process(tmp_path: Path, sa_file: Path) -> Iterator[ServeProcess]:
    process = start_serve_process(
        tmp_path,
        "--serviceaccounts",
        str(sa_file),
        "--shutdown-delay",
        str(DELAY),
        "--drain-timeout",
        str(DRAIN),
    )
    yield process
    process.stop()


def test_sigterm_during_load_fails_no_request(serve_process: ServeProcess) -> None:
    body = review(pod("vault"))
    failures: list[str] = []
    served_after_term: list[str] = []
    withdrawn = threading.Event()  # the endpoints controller removed us: clients stop sending
    unready_at: list[float] = []
    term_at: list[float] = []

    def load() -> None:
        with serve_process.client() as client:
            while not withdrawn.is_set():
                try:
                    response = client.post("/mutate", json=body)
                    if response.status_code != 200 or "patch" not in response.json()["response"]:
                        failures.append(f"{response.status_code}: {response.text[:200]}")
                    elif term_at:
                        served_after_term.append(response.headers.get("connection", ""))
                except httpx.HTTPError as exc:
                    failures.append(repr(exc))

    def probe() -> None:
        # What the kubelet's readiness probe plus endpoint propagation look like from outside.
        with serve_process.client() as client:
            while True:
                if client.get("/readyz").status_code == 503:
                    unready_at.append(time.monotonic())
                    time.sleep(0.5)
                    withdrawn.set()
                    return
                time.sleep(0.05)

    threads = [threading.Thread(target=load) for _ in range(4)] + [threading.Thread(target=probe)]
    for t in threads:
        t.start()
    time.sleep(1.0)
    term_at.append(time.monotonic())
    serve_process.popen.send_signal(signal.SIGTERM)
    code = serve_process.popen.wait(DELAY + DRAIN + 10)
    exited_at = time.monotonic()
    for t in threads:
        t.join(10)
    assert failures == []
    assert code == 0
    assert unready_at and unready_at[0] - term_at[0] < 1.0, "readiness must go false first"
    assert served_after_term, "the server must keep answering during the shutdown delay"
    assert "close" in served_after_term, "responses while draining must close keep-alive connections"
    assert DELAY - 0.5 <= exited_at - term_at[0] <= DELAY + DRAIN + 5
    messages = [line.get("msg") for line in serve_process.log_lines()]
    assert "signal received: draining" in messages and "stopped" in messages


def test_in_flight_review_finishes_after_the_listener_closes(serve_process: ServeProcess) -> None:
    payload = json.dumps(review(pod("vault"), uid="in-flight")).encode()
    context: ssl.SSLContext = ssl_context(serve_process.ca)
    raw = socket.create_connection(("127.0.0.1", serve_process.port), timeout=DELAY + DRAIN + 5)
    with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        head = "POST /mutate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        head += f"Content-Length: {len(payload)}\r\n\r\n"
        tls.sendall(head.encode() + payload[:100])
        serve_process.popen.send_signal(signal.SIGTERM)
        time.sleep(DELAY + 1.5)  # the listener is closed now; this review is still in flight
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", serve_process.port), timeout=2).close()
        tls.sendall(payload[100:])
        status, headers, body = read_response(tls)
    assert status == 200 and headers.get("connection") == "close"
    answer = json.loads(body)
    assert answer["response"]["uid"] == "in-flight" and answer["response"]["patch"]
    assert serve_process.popen.wait(DRAIN + 5) == 0


def test_review_on_an_idle_connection_just_after_the_listener_closes_is_answered(
    serve_process: ServeProcess,
) -> None:
    # The apiserver may pick an idle pooled connection as the listener closes; closing it under the
    # request would lose the review (Go does not retry a POST), so idle connections linger a moment.
    def send(tls: ssl.SSLSocket, uid: str) -> tuple[dict[str, str], dict]:
        status, headers, body = exchange(
            tls, "POST", "/mutate", json.dumps(review(pod("vault"), uid=uid)).encode()
        )
        assert status == 200, body
        return headers, json.loads(body)

    raw = socket.create_connection(("127.0.0.1", serve_process.port), timeout=DELAY + DRAIN + 5)
    with ssl_context(serve_process.ca).wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        headers, answer = send(tls, "before")
        assert headers.get("connection") != "close" and answer["response"]["uid"] == "before"
        serve_process.popen.send_signal(signal.SIGTERM)
        time.sleep(DELAY + 0.4)  # the listener has just closed; this connection sat idle throughout
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", serve_process.port), timeout=2).close()
        headers, answer = send(tls, "after-close")
    assert headers.get("connection") == "close"
    assert answer["response"]["uid"] == "after-close" and answer["response"]["patch"]
    assert serve_process.popen.wait(DRAIN + 5) == 0
