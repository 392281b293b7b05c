"""Service-account tokens by hand: inspect (never verifies), verify (as Vault's JWT auth would)."""

from __future__ import annotations

import datetime as dt
import json
import re
import ssl
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jwt

from webhook.federation.common import InputError, check_https_url, parse_json, read_text
from webhook.federation.credential import JWT_SHAPE, claim_time, parse_unverified, rfc3339
from webhook.vocabulary import MAX_EXPIRATION_SECONDS, MIN_EXPIRATION_SECONDS

# Asymmetric only: a JWKS never carries an HMAC secret, and `none` is never acceptable.
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512")
DURATION_RE = re.compile(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", re.ASCII)
FETCH_TIMEOUT = 10.0
MAX_DOCUMENT_BYTES = 1 << 20


class InvalidToken(ValueError):
    """The token failed verification; the message says why (never contains the token)."""


def human_delta(seconds: float) -> str:
    """59m, 3h 5m, 2d 4h, 40s: coarse on purpose."""
    s = int(abs(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m"
    if s < 86400:
        h, m = divmod(s // 60, 60)
        return f"{h}h {m}m" if m else f"{h}h"
    d, h = divmod(s // 3600, 24)
    return f"{d}d {h}h" if h else f"{d}d"


def expiry_phrase(exp: float, now: float) -> str:
    return f"expires in {human_delta(exp - now)}" if exp > now else f"expired {human_delta(now - exp)} ago"


def relative(ts: float, now: float) -> str:
    return f"in {human_delta(ts - now)}" if ts > now else f"{human_delta(now - ts)} ago"


def inspect(token: str, *, now: float | None = None) -> dict[str, Any]:
    """Header, claims and times of a token, unverified."""
    header, claims = parse_unverified(token, "token")
    now = dt.datetime.now(dt.UTC).timestamp() if now is None else now
    times: dict[str, str] = {}
    for name in ("iat", "nbf", "exp"):
        ts = claim_time(claims, name, "token")
        if ts is not None:
            phrase = expiry_phrase(ts, now) if name == "exp" else relative(ts, now)
            times[name] = f"{rfc3339(ts)} ({phrase})"
    return {"verified": False, "header": header, "claims": claims, "times": times}


def inspect_text(report: dict[str, Any]) -> str:
    lines = ["Signature: NOT verified (inspect never verifies; use `webhook token verify`)"]
    lines += [
        "Header:",
        json.dumps(report["header"], indent=2),
        "Claims:",
        json.dumps(report["claims"], indent=2),
    ]
    labels = {"iat": "Issued", "nbf": "Not before", "exp": "Expiry"}
    lines += [f"{labels[name]}: {value}" for name, value in report["times"].items()]
    if "exp" not in report["times"]:
        lines.append("Expiry: none (the token never expires)")
    return "\n".join(lines) + "\n"


def read_token_argument(value: str, stdin_text: str | None = None) -> str:
    """TOKEN as given, `-` for stdin, or a file holding the token."""
    if value == "-":
        token = (stdin_text or "").strip()
        if not token:
            raise InputError("no token on stdin")
        return token
    if not JWT_SHAPE.fullmatch(value.strip()) and Path(value).exists():
        token = read_text(value, "token file").strip()
        if not token:
            raise InputError(f"token file {value}: is empty")
        return token
    if not value.strip():
        raise InputError("TOKEN is empty")
    return value.strip()


def _ssl_context(ca_file: str | None) -> ssl.SSLContext:
    try:
        return ssl.create_default_context(cafile=ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise InputError(f"--ca-file {ca_file}: cannot load CA certificates ({exc})") from None


def fetch_json(url: str, ca_file: str | None, what: str) -> Any:
    """GET a small JSON document over HTTPS, verifying the server with --ca-file (or the system CAs)."""
    check_https_url(url, what)
    # No Accept header: the apiserver serves the JWKS as application/jwk-set+json and 406s a JSON-only Accept.
    request = urllib.request.Request(url)
    try:
        with urllib.request.urlopen(
            request, timeout=FETCH_TIMEOUT, context=_ssl_context(ca_file)
        ) as response:
            body = response.read(MAX_DOCUMENT_BYTES + 1)
    except urllib.error.HTTPError as exc:
        exc.close()  # its body is the response's socket; left open, the GC finds it in a cycle
        raise InputError(f"{what} {url}: HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise InputError(f"{what} {url}: {exc.reason}") from None
    except (OSError, ssl.SSLError) as exc:
        raise InputError(f"{what} {url}: {exc}") from None
    if len(body) > MAX_DOCUMENT_BYTES:
        raise InputError(f"{what} {url}: larger than {MAX_DOCUMENT_BYTES} bytes")
    return parse_json(body, f"{what} {url}")


def discover_jwks(issuer: str, ca_file: str | None) -> dict[str, Any]:
    """Fetch <issuer>/.well-known/openid-configuration, check its issuer, then fetch jwks_uri."""
    check_https_url(issuer, "--issuer")
    doc = fetch_json(issuer.rstrip("/") + "/.well-known/openid-configuration", ca_file, "discovery")
    if not isinstance(doc, dict):
        raise InputError("discovery document is not a JSON object")
    if doc.get("issuer") != issuer:
        raise InputError(f"discovery document names issuer {doc.get('issuer')!r}, expected {issuer!r}")
    jwks_uri = doc.get("jwks_uri")
    if not isinstance(jwks_uri, str):
        raise InputError("discovery document has no jwks_uri")
    return load_jwks_doc(fetch_json(jwks_uri, ca_file, "jwks_uri"), jwks_uri)


def load_jwks_doc(doc: Any, where: str) -> dict[str, Any]:
    if not isinstance(doc, dict) or not isinstance(doc.get("keys"), list):
        raise InputError(f"{where}: not a JWKS (expected a JSON object with a keys list)")
    return doc


def load_jwks(source: str, ca_file: str | None) -> dict[str, Any]:
    """--jwks FILE or https URL."""
    if source.startswith(("https://", "http://")):
        return load_jwks_doc(fetch_json(source, ca_file, "--jwks"), source)
    return load_jwks_doc(parse_json(read_text(source, "--jwks file"), f"--jwks file {source}"), source)


def _signing_key(header: dict[str, Any], jwks: dict[str, Any]) -> jwt.PyJWK:
    kid = header.get("kid")
    candidates = [k for k in jwks["keys"] if isinstance(k, dict) and (kid is None or k.get("kid") == kid)]
    if not candidates:
        raise InvalidToken(f"no key with kid {kid!r} in the JWKS (rotated keys? stale JWKS?)")
    if len(candidates) > 1:
        raise InvalidToken("the token has no kid and the JWKS holds several keys")
    try:
        return jwt.PyJWK(candidates[0], algorithm=header.get("alg"))
    except (jwt.PyJWKError, jwt.InvalidKeyError) as exc:
        raise InvalidToken(f"JWKS key {kid!r} unusable: {exc}") from None


def verify(
    token: str,
    jwks: dict[str, Any],
    *,
    issuer: str | None = None,
    audiences: Sequence[str] = (),
    leeway: float = 0,
) -> dict[str, Any]:
    """Signature, iss, aud, exp, nbf via PyJWT; returns the claims or raises InvalidToken with the reason."""
    try:
        header, claims = parse_unverified(token, "token")
    except InputError as exc:
        raise InvalidToken(str(exc)) from None
    try:
        for name in ("exp", "iat", "nbf"):  # PyJWT's own int() of an infinite exp would raise OverflowError
            claim_time(claims, name, "token")
    except InputError as exc:
        raise InvalidToken(str(exc)) from None
    alg = header.get("alg")
    if alg not in ALGORITHMS:
        raise InvalidToken(f"algorithm {alg!r} not accepted (allowed: {', '.join(ALGORITHMS)})")
    key = _signing_key(header, jwks)
    try:
        return jwt.decode(
            token,
            key=key.key,
            algorithms=[alg],
            audience=list(audiences) or None,
            issuer=issuer,
            leeway=leeway,
            options={"require": ["exp"], "verify_aud": bool(audiences)},
        )
    except jwt.InvalidAudienceError as exc:
        raise InvalidToken(
            f"{exc}: token aud {claims.get('aud')!r}, expected one of {list(audiences)}"
        ) from None
    except jwt.InvalidIssuerError as exc:
        raise InvalidToken(f"{exc}: token iss {claims.get('iss')!r}, expected {issuer!r}") from None
    except jwt.ExpiredSignatureError as exc:
        raise InvalidToken(f"{exc} (exp {rfc3339(claims['exp'])})") from None
    except jwt.InvalidTokenError as exc:
        raise InvalidToken(str(exc)) from None


def parse_duration(value: str) -> int:
    """600, 600s, 10m, 1h, 1h30m → seconds, within the projected-token bounds."""
    text = value.strip()
    if text.isascii() and text.isdigit():
        seconds = int(text)
    else:
        match = DURATION_RE.fullmatch(text)
        if not text or not match or not any(match.groups()):
            raise InputError(f"--duration {value!r}: use seconds or h/m/s like 10m, 1h, 1h30m")
        h, m, s = (int(g or 0) for g in match.groups())
        seconds = h * 3600 + m * 60 + s
    if not MIN_EXPIRATION_SECONDS <= seconds <= MAX_EXPIRATION_SECONDS:
        raise InputError(
            f"--duration {value!r} out of range: {MIN_EXPIRATION_SECONDS}s (10m) .. {MAX_EXPIRATION_SECONDS}s"
        )
    return seconds
