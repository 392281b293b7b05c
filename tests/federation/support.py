"""Helpers for the federation tests: constants, key writers, a token factory, the one-line-error check."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from click.testing import Result
from cryptography.hazmat.primitives import serialization

from webhook.federation.oidc import key_id

ISSUER = "https://upstream.example.com"
AUDIENCE = "downstream-cluster"
SUBJECT = "system:serviceaccount:argocd:argocd-server"


def write_public_pem(path: Path, key: Any) -> Path:
    path.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return path


def write_private_pem(path: Path, key: Any, fmt: Any = serialization.PrivateFormat.PKCS8) -> Path:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption()))
    return path


@dataclass
class TokenFactory:
    key: Any

    def __call__(
        self,
        *,
        lifetime: int = 3600,
        alg: str = "RS256",
        key: Any = None,
        headers: dict[str, Any] | None = None,
        **claims: Any,
    ) -> str:
        key = key or self.key
        now = int(time.time())
        payload = {
            "iss": ISSUER,
            "sub": SUBJECT,
            "aud": [AUDIENCE],
            "iat": now,
            "nbf": now,
            "exp": now + lifetime,
        }
        payload.update(claims)
        payload = {k: v for k, v in payload.items() if v is not None}
        return jwt.encode(
            payload, key, algorithm=alg, headers={"kid": key_id(key.public_key()), **(headers or {})}
        )


def assert_one_line_error(result: Result, *fragments: str) -> None:
    """A non-zero exit with exactly one `Error: ...` line naming the problem, and no traceback."""
    assert result.exit_code != 0, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
