"""`webhook credential`: the ExecCredential of a token file (drives webhook/federation/credential.py)."""

from __future__ import annotations

import click

from webhook.federation import credential
from webhook.federation.common import dump_json


@click.command("credential")
@click.option("--token-file", required=True, type=click.Path(), help="The projected token file.")
def credential_command(token_file: str) -> None:
    """Print an ExecCredential for a token file (a kubectl/client-go exec plugin).

    \b
    webhook credential --token-file /var/run/secrets/tokens/federated-token
    The expirationTimestamp comes from the token's exp, so clients re-run the plugin in time.
    """
    click.echo(dump_json(credential.credential_from_file(token_file)), nl=False)
