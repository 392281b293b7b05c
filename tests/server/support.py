"""Helpers of the server tests: reviews, pods, and a real uvicorn + TLS server on 127.0.0.1 in a thread."""

from __future__ import annotations

import contextlib
import copy
import ctypes
import json
import os
import signal
import socket
import ssl
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests import common
from tests.common import WEBHOOK_BIN
from webhook.metrics import Metrics
from webhook.server import CertReloader, ServerState, ServeSettings, bind_socket, create_app, uvicorn_server
from webhook.serviceaccounts import StaticFileSource

SERVICEACCOUNTS = """\
apiVersion: v1
kind: ServiceAccount
metadata:
  name: vault
  namespace: default
  annotations:
    projected-token.io/audience: vault
    projected-token.io/expiration-seconds: "7200"
    projected-token.io/path: oidc-token
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: default
  namespace: team-a
  annotations:
    projected-token.io/audience: team-a
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: plain
  namespace: default
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: broken
  namespace: default
  annotations:
    projected-token.io/audience: x
    projected-token.io/expiration-seconds: "12"
    projected-token.io/path: ../escape
"""


def pod(
    sa: str | None = "vault", namespace: str | None = None, name: str | None = None, **metadata: Any
) -> dict[str, Any]:
    """A pod as a Deployment's ReplicaSet sends it: generateName, no name, often no namespace."""
    return common.pod(
        {"name": "app", "image": "registry.example/app:1"},
        name=name,
        generate_name="app-7d9c-",
        namespace=namespace,
        serviceaccount=sa,
        **metadata,
    )


def review(
    obj: Any = None,
    *,
    namespace: str = "default",
    operation: str = "CREATE",
    kind: str = "Pod",
    uid: str | None = None,
    dry_run: bool = False,
) -> dict[str, Any]:
    resource = {"Pod": "pods", "Deployment": "deployments"}.get(kind, kind.lower() + "s")
    group = "apps" if kind == "Deployment" else ""
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid or str(uuid.uuid4()),
            "kind": {"group": group, "version": "v1", "kind": kind},
            "resource": {"group": group, "version": "v1", "resource": resource},
            "requestKind": {"group": group, "version": "v1", "kind": kind},
            "requestResource": {"group": group, "version": "v1", "resource": resource},
            "namespace": namespace,
            "operation": operation,
            "userInfo": {"username": "system:serviceaccount:kube-system:replicaset-controller"},
            "object": copy.deepcopy(obj) if obj is not None else pod(),
            "oldObject": None,
            "dryRun": dry_run,
            "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"},
        },
    }


@dataclass
class RunningServer:
    url: str
    port: int
    ca: Path
    metrics: Metrics
    state: ServerState
    source: Any
    tls: CertReloader
    server: Any
    thread: threading.Thread

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, verify=ssl_context(self.ca), timeout=10, **kwargs)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(15)


def ssl_context(ca: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ca))


def start_server(
    cert: Path,
    key: Path,
    ca: Path,
    sa_file: Path | None,
    source: Any = None,
    metrics: Metrics | None = None,
    **overrides: Any,
) -> RunningServer:
    """uvicorn + the app in a thread with its own (uvloop) event loop, as `webhook serve` runs them."""
    settings = ServeSettings(
        host="127.0.0.1",
        port=0,
        tls_cert=cert,
        tls_key=key,
        serviceaccounts=sa_file,
        **overrides,
    )
    metrics = metrics or Metrics()
    tls = CertReloader(cert, key)
    if source is None:
        assert sa_file is not None
        source = StaticFileSource(
            sa_file, poll_interval=settings.serviceaccounts_reload_interval, hooks=metrics
        )
    state = ServerState()
    app = create_app(settings, source, metrics=metrics, tls=tls, state=state)
    sock = bind_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    server = uvicorn_server(app, settings, tls, state)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("test server did not start")
        time.sleep(0.02)
    return RunningServer(f"https://127.0.0.1:{port}", port, ca, metrics, state, source, tls, server, thread)


@contextlib.contextmanager
def tls_socket(server: RunningServer, timeout: float = 5) -> Iterator[ssl.SSLSocket]:
    """A raw TLS connection to the server, for byte-level HTTP."""
    raw = socket.create_connection(("127.0.0.1", server.port), timeout=timeout)
    with ssl_context(server.ca).wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        yield tls


@dataclass
class ServeProcess:
    """`webhook serve` as a subprocess (its own core, its own signals), logs in a file."""

    popen: subprocess.Popen[bytes]
    log: Path
    port: int
    ca: Path

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, verify=ssl_context(self.ca), timeout=10, **kwargs)

    def log_lines(self) -> list[dict[str, Any]]:
        lines = []
        for line in self.log.read_text().splitlines():
            with contextlib.suppress(ValueError):
                lines.append(json.loads(line))
        return lines

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait(10)


def _die_with_parent() -> None:
    """Linux: the server gets SIGKILL if the test process dies, so no orphan keeps a port."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def start_serve_process(workdir: Path, *args: str, env: dict[str, str] | None = None) -> ServeProcess:
    """Run `webhook serve --self-signed` on 127.0.0.1 with a free port; wait until /readyz says ok."""
    log = workdir / "serve.log"
    argv = [str(WEBHOOK_BIN), "serve", "--self-signed", "--certs-dir", str(workdir / "certs")]
    argv += ["--host", "127.0.0.1", "--port", "0", *args]
    with log.open("wb") as out:
        popen = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}
        )
    deadline = time.monotonic() + 30
    port = 0
    while not port:
        if popen.poll() is not None or time.monotonic() > deadline:
            popen.kill()
            raise RuntimeError(f"webhook serve did not start:\n{log.read_text()[-2000:]}")
        for line in log.read_text().splitlines():
            if '"msg":"serving"' in line:
                port = json.loads(line)["port"]
        time.sleep(0.05)
    process = ServeProcess(popen, log, port, workdir / "certs" / "ca.crt")
    with process.client() as client:
        while True:
            with contextlib.suppress(httpx.TransportError):
                if client.get("/readyz").status_code == 200:
                    return process
            if time.monotonic() > deadline:
                process.stop()
                raise RuntimeError(f"webhook serve not ready:\n{log.read_text()[-2000:]}")
            time.sleep(0.05)


def exchange(
    tls: ssl.SSLSocket, method: str, path: str, body: bytes = b""
) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 request on an open connection; returns status, headers (lower-case) and body."""
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    if body:
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    tls.sendall(head.encode() + b"\r\n" + body)
    return read_response(tls)


def read_response(tls: ssl.SSLSocket) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 response with a Content-Length body: status, headers (lower-case) and body."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = tls.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the connection")
        data += chunk
    raw_head, _, rest = data.partition(b"\r\n\r\n")
    lines = raw_head.decode().split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = tls.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the connection mid-response")
        rest += chunk
    return int(lines[0].split()[1]), headers, rest
