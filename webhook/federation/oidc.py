"""OIDC discovery documents and JWKS exactly as kube-apiserver serves them, for static hosting (seed 000)."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from webhook.federation.common import InputError, check_https_url, read_text

PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey
PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----.*?-----END \1-----", re.S)
EC_ALGORITHMS = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}
# Field order of go-jose's JSON web key, which kube-apiserver uses.
JWK_ORDER = ("use", "kty", "kid", "crv", "alg", "n", "e", "x", "y")


def key_id(key: PublicKey) -> str:
    """kube-apiserver's keyIDFromPublicKey: base64url (no padding) of SHA-256 over the PKIX DER public key."""
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()


def algorithm(key: PublicKey) -> str:
    if isinstance(key, rsa.RSAPublicKey):
        return "RS256"
    if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name in EC_ALGORITHMS:
        return EC_ALGORITHMS[key.curve.name]
    what = f"EC curve {key.curve.name}" if isinstance(key, ec.EllipticCurvePublicKey) else type(key).__name__
    raise InputError(f"unsupported key ({what}); kube-apiserver signs with RSA or EC P-256/384/521")


def _public(obj: Any, where: str) -> PublicKey:
    key = obj.public_key() if hasattr(obj, "public_key") else obj
    if not isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        raise InputError(f"{where}: unsupported key type {type(key).__name__} (RSA or EC only)")
    try:
        algorithm(key)
    except InputError as exc:
        raise InputError(f"{where}: {exc}") from None
    return key


def _parse_block(kind: str, pem: bytes, where: str) -> PublicKey | None:
    try:
        if kind == "CERTIFICATE":
            return _public(x509.load_pem_x509_certificate(pem), where)
        if kind in ("PUBLIC KEY", "RSA PUBLIC KEY"):
            return _public(serialization.load_pem_public_key(pem), where)
        if kind in ("PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY"):
            return _public(serialization.load_pem_private_key(pem, password=None), where)
        if kind == "ENCRYPTED PRIVATE KEY":
            raise InputError(f"{where}: encrypted private key; give the public key instead")
    except TypeError:  # cryptography: a password is needed
        raise InputError(f"{where}: encrypted private key; give the public key instead") from None
    except ValueError as exc:
        raise InputError(f"{where}: cannot parse {kind} block ({exc})") from None
    return None  # EC PARAMETERS and the like carry no key


def load_public_keys(path: str | Path) -> list[PublicKey]:
    """Every public key in a PEM file of public keys, certificates or private keys (public part only)."""
    text = read_text(path, "key file")
    keys = [
        key
        for match in PEM_BLOCK.finditer(text)
        if (key := _parse_block(match.group(1), match.group(0).encode(), f"key file {path}")) is not None
    ]
    if not keys:
        raise InputError(f"key file {path}: no PEM public key, certificate or private key found")
    return keys


def jwk(key: PublicKey) -> dict[str, Any]:
    """One key as kube-apiserver publishes it: use=sig, kid, alg, and the key material (via PyJWT)."""
    material = (
        RSAAlgorithm.to_jwk(key, as_dict=True)
        if isinstance(key, rsa.RSAPublicKey)
        else ECAlgorithm.to_jwk(key, as_dict=True)
    )
    fields = {**material, "use": "sig", "kid": key_id(key), "alg": algorithm(key)}
    return {name: fields[name] for name in JWK_ORDER if name in fields}


def jwks(keys: Iterable[PublicKey]) -> dict[str, Any]:
    """The key set; the same key given twice (e.g. private and public file) is listed once."""
    seen: dict[str, dict[str, Any]] = {}
    for key in keys:
        seen.setdefault(key_id(key), jwk(key))
    return {"keys": list(seen.values())}


def discovery(
    issuer: str,
    *,
    jwks_uri: str | None = None,
    keys: Sequence[PublicKey] = (),
    algorithms: Sequence[str] = (),
) -> dict[str, Any]:
    """/.well-known/openid-configuration with kube-apiserver's fields and order."""
    check_https_url(issuer, "--issuer")
    if jwks_uri is None:
        jwks_uri = issuer.rstrip("/") + "/openid/v1/jwks"
    else:
        check_https_url(jwks_uri, "--jwks-uri")
    algs = sorted({*algorithms, *(algorithm(k) for k in keys)}) or ["RS256"]
    return {
        "issuer": issuer,
        "jwks_uri": jwks_uri,
        "response_types_supported": ["id_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": algs,
    }
