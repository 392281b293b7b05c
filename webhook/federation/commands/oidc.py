"""`webhook oidc`: discovery documents and JWKS for static hosting (drives webhook/federation/oidc.py)."""

from __future__ import annotations

import click

from webhook.federation import cluster, oidc, tokens
from webhook.federation.commands.shared import (
    documents_format_option,
    dump_documents,
    note,
    one_format_option,
    out_option,
)
from webhook.federation.common import InputError, check_https_url, dump_json, write_output


@click.group("oidc")
def oidc_group() -> None:
    """OIDC discovery documents for static hosting (e.g. a public bucket), identical to kube-apiserver's."""


@oidc_group.command("discovery")
@click.option("--issuer", required=True, help="The --service-account-issuer (https).")
@click.option("--jwks-uri", help="Default: <issuer>/openid/v1/jwks.")
@click.option(
    "--public-key", "key_files", multiple=True, type=click.Path(dir_okay=False), help="Derive algs."
)
@one_format_option("JSON")
@out_option
def oidc_discovery(issuer: str, jwks_uri: str | None, key_files: tuple[str, ...], out: str | None) -> None:
    """/.well-known/openid-configuration for an issuer.

    \b
    webhook oidc discovery --issuer https://storage.googleapis.com/<bucket>/<cluster> \\
        --out openid-configuration
    gsutil cp openid-configuration gs://<bucket>/<cluster>/.well-known/openid-configuration
    """
    keys = [key for path in key_files for key in oidc.load_public_keys(path)]
    write_output(dump_json(oidc.discovery(issuer, jwks_uri=jwks_uri, keys=keys)), out)


def kubeconfig_options(func):  # type: ignore[no-untyped-def]
    func = click.option("--context", help="kubeconfig context.")(func)
    return click.option(
        "--kubeconfig", type=click.Path(dir_okay=False), help="Default: $KUBECONFIG or ~/.kube/config."
    )(func)


@oidc_group.command("jwks")
@click.option(
    "--public-key",
    "key_files",
    multiple=True,
    type=click.Path(dir_okay=False),
    help="PEM public key, certificate or private key (repeatable).",
)
@click.option("--from-cluster", is_flag=True, help="The cluster's own JWKS, through the kubeconfig.")
@click.option(
    "--merge",
    "merge_file",
    type=click.Path(dir_okay=False),
    help="Keep this JWKS's keys beside the new ones (by kid): the overlap a key rotation needs.",
)
@kubeconfig_options
@one_format_option("JSON")
@out_option
def oidc_jwks(
    key_files: tuple[str, ...],
    from_cluster: bool,
    merge_file: str | None,
    kubeconfig: str | None,
    context: str | None,
    out: str | None,
) -> None:
    """JWKS for service-account signing keys, with kube-apiserver's key IDs.

    Accepts PEM public keys, certificates or private keys (only the public part is published).

    \b
    webhook oidc jwks --public-key /etc/kubernetes/pki/sa.pub --out jwks
    gsutil cp jwks gs://<bucket>/<cluster>/openid/v1/jwks
    webhook oidc jwks --from-cluster                  # managed clusters: no sa.pub to hand
    webhook oidc jwks --from-cluster --merge jwks     # after a key rotation: old and new keys
    """
    if bool(key_files) == from_cluster:
        raise InputError("give --public-key FILE (repeatable) or --from-cluster, not both")
    if from_cluster:
        discovery, keyset = cluster.issuer_documents(kubeconfig, context)
        note(
            f"the cluster's issuer is {discovery.get('issuer')!r}; its discovery names jwks_uri "
            f"{discovery.get('jwks_uri')!r}"
        )
    else:
        keyset = oidc.jwks(key for path in key_files for key in oidc.load_public_keys(path))
    if merge_file:
        old = tokens.load_jwks(merge_file, None)
        fresh = len(keyset["keys"])
        keyset = oidc.merge_jwks(keyset, old, f"--merge {merge_file}")
        note(f"{fresh} new key(s) and {len(keyset['keys']) - fresh} kept from {merge_file}")
    write_output(dump_json(keyset), out)


@oidc_group.command("check")
@click.option("--issuer", required=True, help="The issuer relying parties trust (https).")
@click.option("--discovery-url", help="Where the hosted discovery document is, if not under the issuer.")
@click.option("--jwks-uri", help="The jwks_uri it must name (default: the cluster's own jwks_uri).")
@click.option("--ca-file", type=click.Path(dir_okay=False), help="CA of the hosting HTTPS server.")
@kubeconfig_options
def oidc_check(
    issuer: str,
    discovery_url: str | None,
    jwks_uri: str | None,
    ca_file: str | None,
    kubeconfig: str | None,
    context: str | None,
) -> None:
    """Compare the hosted discovery document and JWKS with the cluster's; exit 1 naming each difference.

    \b
    webhook oidc check --issuer https://storage.googleapis.com/<bucket>/<cluster>
    # missing kid '...': after a key rotation, re-upload `webhook oidc jwks --from-cluster --merge jwks`
    """
    check_https_url(issuer, "--issuer")
    where = discovery_url or issuer.rstrip("/") + "/.well-known/openid-configuration"
    hosted_discovery = tokens.fetch_json(where, ca_file, "hosted discovery")
    cluster_discovery, cluster_jwks = cluster.issuer_documents(kubeconfig, context)
    hosted_uri = hosted_discovery.get("jwks_uri") if isinstance(hosted_discovery, dict) else None
    hosted_jwks: object = None
    fetch_problem = None
    if isinstance(hosted_uri, str):
        try:
            hosted_jwks = tokens.fetch_json(hosted_uri, ca_file, "hosted jwks_uri")
        except InputError as exc:
            fetch_problem = str(exc)
    differences = oidc.hosting_differences(
        issuer, hosted_discovery, hosted_jwks, cluster_discovery, cluster_jwks, jwks_uri=jwks_uri
    )
    if fetch_problem:
        differences.append(fetch_problem)
    for difference in differences:
        click.echo(f"difference: {difference}")
    if differences:
        raise InputError(f"{len(differences)} difference(s) between the hosted documents and the cluster's")
    note(f"the hosted documents match the cluster's (issuer, jwks_uri, {len(cluster_jwks['keys'])} key(s))")


@oidc_group.command("discovery-rbac")
@click.option("--name", default="oidc-reviewer", show_default=True, help="ClusterRoleBinding name.")
@documents_format_option
@out_option
def oidc_discovery_rbac(name: str, output: str, out: str | None) -> None:
    """ClusterRoleBinding letting relying parties read the discovery documents anonymously.

    \b
    webhook oidc discovery-rbac | kubectl apply -f -
    # binds system:service-account-issuer-discovery to system:unauthenticated (public keys only)
    """
    write_output(dump_documents([oidc.discovery_rbac(name)], output), out)
