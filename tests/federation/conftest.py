"""Keys, CAs and tokens generated per test session (never committed), and a CLI runner."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tests.federation.support import TokenFactory
from webhook.certs import generate_ca, pem_cert
from webhook.cli import main


@pytest.fixture(scope="session")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def ec_keys() -> dict[str, ec.EllipticCurvePrivateKey]:
    return {
        "ES256": ec.generate_private_key(ec.SECP256R1()),
        "ES384": ec.generate_private_key(ec.SECP384R1()),
        "ES512": ec.generate_private_key(ec.SECP521R1()),
    }


@pytest.fixture(scope="session")
def ca_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    _, cert = generate_ca("federation-test-ca")
    path = tmp_path_factory.mktemp("ca") / "ca.crt"
    path.write_bytes(pem_cert(cert))
    return path


@pytest.fixture(scope="session")
def make_token(rsa_key: rsa.RSAPrivateKey) -> TokenFactory:
    return TokenFactory(rsa_key)


@pytest.fixture
def run() -> Callable[..., Result]:
    """Invoke `webhook ...` in-process; stderr kept apart from stdout."""

    def invoke(*args: str, input: str | None = None) -> Result:
        return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)

    return invoke


@pytest.fixture
def unreachable_kubeconfig(tmp_path: Path, ca_file: Path) -> Path:
    """A kubeconfig whose apiserver (127.0.0.1:1) never answers."""
    config = tmp_path / "kubeconfig"
    config.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {
                        "name": "c",
                        "cluster": {"server": "https://127.0.0.1:1", "certificate-authority": str(ca_file)},
                    }
                ],
                "users": [{"name": "u", "user": {"token": "x"}}],
                "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "c",
            }
        )
    )
    return config
