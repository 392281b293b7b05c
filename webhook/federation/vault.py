"""Vault's (and OpenBao's) JWT auth trusting our issuer: `auth/<path>/config`, `auth/<path>/role/NAME`.

Field names and rules are those of the JWT auth plugin: discovery, JWKS URL and static keys exclude one
another; a role of type jwt needs a user_claim and at least one bound constraint; bound_claims values may be
lists (any element matches) and, with bound_claims_type glob, `*` patterns; a claim name starting with `/`
is a JSON pointer into nested claims (/kubernetes.io/namespace).
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Sequence
from typing import Any

from cryptography.hazmat.primitives import serialization

from webhook.federation import oidc, subjects
from webhook.federation.common import InputError, check_https_url, read_ca_bundle

DEFAULT_MOUNT = "jwt"
DEFAULT_TTL = "1h"
MOUNT_RE = re.compile(r"[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*")
# The plugin's role path: framework.GenericNameRegex.
ROLE_NAME_RE = re.compile(r"\w(([\w.-]+)?\w)?")
# Vault's parseutil.ParseDurationSecond: a bare number of seconds or Go-style units (plus d for days).
DURATION_RE = re.compile(r"(\d+)|((\d+(\.\d+)?(ns|us|µs|ms|s|m|h|d))+)")
UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600, "d": 86400}
CLAIM_KEY_RE = re.compile(r"[^\s=]+")


def check_mount(mount: str) -> str:
    if not MOUNT_RE.fullmatch(mount):
        raise InputError(
            f"--path {mount!r}: an auth mount path like jwt or k8s/upstream (no leading or trailing /)"
        )
    return mount


def check_role_name(name: str) -> str:
    if not ROLE_NAME_RE.fullmatch(name):
        raise InputError(
            f"role name {name!r}: letters, digits, _, - and . only, starting and ending alphanumeric"
        )
    return name


def duration_seconds(value: str, option: str) -> float:
    text = value.strip()
    if not DURATION_RE.fullmatch(text):
        raise InputError(f"{option} {value!r}: a duration like 3600, 30m, 1h or 1h30m")
    if text.isdigit():
        return float(text)
    return sum(
        float(n) * UNIT_SECONDS[u] for n, _, u in re.findall(r"(\d+(\.\d+)?)(ns|us|µs|ms|s|m|h|d)", text)
    )


def config_payload(
    *,
    issuer: str,
    ca_file: str | None = None,
    jwks_url: str | None = None,
    public_key_files: Sequence[str] = (),
    default_role: str | None = None,
) -> dict[str, Any]:
    """The body of `vault write auth/<path>/config`.

    Default: OIDC discovery at the issuer (Vault then checks the discovery document names that issuer).
    jwks_url: for an issuer whose discovery Vault cannot reach but whose JWKS it can. Static keys: for a
    Vault that reaches neither; they must be replaced on every key rotation.
    """
    check_https_url(issuer, "--issuer")
    if jwks_url and public_key_files:
        raise InputError("give --jwks-url or --public-key, not both (Vault accepts one key source)")
    payload: dict[str, Any] = {}
    if public_key_files:
        if ca_file:
            raise InputError("--ca-file is for fetching discovery or the JWKS; --public-key fetches nothing")
        keys = [key for path in public_key_files for key in oidc.load_public_keys(path)]
        pems = [
            key.public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            ).decode()
            for key in keys
        ]
        payload["jwt_validation_pubkeys"] = list(dict.fromkeys(pems))
        # Without discovery the plugin assumes RS256 only; name every algorithm the keys sign with.
        payload["jwt_supported_algs"] = sorted({oidc.algorithm(key) for key in keys})
    elif jwks_url:
        check_https_url(jwks_url, "--jwks-url")
        payload["jwks_url"] = jwks_url
        if ca_file:
            payload["jwks_ca_pem"] = read_ca_bundle(ca_file)
    else:
        payload["oidc_discovery_url"] = issuer
        if ca_file:
            payload["oidc_discovery_ca_pem"] = read_ca_bundle(ca_file)
    payload["bound_issuer"] = issuer
    if default_role:
        payload["default_role"] = check_role_name(default_role)
    return payload


def parse_claim(value: str, option: str = "--claim") -> tuple[str, str]:
    key, sep, expected = value.partition("=")
    if not sep or not CLAIM_KEY_RE.fullmatch(key) or not expected:
        raise InputError(
            f"{option} {value!r} must be KEY=VALUE (KEY a claim name or a /json/pointer, VALUE not empty)"
        )
    return key, expected


def bound_claims(claims: Sequence[str], option: str = "--claim") -> dict[str, list[str]]:
    """KEY=VALUE entries grouped by key, values in order (several values of one key: any matches)."""
    grouped: dict[str, list[str]] = {}
    for entry in claims:
        key, expected = parse_claim(entry, option)
        values = grouped.setdefault(key, [])
        if expected not in values:
            values.append(expected)
    return grouped


def role_payload(
    *,
    audiences: Sequence[str],
    serviceaccounts: Sequence[str] = (),
    claims: Sequence[str] = (),
    policies: Sequence[str] = (),
    user_claim: str = "sub",
    ttl: str = DEFAULT_TTL,
    max_ttl: str | None = None,
    leeway: int | None = None,
) -> dict[str, Any]:
    """The body of `vault write auth/<path>/role/NAME` for pods' projected tokens.

    One ServiceAccount becomes bound_subject; several, or NAMESPACE/* patterns, a `sub` list in bound_claims
    (glob matching when a pattern is among them). --claim KEY=VALUE adds bound claims of its own.
    """
    audiences = list(dict.fromkeys(audiences))
    if not audiences or any(not a.strip() for a in audiences):
        raise InputError("--audience is required and must not be empty (the aud your pods' tokens carry)")
    subs = subjects.subjects(serviceaccounts)
    extra = bound_claims(claims)
    if not subs and not extra:
        raise InputError(
            "give --serviceaccount NAMESPACE/NAME (repeatable, NAMESPACE/* for a namespace) or --claim"
            " KEY=VALUE: a role bound by audience alone admits every ServiceAccount of the cluster"
        )
    if subs and "sub" in extra:
        raise InputError("--claim sub=... and --serviceaccount both bind the subject; use one of them")
    if not user_claim or not CLAIM_KEY_RE.fullmatch(user_claim):
        raise InputError(f"--user-claim {user_claim!r} must be a claim name")
    ttl_seconds = duration_seconds(ttl, "--ttl")
    if max_ttl is not None and duration_seconds(max_ttl, "--max-ttl") < ttl_seconds:
        raise InputError(f"--max-ttl {max_ttl} is shorter than --ttl {ttl}")
    if any(not p.strip() or "," in p for p in policies):
        raise InputError("--policy must be a non-empty policy name without commas (repeat the option)")

    payload: dict[str, Any] = {"role_type": "jwt", "bound_audiences": audiences, "user_claim": user_claim}
    if user_claim.startswith("/"):
        payload["user_claim_json_pointer"] = True  # else the plugin looks the name up literally
    if len(subs) == 1 and not subjects.is_glob(subs[0]):
        payload["bound_subject"] = subs[0]
    elif subs:
        extra = {"sub": subs, **extra}
    if extra:
        glob = any(subjects.is_glob(v) for values in extra.values() for v in values)
        payload["bound_claims_type"] = "glob" if glob else "string"
        payload["bound_claims"] = {k: v[0] if len(v) == 1 else v for k, v in extra.items()}
    payload["token_policies"] = list(dict.fromkeys(policies)) or ["default"]
    payload["token_ttl"] = ttl
    if max_ttl is not None:
        payload["token_max_ttl"] = max_ttl
    if leeway is not None:
        if leeway < 0:
            raise InputError("--leeway must be 0 or more seconds")
        payload["clock_skew_leeway"] = leeway
    return payload


def api_path(mount: str, *parts: str) -> str:
    return "/".join(("auth", check_mount(mount), *parts))


def write_command(path: str, payload: dict[str, Any]) -> str:
    """`vault write PATH -` with the JSON body on stdin (the CLI reads `-` as a JSON object)."""
    return f"vault write {shlex.quote(path)} - <<'EOF'\n{json.dumps(payload, indent=2)}\nEOF\n"


def config_commands(mount: str, payload: dict[str, Any]) -> str:
    return (
        "# once per Vault: enable the JWT auth method (a second run says the path is already in use)\n"
        f"vault auth enable -path={shlex.quote(check_mount(mount))} jwt\n"
        + write_command(api_path(mount, "config"), payload)
    )


def role_commands(mount: str, name: str, payload: dict[str, Any]) -> str:
    path = api_path(mount, "role", check_role_name(name))
    login = api_path(mount, "login")
    return (
        write_command(path, payload)
        + "# a pod logs in with its projected token:\n"
        + f"#   vault write {login} role={name} jwt=@/var/run/secrets/tokens/TOKEN_FILE\n"
    )


# --- what the role's bound_subject / bound_claims would say about a verified token's claims -----------------


def glob_match(pattern: str, value: str) -> bool:
    """The plugin's glob (ryanuber/go-glob): `*` matches any run of characters, nothing else is special."""
    parts = pattern.split("*")
    if len(parts) == 1:
        return pattern == value
    if not value.startswith(parts[0]) or not value[len(parts[0]) :].endswith(parts[-1]):
        return False
    position, end = len(parts[0]), len(value) - len(parts[-1])
    for middle in parts[1:-1]:
        found = value.find(middle, position, end)
        if found < 0:
            return False
        position = found + len(middle)
    return position <= end


def claim_value(claims: dict[str, Any], key: str) -> Any:
    """A top-level claim, or a JSON pointer (RFC 6901) into nested ones; None when absent."""
    if not key.startswith("/"):
        return claims.get(key)
    value: Any = claims
    for token in key[1:].split("/"):
        token = token.replace("~1", "/").replace("~0", "~")
        if isinstance(value, dict) and token in value:
            value = value[token]
        elif isinstance(value, list) and token.isdigit() and int(token) < len(value):
            value = value[int(token)]
        else:
            return None
    return value


def binding_problems(
    claims: dict[str, Any], *, subject: str | None, bound: dict[str, list[str]], glob: bool = False
) -> list[str]:
    """Why a role with this bound_subject / bound_claims would refuse the token (empty: it would accept)."""
    problems = []
    if subject is not None and claims.get("sub") != subject:
        problems.append(f"sub {claims.get('sub')!r} does not match bound subject {subject!r}")
    for key, expected in bound.items():
        actual = claim_value(claims, key)
        if actual is None:
            problems.append(f"claim {key!r} is missing")
            continue
        values = actual if isinstance(actual, list) else [actual]
        strings = [v for v in values if isinstance(v, str)]
        if not any((glob_match(e, v) if glob else e == v) for e in expected for v in strings):
            problems.append(f"claim {key!r} is {actual!r}, not {' or '.join(map(repr, expected))}")
    return problems
