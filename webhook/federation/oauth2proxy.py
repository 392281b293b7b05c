"""OAuth2-Proxy letting pods' projected tokens through as bearer tokens, alone or beside human SSO.

What its source (v7) does with a bearer token, and so what is generated:
- `skip_jwt_bearer_tokens` turns bearer verification on: the main OIDC provider's verifier first (audience =
  client id), then one verifier per `extra_jwt_issuers` entry ISSUER=AUDIENCE (discovery at the issuer, or
  ISSUER/.well-known/jwks.json). The entry is split at its first `=` and the list at commas, so neither
  the issuer nor the audience may hold a comma, nor the issuer an `=`.
- The session's user is the `sub` claim; its email the `email` claim, or `sub` when there is none (pod
  tokens have none), so the email check sees system:serviceaccount:NS:NAME. `email_domains = ["*"]` admits
  every subject; `authenticated_emails_file` admits exactly the subjects listed (lowercased, no patterns).
- `provider_ca_files` replaces the trust store for every provider fetch, the human IdP's too; hence
  `use_system_trust_store` beside it.
- `bearer_token_login_fallback = false` answers a bad bearer token with 403 instead of a login redirect.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from webhook.federation import subjects
from webhook.federation.common import InputError, check_https_url

MACHINE_CLIENT_SECRET = "unused-by-bearer-tokens"
DEFAULT_COOKIE_SECRET_FILE = "/etc/oauth2-proxy/cookie-secret"


@dataclass(frozen=True)
class Settings:
    """The settings in OAuth2-Proxy's order of concern; each is a (flag, config key, value)."""

    entries: list[tuple[str, str, Any]] = field(default_factory=list)

    def add(self, flag: str, key: str, value: Any) -> None:
        self.entries.append((flag, key, value))


def _check_absolute(path: str, option: str) -> str:
    if not PurePosixPath(path).is_absolute():
        raise InputError(f"{option} {path!r} must be an absolute path on the proxy's machine")
    return path


def settings(
    *,
    issuer: str,
    audiences: Sequence[str],
    beside_sso: bool = False,
    email_domains: Sequence[str] = (),
    serviceaccounts: Sequence[str] = (),
    emails_file: str | None = None,
    ca_path: str | None = None,
    cookie_secret_file: str = DEFAULT_COOKIE_SECRET_FILE,
) -> Settings:
    """What to set for bearer pod tokens of `issuer` with one of `audiences`.

    beside_sso: an OIDC provider for humans is configured already; our issuer joins as extra_jwt_issuers.
    Otherwise (machine users only, as in the article) our issuer is the OIDC provider itself.
    """
    check_https_url(issuer, "--issuer")
    if "," in issuer or "=" in issuer:
        raise InputError(
            f"--issuer {issuer!r}: OAuth2-Proxy splits its issuer list at , and = (use another URL)"
        )
    audiences = list(dict.fromkeys(audiences))
    if not audiences or any(not a.strip() for a in audiences):
        raise InputError("--audience is required and must not be empty (the aud your pods' tokens carry)")
    if any("," in a for a in audiences):
        raise InputError("--audience must not contain a comma (OAuth2-Proxy splits its lists at commas)")
    if any(not d.strip() or "," in d or "@" in d for d in email_domains):
        raise InputError("--email-domain takes a domain like example.com (or *), without @ or commas")
    subs = subjects.subjects(serviceaccounts)
    if any(subjects.is_glob(s) for s in subs):
        raise InputError(
            "--serviceaccount NAMESPACE/*: OAuth2-Proxy's authenticated-emails-file matches exact"
            " entries only; list each ServiceAccount"
        )
    if subs and "*" in email_domains:
        raise InputError(
            "--email-domain '*' admits every subject: the --serviceaccount list would restrict nothing"
        )
    if subs and not emails_file:
        raise InputError("--serviceaccount needs --emails-file PATH (where the proxy reads the list)")
    if emails_file and not subs:
        raise InputError("--emails-file needs the --serviceaccount entries to list in it")

    out = Settings()
    if not beside_sso:
        out.add("provider", "provider", "oidc")
        out.add("oidc-issuer-url", "oidc_issuer_url", issuer)
        out.add("client-id", "client_id", audiences[0])
        for extra in audiences[1:]:
            out.add("oidc-extra-audience", "oidc_extra_audiences", extra)
        # Both are required to start; neither is used for bearer tokens.
        out.add("client-secret", "client_secret", MACHINE_CLIENT_SECRET)
        out.add(
            "cookie-secret-file",
            "cookie_secret_file",
            _check_absolute(cookie_secret_file, "--cookie-secret-file"),
        )
    out.add("skip-jwt-bearer-tokens", "skip_jwt_bearer_tokens", True)
    out.add("bearer-token-login-fallback", "bearer_token_login_fallback", False)
    if beside_sso:
        for audience in audiences:
            out.add("extra-jwt-issuers", "extra_jwt_issuers", f"{issuer}={audience}")
    if ca_path:
        out.add("provider-ca-file", "provider_ca_files", _check_absolute(ca_path, "--ca-path"))
        out.add("use-system-trust-store", "use_system_trust_store", True)
    domains = list(dict.fromkeys(email_domains)) or ([] if subs else ["*"])
    for domain in domains:
        out.add("email-domain", "email_domains", domain)
    if emails_file:
        out.add(
            "authenticated-emails-file",
            "authenticated_emails_file",
            _check_absolute(emails_file, "--emails-file"),
        )
    return out


def _flag_value(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def flags(s: Settings) -> str:
    """One argument per line, exactly as the proxy's argv (container args, or `mapfile -t` in bash)."""
    return "".join(f"--{flag}={_flag_value(value)}\n" for flag, _, value in s.entries)


LIST_KEYS = {"oidc_extra_audiences", "extra_jwt_issuers", "provider_ca_files", "email_domains"}


def config_file(s: Settings) -> str:
    """The same settings as oauth2-proxy.cfg (TOML, its --config file)."""
    grouped: dict[str, Any] = {}
    for _, key, value in s.entries:
        if key in LIST_KEYS:
            grouped.setdefault(key, []).append(value)
        else:
            grouped[key] = value
    # JSON's string, list and boolean literals are valid TOML for these ASCII-safe values.
    return "".join(f"{key} = {json.dumps(value)}\n" for key, value in grouped.items())


def emails_file_text(serviceaccounts: Sequence[str]) -> str:
    """The authenticated-emails-file: one subject per line (the proxy lowercases both sides)."""
    return "".join(f"{sub}\n" for sub in subjects.subjects(serviceaccounts))
