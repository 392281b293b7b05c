"""Fixtures of the server tests: a CA, a ServiceAccount file, a running server, a client trusting the CA."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.server.support import SERVICEACCOUNTS, RunningServer, start_server
from webhook.certs import CertPaths, write_bundle


@pytest.fixture(scope="session")
def cert_bundle(tmp_path_factory: pytest.TempPathFactory) -> CertPaths:
    return write_bundle(
        tmp_path_factory.mktemp("certs"), extra_dns=["localhost"], ip_addresses=["127.0.0.1"], valid_days=2
    )


@pytest.fixture(scope="session")
def sa_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sa") / "serviceaccounts.yaml"
    path.write_text(SERVICEACCOUNTS)
    return path


@pytest.fixture(scope="module")
def server(cert_bundle: CertPaths, sa_file: Path) -> Iterator[RunningServer]:
    running = start_server(
        cert_bundle.cert, cert_bundle.key, cert_bundle.ca_cert, sa_file, excluded_namespaces=["kube-system"]
    )
    yield running
    running.stop()


@pytest.fixture
def client(server: RunningServer) -> Iterator[httpx.Client]:
    with server.client() as c:
        yield c
