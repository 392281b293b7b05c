"""`webhook downstream`: make a downstream kube-apiserver trust the upstream.

Drives webhook/federation/downstream.py.
"""

from __future__ import annotations

from pathlib import Path

import click

from webhook.federation import downstream
from webhook.federation.commands.shared import friendly, note, out_option
from webhook.federation.common import InputError, dump_yaml, read_ca_bundle, write_output


@click.group("downstream")
def downstream_group() -> None:
    """Make a downstream kube-apiserver trust the upstream's service-account tokens."""


@downstream_group.command("authn-config")
@click.option("--issuer", required=True, help="The upstream's --service-account-issuer (https).")
@click.option("--audience", "audiences", multiple=True, required=True, help="Expected aud (repeatable).")
@click.option("--username-prefix", required=True, help="e.g. 'upstream:'; RBAC users are prefix+sub.")
@click.option("--discovery-url", help="Where the discovery document really is, if not under the issuer.")
@click.option(
    "--ca-file", type=click.Path(dir_okay=False), help="CA of the issuer's/discovery's HTTPS server."
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(downstream.FORMATS),
    default="v1",
    show_default=True,
    help="v1: Kubernetes 1.34+; v1beta1: 1.30-1.33; oidc-flags: legacy flags; gardener: OpenIDConnect.",
)
@click.option("--name", help="--format gardener: OpenIDConnect name (default from the prefix).")
@out_option
@friendly
def downstream_authn_config(
    issuer: str,
    audiences: tuple[str, ...],
    username_prefix: str,
    discovery_url: str | None,
    ca_file: str | None,
    fmt: str,
    name: str | None,
    out: str | None,
) -> None:
    """Structured AuthenticationConfiguration (or --oidc-* flags, or Gardener OpenIDConnect).

    \b
    webhook downstream authn-config --issuer https://upstream.example.com \\
        --audience downstream-cluster --username-prefix upstream-cluster-oidc: --ca-file upstream-ca.crt \\
        --out /etc/kubernetes/authn.yaml
    kube-apiserver --authentication-config=/etc/kubernetes/authn.yaml ...
    webhook downstream authn-config ... --format oidc-flags   # legacy --oidc-issuer-url etc.
    webhook downstream authn-config ... --format gardener     # authentication.gardener.cloud OpenIDConnect
    """
    notes = downstream.check_username_prefix(username_prefix)
    if fmt == "oidc-flags":
        if discovery_url:
            raise InputError("--discovery-url has no --oidc-* flag; use --format v1")
        if ca_file:
            read_ca_bundle(ca_file)
        flags = downstream.oidc_flags(
            issuer=issuer,
            audiences=audiences,
            username_prefix=username_prefix,
            ca_file=str(Path(ca_file).resolve()) if ca_file else None,
        )
        write_output("\n".join(flags) + "\n", out)
        for message in notes:
            note(message)
        return
    ca_pem = read_ca_bundle(ca_file) if ca_file else None
    if fmt == "gardener":
        if discovery_url:
            raise InputError("--discovery-url is not supported by Gardener's OpenIDConnect; use --format v1")
        default_name = username_prefix.rstrip(":-/_.").lower() or "upstream-oidc"
        doc = downstream.gardener_openidconnect(
            issuer=issuer,
            audiences=audiences,
            username_prefix=username_prefix,
            name=name or default_name,
            ca_pem=ca_pem,
        )
    else:
        doc = downstream.authentication_configuration(
            issuer=issuer,
            audiences=audiences,
            username_prefix=username_prefix,
            discovery_url=discovery_url,
            ca_pem=ca_pem,
            version=fmt,
        )
    write_output(dump_yaml([doc]), out)
    for message in notes:
        note(message)


@downstream_group.command("rbac")
@click.option("--username-prefix", required=True, help="The prefix of the authn config.")
@click.option("--serviceaccount", "serviceaccounts", multiple=True, required=True, help="Upstream NS/NAME.")
@click.option("--namespace", "-n", help="Downstream namespace (omit only with --cluster-role).")
@click.option(
    "--name", default="kubernetes-oidc", show_default=True, help="Base name: <name>-role, -binding."
)
@click.option("--resource", "resources", multiple=True, help="[GROUP/]RESOURCE for a new Role (repeatable).")
@click.option("--verbs", help="Comma-separated verbs for --resource (default get,list,watch).")
@click.option("--role", help="Bind this existing Role instead of creating one.")
@click.option("--cluster-role", help="Bind this ClusterRole (cluster-wide without --namespace).")
@out_option
@friendly
def downstream_rbac(
    username_prefix: str,
    serviceaccounts: tuple[str, ...],
    namespace: str | None,
    name: str,
    resources: tuple[str, ...],
    verbs: str | None,
    role: str | None,
    cluster_role: str | None,
    out: str | None,
) -> None:
    """Role + RoleBinding (or a binding to an existing role) for upstream service accounts.

    \b
    webhook downstream rbac --username-prefix argocd-cluster-oidc: -n demo \\
        --serviceaccount argocd/argocd-application-controller --serviceaccount argocd/argocd-server
    # default Role: pods get/watch/list; apps deployments get/watch/list/create/update/delete
    webhook downstream rbac --username-prefix greenhouse: --serviceaccount org/cluster \\
        --cluster-role cluster-admin
    """
    docs = downstream.rbac(
        username_prefix=username_prefix,
        serviceaccounts=serviceaccounts,
        namespace=namespace,
        name=name,
        resources=resources,
        verbs=[v.strip() for v in verbs.split(",")] if verbs is not None else [],
        role=role,
        cluster_role=cluster_role,
    )
    write_output(dump_yaml(docs), out)
