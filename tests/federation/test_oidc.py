"""`webhook oidc discovery|jwks`: the documents kube-apiserver serves, reproduced for static hosting."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from tests.federation.support import assert_one_line_error, write_private_pem, write_public_pem
from webhook.certs import generate_ca, pem_cert
from webhook.federation import oidc

OPENSSL = shutil.which("openssl")


def b64url_decode(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


@pytest.mark.skipif(OPENSSL is None, reason="openssl not installed")
def test_kid_matches_an_independent_openssl_computation(tmp_path: Path, rsa_key, ec_keys) -> None:
    """kid = base64url(SHA-256(PKIX DER)), computed here by openssl, not by our code."""
    for name, key in {"rsa": rsa_key, **ec_keys}.items():
        pem = write_public_pem(tmp_path / f"{name}.pub", key)
        der = subprocess.run(
            [OPENSSL, "pkey", "-pubin", "-in", str(pem), "-outform", "DER"], capture_output=True, check=True
        ).stdout
        digest = subprocess.run(
            [OPENSSL, "dgst", "-sha256", "-binary"], input=der, capture_output=True, check=True
        ).stdout
        expected = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        assert oidc.key_id(key.public_key()) == expected


def test_jwks_rsa_field_order_and_values(run, tmp_path: Path, rsa_key) -> None:
    pub = write_public_pem(tmp_path / "sa.pub", rsa_key)
    result = run("oidc", "jwks", "--public-key", str(pub))
    assert result.exit_code == 0, result.output
    (key,) = json.loads(result.stdout)["keys"]
    assert list(key) == ["use", "kty", "kid", "alg", "n", "e"]  # go-jose's order, as the apiserver serves
    numbers = rsa_key.public_key().public_numbers()
    assert key["use"] == "sig" and key["kty"] == "RSA" and key["alg"] == "RS256" and key["e"] == "AQAB"
    assert int.from_bytes(b64url_decode(key["n"]), "big") == numbers.n
    assert key["kid"] == oidc.key_id(rsa_key.public_key())


@pytest.mark.parametrize(
    ("alg", "crv", "size"), [("ES256", "P-256", 32), ("ES384", "P-384", 48), ("ES512", "P-521", 66)]
)
def test_jwks_ec_keys(tmp_path: Path, ec_keys, alg: str, crv: str, size: int) -> None:
    key = ec_keys[alg]
    (jwk,) = oidc.jwks(oidc.load_public_keys(write_public_pem(tmp_path / "ec.pub", key)))["keys"]
    assert list(jwk) == ["use", "kty", "kid", "crv", "alg", "x", "y"]
    assert (jwk["kty"], jwk["crv"], jwk["alg"]) == ("EC", crv, alg)
    # Fixed-length coordinates (RFC 7518 6.2.1.2), as go-jose writes them.
    assert len(b64url_decode(jwk["x"])) == size and len(b64url_decode(jwk["y"])) == size
    numbers = key.public_key().public_numbers()
    assert int.from_bytes(b64url_decode(jwk["x"]), "big") == numbers.x


def test_jwks_verifies_tokens_signed_by_the_private_keys(
    tmp_path: Path, rsa_key, ec_keys, make_token
) -> None:
    files = [write_private_pem(tmp_path / "rsa.key", rsa_key, serialization.PrivateFormat.TraditionalOpenSSL)]
    files += [write_private_pem(tmp_path / f"{alg}.key", key) for alg, key in ec_keys.items()]
    keyset = oidc.jwks(k for f in files for k in oidc.load_public_keys(f))
    assert len(keyset["keys"]) == 4 and not any("d" in k for k in keyset["keys"])  # public parts only
    jwkset = jwt.PyJWKSet.from_dict(keyset)
    for alg, key in [("RS256", rsa_key), *ec_keys.items()]:
        token = make_token(alg=alg, key=key)
        kid = jwt.get_unverified_header(token)["kid"]
        claims = jwt.decode(token, jwkset[kid].key, algorithms=[alg], audience="downstream-cluster")
        assert claims["sub"] == "system:serviceaccount:argocd:argocd-server"


def test_jwks_accepts_certificates_and_bundles_and_lists_each_key_once(tmp_path: Path, rsa_key) -> None:
    _, ca_cert = generate_ca("jwks-test")
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(
        pem_cert(ca_cert)
        + b"-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n"
        + write_public_pem(tmp_path / "a.pub", rsa_key).read_bytes()
        + write_private_pem(tmp_path / "a.key", rsa_key).read_bytes()
    )
    keyset = oidc.jwks(oidc.load_public_keys(bundle))
    assert [k["kid"] for k in keyset["keys"]] == [
        oidc.key_id(ca_cert.public_key()),
        oidc.key_id(rsa_key.public_key()),
    ]


def test_discovery_exact_json(run, tmp_path: Path, rsa_key, ec_keys) -> None:
    issuer = "https://storage.googleapis.com/bucket/cluster"
    result = run("oidc", "discovery", "--issuer", issuer)
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "{\n"
        f'  "issuer": "{issuer}",\n'
        f'  "jwks_uri": "{issuer}/openid/v1/jwks",\n'
        '  "response_types_supported": [\n    "id_token"\n  ],\n'
        '  "subject_types_supported": [\n    "public"\n  ],\n'
        '  "id_token_signing_alg_values_supported": [\n    "RS256"\n  ]\n'
        "}\n"
    )
    pubs = [
        write_public_pem(tmp_path / "r.pub", rsa_key),
        write_public_pem(tmp_path / "e.pub", ec_keys["ES384"]),
    ]
    result = run(
        "oidc",
        "discovery",
        "--issuer",
        issuer,
        "--jwks-uri",
        "https://keys.example/jwks",
        *[arg for p in pubs for arg in ("--public-key", str(p))],
    )
    doc = json.loads(result.stdout)
    assert list(doc) == [
        "issuer",
        "jwks_uri",
        "response_types_supported",
        "subject_types_supported",
        "id_token_signing_alg_values_supported",
    ]
    assert doc["jwks_uri"] == "https://keys.example/jwks"
    assert doc["id_token_signing_alg_values_supported"] == ["ES384", "RS256"]  # sorted, like the apiserver


def test_discovery_and_jwks_write_files(run, tmp_path: Path, rsa_key) -> None:
    out = tmp_path / "openid-configuration"
    assert run("oidc", "discovery", "--issuer", "https://a.example", "--out", str(out)).stdout == ""
    assert json.loads(out.read_text())["issuer"] == "https://a.example"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--issuer", "http://a.example"], "--issuer 'http://a.example' must be an https:// URL"),
        (["--issuer", "https://a.example?x"], "must not contain a query"),
        (["--issuer", "https://a.example", "--jwks-uri", "ftp://k"], "--jwks-uri 'ftp://k' must be an https"),
        (
            ["--issuer", "https://a.example", "--public-key", "/nonexistent"],
            "key file /nonexistent: no such file",
        ),
    ],
)
def test_discovery_errors(run, args: list[str], message: str) -> None:
    assert_one_line_error(run("oidc", "discovery", *args), message)


def test_jwks_errors(run, tmp_path: Path, rsa_key) -> None:
    empty = tmp_path / "empty.pem"
    empty.write_text("nothing here\n")
    assert_one_line_error(
        run("oidc", "jwks", "--public-key", str(empty)), f"key file {empty}: no PEM public key"
    )
    ed = tmp_path / "ed.pub"
    write_public_pem(ed, ed25519.Ed25519PrivateKey.generate())
    assert_one_line_error(
        run("oidc", "jwks", "--public-key", str(ed)), "unsupported key type Ed25519PublicKey"
    )
    enc = tmp_path / "enc.key"
    enc.write_bytes(
        rsa_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret"),
        )
    )
    assert_one_line_error(run("oidc", "jwks", "--public-key", str(enc)), "encrypted private key")
    broken = tmp_path / "broken.pem"
    broken.write_text("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
    assert_one_line_error(run("oidc", "jwks", "--public-key", str(broken)), "cannot parse PUBLIC KEY block")
