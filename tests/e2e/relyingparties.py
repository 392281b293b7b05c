"""The real relying parties on loopback: a Vault dev server, OAuth2-Proxy, and a tiny upstream behind it.

The binaries come from hack/relying-parties.sh (pointer file in the cache, or RELYING_PARTIES_DIR).
"""

from __future__ import annotations

import json
import os
import threading
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.e2e.controlplane import Process, free_port, spawn, tail
from tests.e2e.support import wait_for

POINTER_FILE = (
    Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    / "projected-token-webhook"
    / "relying-parties"
    / "current"
)


def find_binary(name: str) -> tuple[Path | None, str]:
    """The path of `vault` or `oauth2-proxy`, or (None, one-line reason)."""
    folder = os.environ.get("RELYING_PARTIES_DIR") or (
        POINTER_FILE.read_text().strip() if POINTER_FILE.is_file() else ""
    )
    if not folder:
        return None, "relying parties not built: run `make relying-parties`"
    path = Path(folder) / name
    if not os.access(path, os.X_OK):
        return None, f"no {name} in {folder}: run `make relying-parties`"
    return path, ""


def http(
    method: str, url: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], Any]:
    """One plain-HTTP request on loopback: (status, headers, JSON body or text)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, raw, got = response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as exc:
        status, raw, got = exc.code, exc.read(), dict(exc.headers)
    try:
        return status, got, json.loads(raw) if raw else None
    except ValueError:
        return status, got, raw.decode(errors="replace")


def _reachable(url: str) -> bool:
    try:
        return http("GET", url)[0] == 200
    except OSError:
        return False


@dataclass
class Vault:
    """`vault server -dev` on loopback (in-memory, unsealed, a known root token)."""

    binary: Path
    process: Process
    address: str
    root_token: str

    @classmethod
    def start(cls, binary: Path, workdir: Path) -> Vault:
        workdir.mkdir(parents=True, exist_ok=True)
        address, token = f"127.0.0.1:{free_port()}", "e2e-root"
        argv = [
            binary, "server", "-dev", f"-dev-listen-address={address}", f"-dev-root-token-id={token}",
            "-dev-no-store-token",
        ]  # fmt: skip
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(workdir)}
        vault = cls(binary, spawn("vault", argv, workdir / "vault.log", env=env), f"http://{address}", token)
        try:
            wait_for("vault to be ready", lambda: vault.ready(), timeout=60)
        except AssertionError:
            vault.stop()
            raise AssertionError("vault did not start:\n" + tail(vault.process.log)) from None
        return vault

    def ready(self) -> bool:
        if not self.process.alive():
            raise AssertionError("vault exited:\n" + tail(self.process.log))
        return _reachable(self.address + "/v1/sys/health")

    def cli_env(self) -> dict[str, str]:
        """Environment for the vault CLI (and `webhook vault ... | sh`) against this server."""
        return {
            "PATH": f"{self.binary.parent}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            "HOME": str(self.process.log.parent),
            "VAULT_ADDR": self.address,
            "VAULT_TOKEN": self.root_token,
        }

    def api(self, method: str, path: str, body: Any = None, *, token: str | None = None) -> tuple[int, Any]:
        headers = {"X-Vault-Token": token} if token else {}
        status, _, payload = http(method, f"{self.address}/v1/{path}", body, headers)
        return status, payload

    def login(self, mount: str, role: str, jwt: str) -> tuple[int, Any]:
        return self.api("POST", f"auth/{mount}/login", {"role": role, "jwt": jwt})

    def diagnostics(self) -> str:
        return f"--- vault ({self.process.log}) ---\n{tail(self.process.log)}"

    def stop(self) -> None:
        self.process.stop()


class _Echo(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({"path": self.path, "headers": dict(self.headers)}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class EchoUpstream:
    """The service behind the proxy: answers every GET with the request headers it saw."""

    def __init__(self) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class OAuth2Proxy:
    process: Process
    url: str

    @classmethod
    def start(cls, binary: Path, workdir: Path, args: Sequence[str], upstream: str) -> OAuth2Proxy:
        workdir.mkdir(parents=True, exist_ok=True)
        address = f"127.0.0.1:{free_port()}"
        argv = [binary, *args, f"--http-address={address}", f"--upstream={upstream}"]
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(workdir)}
        proxy = cls(spawn("oauth2-proxy", argv, workdir / "oauth2-proxy.log", env=env), f"http://{address}")
        try:
            wait_for("oauth2-proxy to answer /ping", lambda: proxy.ready(), timeout=60)
        except AssertionError:
            proxy.stop()
            raise AssertionError("oauth2-proxy did not start:\n" + tail(proxy.process.log)) from None
        return proxy

    def ready(self) -> bool:
        if not self.process.alive():
            raise AssertionError("oauth2-proxy exited:\n" + tail(self.process.log))
        return _reachable(self.url + "/ping")

    def get(self, path: str = "/", token: str | None = None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        status, _, body = http("GET", self.url + path, headers=headers)
        return status, body

    def diagnostics(self) -> str:
        return f"--- oauth2-proxy ({self.process.log}) ---\n{tail(self.process.log)}"

    def stop(self) -> None:
        self.process.stop()
