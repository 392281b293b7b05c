"""Certificate rotation under continuous load: the kubelet's `..data` symlink swap and plain file rewrites.

Clients keep opening new connections (new handshakes) while the serving certificate changes underneath;
not one request may fail, and new connections must see the new certificate within a few reload intervals.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509

from tests.server.support import RunningServer, pod, review, ssl_context, start_server, tls_socket
from webhook.certs import generate_ca, generate_serving, pem_cert, pem_key


class Secret:
    """A directory laid out as the kubelet mounts a Secret: files are symlinks through `..data`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.ca_key, self.ca_cert = generate_ca("rotation-test-ca")
        self.ca = root.parent / f"{root.name}-ca.crt"
        self.ca.write_bytes(pem_cert(self.ca_cert))
        self.generation = 0
        root.mkdir()
        self.serial = self.swap()
        for name in ("tls.crt", "tls.key"):
            (root / name).symlink_to(f"..data/{name}")

    def pair(self) -> tuple[bytes, bytes, int]:
        key, cert = generate_serving(self.ca_key, self.ca_cert, ["localhost"], ["127.0.0.1"], valid_days=1)
        return pem_cert(cert), pem_key(key), cert.serial_number

    def swap(self) -> int:
        """What the kubelet does: write a new timestamped dir, then atomically repoint `..data`."""
        self.generation += 1
        cert, key, serial = self.pair()
        new = self.root / f"..2026_11_22_00_00_{self.generation:02d}.000000001"
        new.mkdir()
        (new / "tls.crt").write_bytes(cert)
        (new / "tls.key").write_bytes(key)
        tmp = self.root / "..data_tmp"
        tmp.symlink_to(new.name)
        old = (self.root / "..data").resolve() if (self.root / "..data").exists() else None
        os.replace(tmp, self.root / "..data")
        if old is not None:
            for f in old.iterdir():
                f.unlink()
            old.rmdir()
        return serial

    def rewrite_in_place(self) -> int:
        """A naive writer: key first, a pause (a reloader sees a mismatched pair), then the certificate."""
        cert, key, serial = self.pair()
        data = (self.root / "..data").resolve()
        (data / "tls.key").write_bytes(key)
        time.sleep(0.5)
        (data / "tls.crt").write_bytes(cert)
        return serial


def served_serial(server: RunningServer) -> int:
    with tls_socket(server) as tls:
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number


@pytest.fixture
def rotating(tmp_path: Path, sa_file: Path) -> Iterator[tuple[Secret, RunningServer]]:
    secret = Secret(tmp_path / "secret")
    server = start_server(
        secret.root / "tls.crt", secret.root / "tls.key", secret.ca, sa_file, cert_reload_interval=0.2
    )
    yield secret, server
    server.stop()


def test_rotation_under_load_fails_no_request(rotating: tuple[Secret, RunningServer]) -> None:
    secret, server = rotating
    assert served_serial(server) == secret.serial
    stop = threading.Event()
    failures: list[str] = []
    done = [0]
    body = review(pod("vault"))

    def load() -> None:
        context = ssl_context(server.ca)
        while not stop.is_set():
            # A fresh connection every few requests: handshakes keep happening during the swaps.
            with httpx.Client(base_url=server.url, verify=context, timeout=10) as client:
                for _ in range(3):
                    try:
                        response = client.post("/mutate", json=body)
                        if response.status_code != 200 or "patch" not in response.json()["response"]:
                            failures.append(f"{response.status_code}: {response.text[:200]}")
                    except httpx.HTTPError as exc:
                        failures.append(repr(exc))
                    done[0] += 1

    threads = [threading.Thread(target=load) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        serials = [secret.serial]
        for rotate in (secret.swap, secret.swap, secret.rewrite_in_place, secret.swap):
            before = done[0]
            serial = rotate()
            deadline = time.monotonic() + 10
            while served_serial(server) != serial:
                assert time.monotonic() < deadline, "the new certificate was not picked up"
                time.sleep(0.1)
            serials.append(serial)
            while done[0] < before + 50:  # keep the load going across each swap
                time.sleep(0.05)
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert failures == []
    assert len(set(serials)) == 5
    assert done[0] >= 200
    metrics = httpx.get(server.url + "/metrics", verify=ssl_context(server.ca)).text
    ok = next(
        line
        for line in metrics.splitlines()
        if line.startswith('webhook_certificate_reloads_total{result="ok"}')
    )
    assert float(ok.split()[-1]) >= 4
