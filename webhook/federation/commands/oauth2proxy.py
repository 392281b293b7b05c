"""`webhook oauth2-proxy`: OAuth2-Proxy accepting pods' projected tokens as bearer tokens.

Drives webhook/federation/oauth2proxy.py.
"""

from __future__ import annotations

import click

from webhook.federation import oauth2proxy
from webhook.federation.commands.shared import format_option, out_option
from webhook.federation.common import write_output


@click.command("oauth2-proxy")
@click.option("--issuer", required=True, help="The upstream's --service-account-issuer.")
@click.option(
    "--audience", "audiences", multiple=True, required=True, help="aud of the pods' tokens (repeatable)."
)
@click.option(
    "--beside-sso",
    is_flag=True,
    help="A provider for humans is configured already: add our issuer as extra_jwt_issuers only.",
)
@click.option("--email-domain", "email_domains", multiple=True, help="Humans' email domains (repeatable).")
@click.option(
    "--serviceaccount",
    "serviceaccounts",
    multiple=True,
    help="NAMESPACE/NAME admitted (repeatable; default: every ServiceAccount, --email-domain '*').",
)
@click.option(
    "--emails-file", help="Path of the authenticated-emails-file listing --serviceaccount on the proxy."
)
@click.option("--ca-path", help="Path of the issuer's CA on the proxy (provider_ca_files).")
@click.option(
    "--cookie-secret-file",
    default=oauth2proxy.DEFAULT_COOKIE_SECRET_FILE,
    show_default=True,
    help="Machine users only: the proxy needs a cookie secret to start (e.g. openssl rand -hex 16).",
)
@format_option(
    ["flags", "config", "emails-file"],
    "flags",
    "flags: one argument per line; config: oauth2-proxy.cfg keys; emails-file: the allowed list.",
    dest="fmt",
    format_alias=True,
)
@out_option
def oauth2_proxy_command(
    issuer: str,
    audiences: tuple[str, ...],
    beside_sso: bool,
    email_domains: tuple[str, ...],
    serviceaccounts: tuple[str, ...],
    emails_file: str | None,
    ca_path: str | None,
    cookie_secret_file: str,
    fmt: str,
    out: str | None,
) -> None:
    """Flags (or config keys) for OAuth2-Proxy to verify pods' tokens in `Authorization: Bearer`.

    \b
    Machine users only (the token's sub becomes the user and, lacking an email claim, the email):
      mapfile -t args < <(webhook oauth2-proxy --issuer https://oidc.example.com --audience sample)
      oauth2-proxy "${args[@]}" --upstream=http://127.0.0.1:8080 --http-address=0.0.0.0:4180
    Beside human SSO, admitting two ServiceAccounts and the humans of example.com:
      webhook oauth2-proxy --beside-sso --issuer https://oidc.example.com --audience sample \\
        --email-domain example.com --serviceaccount prod/api --serviceaccount prod/worker \\
        --emails-file /etc/oauth2-proxy/emails --format config
    """
    settings = oauth2proxy.settings(
        issuer=issuer,
        audiences=audiences,
        beside_sso=beside_sso,
        email_domains=email_domains,
        serviceaccounts=serviceaccounts,
        emails_file=emails_file,
        ca_path=ca_path,
        cookie_secret_file=cookie_secret_file,
    )
    if fmt == "flags":
        text = oauth2proxy.flags(settings)
    elif fmt == "config":
        text = oauth2proxy.config_file(settings)
    else:
        text = oauth2proxy.emails_file_text(serviceaccounts)
    write_output(text, out)
