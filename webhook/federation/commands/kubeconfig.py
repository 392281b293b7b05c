"""`webhook kubeconfig`: a downstream kubeconfig authenticating with the mounted token.

Drives webhook/federation/kubeconfig.py.
"""

from __future__ import annotations

import click

from webhook.federation import argocd, kubeconfig
from webhook.federation.commands.shared import documents_format_option, dump_documents, out_option
from webhook.federation.common import read_ca_bundle, write_output


@click.command("kubeconfig")
@click.option("--server", required=True, help="Downstream API server URL (https).")
@click.option(
    "--ca-file", required=True, type=click.Path(dir_okay=False), help="Downstream serving CA (PEM)."
)
@click.option("--token-file", default=f"{argocd.DEFAULT_MOUNT_PATH}/{argocd.DEFAULT_PATH}", show_default=True)
@click.option("--namespace", "-n", help="Default namespace of the context.")
@click.option(
    "--exec", "form", type=click.Choice(kubeconfig.EXEC_FORMS), default="webhook", show_default=True
)
@click.option("--name", default="downstream", show_default=True, help="Cluster, user and context name.")
@click.option(
    "--command", default="webhook", show_default=True, help="The webhook executable (--exec webhook)."
)
@documents_format_option
@out_option
def kubeconfig_command(
    server: str,
    ca_file: str,
    token_file: str,
    namespace: str | None,
    form: str,
    name: str,
    command: str,
    output: str,
    out: str | None,
) -> None:
    """A kubeconfig for the downstream cluster that authenticates with the mounted token.

    \b
    webhook kubeconfig --server https://downstream.example.com:6443 --ca-file ca.crt \\
        --token-file /var/run/secrets/tokens/federated-token --namespace demo --out downstream.kubeconfig
    KUBECONFIG=downstream.kubeconfig kubectl get pods
    --exec bash: for images without this package (no expiry in the credential).
    """
    doc = kubeconfig.kubeconfig(
        server=server,
        ca_pem=read_ca_bundle(ca_file),
        token_file=token_file,
        namespace=namespace,
        form=form,
        name=name,
        command=command,
    )
    write_output(dump_documents([doc], output), out, private=False)
