"""OIDC discovery documents and JWKS exactly as kube-apiserver serves them, for static hosting (a bucket)."""

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
from webhook.vocabulary import is_dns1123_subdomain

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


def key_ids(jwks: dict[str, Any], where: str) -> list[str]:
    """The kid of every key of a JWKS; a key without one cannot be matched to a token."""
    keys = jwks.get("keys")
    if not isinstance(keys, list):
        raise InputError(f"{where}: not a JWKS (expected a JSON object with a keys list)")
    kids = []
    for index, key in enumerate(keys):
        kid = key.get("kid") if isinstance(key, dict) else None
        if not isinstance(kid, str) or not kid:
            raise InputError(f"{where}: key {index + 1} has no kid")
        kids.append(kid)
    return kids


def merge_jwks(new: dict[str, Any], old: dict[str, Any], where: str) -> dict[str, Any]:
    """The new keys, then the old keys the new set lacks (by kid): both verify during a rotation's overlap."""
    new_kids = set(key_ids(new, "the new keys"))
    old_keys = [key for key, kid in zip(old["keys"], key_ids(old, where), strict=True) if kid not in new_kids]
    return {"keys": [*new["keys"], *old_keys]}


def hosting_differences(
    issuer: str,
    hosted_discovery: Any,
    hosted_jwks: Any,
    cluster_discovery: dict[str, Any],
    cluster_jwks: dict[str, Any],
    *,
    jwks_uri: str | None = None,
) -> list[str]:
    """What a relying party reading the hosted documents would get wrong about the cluster's tokens."""
    differences = []
    if cluster_discovery.get("issuer") != issuer:
        differences.append(f"the cluster's issuer is {cluster_discovery.get('issuer')!r}, not {issuer!r}")
    if not isinstance(hosted_discovery, dict):
        return [*differences, "the hosted discovery document is not a JSON object"]
    if hosted_discovery.get("issuer") != issuer:
        differences.append(
            f"wrong issuer: the hosted discovery names {hosted_discovery.get('issuer')!r}, "
            f"expected {issuer!r}"
        )
    expected_uri = jwks_uri or cluster_discovery.get("jwks_uri")
    if hosted_discovery.get("jwks_uri") != expected_uri:
        differences.append(
            f"wrong jwks_uri: the hosted discovery names {hosted_discovery.get('jwks_uri')!r}, "
            f"expected {expected_uri!r}"
        )
    hosted = {key.get("kid"): key for key in (hosted_jwks or {}).get("keys", []) if isinstance(key, dict)}
    for key in cluster_jwks.get("keys", []):
        kid = key.get("kid")
        if kid not in hosted:
            differences.append(f"missing kid {kid!r}: the cluster signs with it, the hosted JWKS lacks it")
        elif {k: hosted[kid].get(k) for k in ("kty", "n", "e", "crv", "x", "y")} != {
            k: key.get(k) for k in ("kty", "n", "e", "crv", "x", "y")
        }:
            differences.append(f"kid {kid!r}: the hosted key material differs from the cluster's")
    return differences


DISCOVERY_ROLE = "system:service-account-issuer-discovery"


def discovery_rbac(name: str = "oidc-reviewer") -> dict[str, Any]:
    """ClusterRoleBinding letting anyone read the issuer's discovery document and JWKS (public keys only):
    what `kubectl create clusterrolebinding oidc-reviewer --group=system:unauthenticated
    --clusterrole=system:service-account-issuer-discovery` creates."""
    if not is_dns1123_subdomain(name):
        raise InputError(f"--name {name!r} is not a valid object name (lowercase letters, digits, '-', '.')")
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": DISCOVERY_ROLE},
        "subjects": [
            {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:unauthenticated"}
        ],
    }
