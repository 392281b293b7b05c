"""`webhook greenhouse`: onboard a remote cluster to Greenhouse by OIDC (drives federation/greenhouse.py)."""

from __future__ import annotations

import click

from webhook.federation import greenhouse
from webhook.federation.commands.shared import documents_format_option, dump_documents, note, out_option
from webhook.federation.common import read_ca_bundle, write_output


@click.group("greenhouse")
def greenhouse_group() -> None:
    """Greenhouse managing a remote cluster with its own service-account tokens (no kubeconfig Secret)."""


@greenhouse_group.command("onboarding-secret")
@click.option("--cluster", required=True, help="Cluster name in Greenhouse (also the Secret's name).")
@click.option("--namespace", "-n", required=True, help="The Greenhouse organization's namespace.")
@click.option("--api-server-url", required=True, help="The remote cluster's API server (https).")
@click.option(
    "--ca-file", required=True, type=click.Path(dir_okay=False), help="The remote API server's CA (PEM)."
)
@click.option(
    "--username-prefix",
    default=greenhouse.DEFAULT_PREFIX,
    show_default=True,
    help="The prefix of the remote cluster's authn config (for the note on RBAC).",
)
@documents_format_option
@out_option
def greenhouse_onboarding_secret(
    cluster: str,
    namespace: str,
    api_server_url: str,
    ca_file: str,
    username_prefix: str,
    output: str,
    out: str | None,
) -> None:
    """The Secret (type greenhouse.sap/oidc) that onboards a remote cluster to a Greenhouse organization.

    \b
    # on the remote cluster: trust Greenhouse's issuer, let its ServiceAccount in
    webhook downstream authn-config --issuer https://<greenhouse-issuer> --audience greenhouse \\
        --username-prefix greenhouse: --merge /etc/kubernetes/authn.yaml --out /etc/kubernetes/authn.yaml
    webhook downstream rbac --username-prefix greenhouse: --serviceaccount <org>/<cluster> \\
        --cluster-role cluster-admin --name greenhouse-<cluster>-oidc-access
    # in the Greenhouse organization's namespace:
    webhook greenhouse onboarding-secret --cluster <cluster> -n <org> \\
        --api-server-url https://<remote-api-server> --ca-file remote-ca.crt | kubectl apply -f -
    """
    secret = greenhouse.onboarding_secret(
        cluster=cluster, namespace=namespace, api_server_url=api_server_url, ca_pem=read_ca_bundle(ca_file)
    )
    write_output(dump_documents([secret], output), out)
    user = greenhouse.remote_username(username_prefix, namespace, cluster)
    note(f"Greenhouse signs in to the remote cluster as User {user!r} (audience {greenhouse.AUDIENCE!r})")
