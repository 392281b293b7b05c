"""Turn a mounted token file into a client.authentication.k8s.io/v1 ExecCredential (kubectl, ArgoCD)."""

from __future__ import annotations

import datetime as dt
import re
import shlex
from pathlib import Path
from typing import Any

import jwt

from webhook.federation.common import InputError, read_text

EXEC_API_VERSION = "client.authentication.k8s.io/v1"
# Three base64url segments: what a signed (JWS compact) JWT looks like. Nothing else is sent downstream.
JWT_SHAPE = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")


def parse_unverified(token: str, where: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and claims of a JWT without checking anything; errors never echo the token."""
    if not JWT_SHAPE.fullmatch(token):
        raise InputError(f"{where}: not a JWT (expected three base64url parts separated by dots)")
    try:
        header = jwt.get_unverified_header(token)
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.DecodeError as exc:
        raise InputError(f"{where}: not a JWT ({exc})") from None
    if not isinstance(claims, dict):
        raise InputError(f"{where}: JWT claims are not a JSON object")
    return header, claims


def read_token_file(path: str | Path) -> str:
    """The token in a file, stripped of surrounding whitespace, checked to look like a JWT."""
    token = read_text(path, "token file").strip()
    if not token:
        raise InputError(f"token file {path}: is empty (is the projected volume mounted?)")
    parse_unverified(token, f"token file {path}")
    return token


def rfc3339(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def claim_time(claims: dict[str, Any], name: str, where: str) -> float | None:
    """A NumericDate claim (exp, iat, nbf) as seconds, None when absent; a date it cannot be is an error."""
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError(f"{where}: claim {name} is not a number")
    try:
        rfc3339(value)  # what every caller prints; raises for NaN, infinities and years past 9999
    except (OverflowError, ValueError, OSError):
        raise InputError(
            f"{where}: claim {name} is out of range (not a date in the years 1 to 9999)"
        ) from None
    return float(value)


def exec_credential(token: str, *, where: str = "token") -> dict[str, Any]:
    """The ExecCredential client-go expects; expirationTimestamp from `exp` lets clients re-exec in time."""
    _, claims = parse_unverified(token, where)
    status: dict[str, Any] = {"token": token}
    exp = claim_time(claims, "exp", where)
    if exp is not None:
        status["expirationTimestamp"] = rfc3339(exp)
    return {"apiVersion": EXEC_API_VERSION, "kind": "ExecCredential", "status": status}


def credential_from_file(path: str | Path, *, now: float | None = None) -> dict[str, Any]:
    """The ExecCredential for a token file; an expired token is an error (downstream would say 401)."""
    where = f"token file {path}"
    credential = exec_credential(read_token_file(path), where=where)
    expiry = credential["status"].get("expirationTimestamp")
    now = dt.datetime.now(dt.UTC).timestamp() if now is None else now
    if expiry is not None:
        exp = dt.datetime.strptime(expiry, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC).timestamp()
        if exp <= now:
            raise InputError(f"{where}: token expired at {expiry} (kubelet refreshes it while the pod runs)")
    return credential


def bash_credential_script(token_file: str) -> str:
    """A bash/sh script printing the ExecCredential for a token file: for images without this package.

    The token is checked to be base64url-and-dots only, so it can go into JSON without escaping.
    """
    quoted = shlex.quote(token_file)
    complaint = shlex.quote(f"token file {token_file} is missing, empty or not a JWT")
    return (
        f"token=$(cat {quoted}) || exit 1\n"
        f'case "$token" in ""|*[!A-Za-z0-9._-]*) echo {complaint} >&2; exit 1;; esac\n'
        f'printf \'{{"apiVersion":"{EXEC_API_VERSION}","kind":"ExecCredential",'
        '"status":{"token":"%s"}}\\n\' "$token"\n'
    )
