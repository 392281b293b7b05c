"""`webhook vault config|role`: Vault's (or OpenBao's) JWT auth trusting pods' projected tokens.

Drives webhook/federation/vault.py.
"""

from __future__ import annotations

import click

from webhook.federation import vault
from webhook.federation.commands.shared import format_option, out_option
from webhook.federation.common import dump_json, write_output

vault_format_option = format_option(
    ["cli", "json"],
    "cli",
    "cli: ready `vault write` lines (JSON on stdin); json: the request body for the HTTP API.",
    dest="fmt",
    format_alias=True,
)
mount_option = click.option(
    "--path",
    "mount",
    default=vault.DEFAULT_MOUNT,
    show_default=True,
    help="Mount path of the JWT auth method.",
)


@click.group("vault")
def vault_group() -> None:
    """Vault / OpenBao JWT auth for our issuer: the auth method's config and one role per workload."""


@vault_group.command("config")
@click.option(
    "--issuer", required=True, help="The upstream's --service-account-issuer (becomes bound_issuer)."
)
@click.option("--ca-file", type=click.Path(dir_okay=False), help="CA of the issuer's HTTPS server (PEM).")
@click.option("--jwks-url", help="Fetch keys from this JWKS instead of the issuer's discovery document.")
@click.option(
    "--public-key",
    "public_keys",
    multiple=True,
    type=click.Path(dir_okay=False),
    help="Static keys instead (sa.pub; repeatable; replace them on every rotation).",
)
@click.option("--default-role", help="Role used when a login names none.")
@mount_option
@vault_format_option
@out_option
def vault_config(
    issuer: str,
    ca_file: str | None,
    jwks_url: str | None,
    public_keys: tuple[str, ...],
    default_role: str | None,
    mount: str,
    fmt: str,
    out: str | None,
) -> None:
    """`vault write auth/jwt/config`: discovery at the issuer (oidc_discovery_url, oidc_discovery_ca_pem,
    bound_issuer), or --jwks-url / --public-key where Vault cannot reach the discovery document.

    \b
    webhook vault config --issuer https://localhost:6443 --ca-file kubernetes_ca.crt | sh
    webhook vault config --issuer https://oidc.example.com --public-key sa.pub --format json
    """
    payload = vault.config_payload(
        issuer=issuer,
        ca_file=ca_file,
        jwks_url=jwks_url,
        public_key_files=public_keys,
        default_role=default_role,
    )
    text = dump_json(payload) if fmt == "json" else vault.config_commands(mount, payload)
    write_output(text, out)


@vault_group.command("role")
@click.argument("name")
@click.option("--audience", "audiences", multiple=True, required=True, help="bound_audiences (repeatable).")
@click.option(
    "--serviceaccount",
    "serviceaccounts",
    multiple=True,
    help="NAMESPACE/NAME allowed to log in (repeatable; NAMESPACE/* for all of a namespace).",
)
@click.option(
    "--claim",
    "claims",
    multiple=True,
    help="KEY=VALUE bound claim (repeatable; KEY may be a JSON pointer like /kubernetes.io/namespace).",
)
@click.option("--policy", "policies", multiple=True, help="token_policies (repeatable; default: default).")
@click.option("--user-claim", default="sub", show_default=True, help="Claim naming the Vault entity alias.")
@click.option("--ttl", default=vault.DEFAULT_TTL, show_default=True, help="token_ttl of the Vault token.")
@click.option("--max-ttl", help="token_max_ttl.")
@click.option("--leeway", type=int, help="clock_skew_leeway in seconds (plugin default 60).")
@mount_option
@vault_format_option
@out_option
def vault_role(
    name: str,
    audiences: tuple[str, ...],
    serviceaccounts: tuple[str, ...],
    claims: tuple[str, ...],
    policies: tuple[str, ...],
    user_claim: str,
    ttl: str,
    max_ttl: str | None,
    leeway: int | None,
    mount: str,
    fmt: str,
    out: str | None,
) -> None:
    """`vault write auth/jwt/role/NAME`: role_type jwt, bound_audiences, the ServiceAccounts allowed
    (bound_subject, or a bound_claims sub list), user_claim, token_policies, token_ttl.

    \b
    webhook vault role demo --audience vault --serviceaccount default/default --policy default | sh
    webhook vault role ci --audience vault --serviceaccount ci/* --claim /kubernetes.io/pod/name=runner-*
    Check a token as this role would: webhook token verify TOKEN --issuer ... --audience vault --subject ...
    """
    vault.check_role_name(name)
    payload = vault.role_payload(
        audiences=audiences,
        serviceaccounts=serviceaccounts,
        claims=claims,
        policies=policies,
        user_claim=user_claim,
        ttl=ttl,
        max_ttl=max_ttl,
        leeway=leeway,
    )
    text = dump_json(payload) if fmt == "json" else vault.role_commands(mount, name, payload)
    write_output(text, out)
