"""`webhook oidc`: discovery documents and JWKS for static hosting (drives webhook/federation/oidc.py)."""

from __future__ import annotations

import click

from webhook.federation import oidc
from webhook.federation.commands.shared import friendly, out_option
from webhook.federation.common import dump_json, write_output


@click.group("oidc")
def oidc_group() -> None:
    """OIDC discovery documents for static hosting (e.g. a public bucket), identical to kube-apiserver's."""


@oidc_group.command("discovery")
@click.option("--issuer", required=True, help="The --service-account-issuer (https).")
@click.option("--jwks-uri", help="Default: <issuer>/openid/v1/jwks.")
@click.option(
    "--public-key", "key_files", multiple=True, type=click.Path(dir_okay=False), help="Derive algs."
)
@out_option
@friendly
def oidc_discovery(issuer: str, jwks_uri: str | None, key_files: tuple[str, ...], out: str | None) -> None:
    """/.well-known/openid-configuration for an issuer.

    \b
    webhook oidc discovery --issuer https://storage.googleapis.com/<bucket>/<cluster> \\
        --out openid-configuration
    gsutil cp openid-configuration gs://<bucket>/<cluster>/.well-known/openid-configuration
    """
    keys = [key for path in key_files for key in oidc.load_public_keys(path)]
    write_output(dump_json(oidc.discovery(issuer, jwks_uri=jwks_uri, keys=keys)), out)


@oidc_group.command("jwks")
@click.option("--public-key", "key_files", multiple=True, required=True, type=click.Path(dir_okay=False))
@out_option
@friendly
def oidc_jwks(key_files: tuple[str, ...], out: str | None) -> None:
    """JWKS for service-account signing keys, with kube-apiserver's key IDs.

    Accepts PEM public keys, certificates or private keys (only the public part is published).

    \b
    webhook oidc jwks --public-key /etc/kubernetes/pki/sa.pub --out jwks
    gsutil cp jwks gs://<bucket>/<cluster>/openid/v1/jwks
    """
    keys = [key for path in key_files for key in oidc.load_public_keys(path)]
    write_output(dump_json(oidc.jwks(keys)), out)
