"""`webhook downstream`: make a downstream kube-apiserver trust the upstream.

Drives webhook/federation/downstream.py.
"""

from __future__ import annotations

from pathlib import Path

import click

from webhook.federation import authnconfig, downstream
from webhook.federation.commands.shared import (
    documents_format_option,
    dump_documents,
    format_option,
    note,
    out_option,
    warn,
)
from webhook.federation.common import InputError, dump_yaml, read_text, write_output


@click.group("downstream")
def downstream_group() -> None:
    """Make a downstream kube-apiserver trust the upstream's service-account tokens."""


class IssuerOrderCommand(click.Command):
    """Records the order of --issuer and its options, which click's parsed values no longer show."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta["issuer_options"] = authnconfig.options_in_order(args)
        return super().parse_args(ctx, args)


@downstream_group.command("authn-config", cls=IssuerOrderCommand)
@click.option(
    "--issuer",
    "issuers",
    multiple=True,
    help="The upstream's --service-account-issuer (https); repeat for several upstreams.",
)
@click.option("--audience", "audiences", multiple=True, help="Expected aud (repeatable).")
@click.option("--username-prefix", multiple=True, help="e.g. 'upstream:'; RBAC users are prefix+sub.")
@click.option(
    "--discovery-url", multiple=True, help="Where the discovery document really is, if not under the issuer."
)
@click.option(
    "--ca-file",
    multiple=True,
    type=click.Path(dir_okay=False),
    help="CA of the issuer's/discovery's HTTPS server.",
)
@click.option(
    "--ca-path",
    multiple=True,
    help="--format oidc-flags: the CA's path on the control plane (--oidc-ca-file).",
)
@click.option(
    "--issuers-file",
    type=click.Path(dir_okay=False),
    help="YAML list of {issuer, audience, username-prefix, ca-file, ca-path, discovery-url}.",
)
@click.option(
    "--merge",
    "merge_file",
    type=click.Path(dir_okay=False),
    help="Add our entries to this AuthenticationConfiguration (same issuer URL: replaced), keep the rest.",
)
@format_option(
    downstream.FORMATS,
    "v1",
    "v1: Kubernetes 1.34+; v1beta1: 1.30-1.33; oidc-flags: legacy flags; gardener: OpenIDConnect.",
    dest="fmt",
    format_alias=True,
)
@click.option("--name", help="--format gardener: OpenIDConnect name (default from the prefix).")
@out_option
@click.pass_context
def downstream_authn_config(
    ctx: click.Context,
    issuers: tuple[str, ...],
    audiences: tuple[str, ...],
    username_prefix: tuple[str, ...],
    discovery_url: tuple[str, ...],
    ca_file: tuple[str, ...],
    ca_path: tuple[str, ...],
    issuers_file: str | None,
    merge_file: str | None,
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

    \b
    Several upstreams: each option belongs to the --issuer before it (or use --issuers-file):
    webhook downstream authn-config \\
        --issuer https://a.example.com --audience downstream --username-prefix a: --ca-file a.crt \\
        --issuer https://b.example.com --audience downstream --username-prefix b:
    Beside the issuers a cluster already trusts (e.g. a human SSO issuer):
    webhook downstream authn-config ... --merge /etc/kubernetes/authn.yaml --out authn.yaml
    """
    specs = authnconfig.issuers_from_file(issuers_file) if issuers_file else []
    ordered = ctx.meta["issuer_options"]
    if issuers:
        specs += authnconfig.issuers_from_command_line(ordered)
    elif not specs:
        raise click.UsageError("Missing option '--issuer' (or --issuers-file).")
    elif ordered:
        option, value = ordered[0]
        raise InputError(f"{option} {value!r} needs an --issuer (--issuers-file entries carry their own)")
    downstream.check_distinct_issuers([spec.url for spec in specs])
    notes: list[str] = []
    for spec in specs:
        if spec.username_prefix is None:
            raise click.UsageError(
                "Missing option '--username-prefix'."
                if len(specs) == 1
                else f"Missing option '--username-prefix' for --issuer {spec.url!r}."
            )
        if not spec.audiences:
            raise click.UsageError(
                "Missing option '--audience'."
                if len(specs) == 1
                else f"Missing option '--audience' for --issuer {spec.url!r}."
            )
        notes += [n for n in downstream.check_username_prefix(spec.username_prefix) if n not in notes]
        if spec.ca_path and fmt != "oidc-flags":
            raise InputError("--ca-path is for --format oidc-flags (the other formats embed the CA itself)")
    if merge_file and fmt not in ("v1", "v1beta1"):
        raise InputError(f"--merge works on an AuthenticationConfiguration, not --format {fmt}")
    if fmt == "oidc-flags":
        if len(specs) > 1:
            raise InputError(
                "--format oidc-flags takes one --issuer (the legacy flags trust one); use --format v1"
            )
        [spec] = specs
        if spec.discovery_url:
            raise InputError("--discovery-url has no --oidc-* flag; use --format v1")
        spec.ca_pem()
        ca_on_control_plane = spec.ca_path or (str(Path(spec.ca_file).resolve()) if spec.ca_file else None)
        flags = downstream.oidc_flags(
            issuer=spec.url,
            audiences=spec.audiences,
            username_prefix=spec.username_prefix or "",
            ca_file=ca_on_control_plane,
        )
        write_output("\n".join(flags) + "\n", out)
        if spec.ca_file and not spec.ca_path:
            warn(
                f"--oidc-ca-file is {ca_on_control_plane}, this machine's path; give --ca-path for the "
                "CA's path on the control plane"
            )
        for message in notes:
            note(message)
        return
    if fmt == "gardener":
        if name and len(specs) > 1:
            raise InputError("--name names one OpenIDConnect; leave it out with several --issuer")
        docs = []
        for spec in specs:
            if spec.discovery_url:
                raise InputError(
                    "--discovery-url is not supported by Gardener's OpenIDConnect; use --format v1"
                )
            prefix = spec.username_prefix or ""
            docs.append(
                downstream.gardener_openidconnect(
                    issuer=spec.url,
                    audiences=spec.audiences,
                    username_prefix=prefix,
                    name=name or prefix.rstrip(":-/_.").lower() or "upstream-oidc",
                    ca_pem=spec.ca_pem(),
                )
            )
        if len({d["metadata"]["name"] for d in docs}) != len(docs):
            raise InputError("two issuers give the same OpenIDConnect name; use distinct --username-prefix")
        write_output(dump_yaml(docs), out)
        for message in notes:
            note(message)
        return
    entries = [
        downstream.jwt_authenticator(
            issuer=spec.url,
            audiences=spec.audiences,
            username_prefix=spec.username_prefix or "",
            discovery_url=spec.discovery_url,
            ca_pem=spec.ca_pem(),
        )
        for spec in specs
    ]
    if merge_file:
        text = authnconfig.merge_into(read_text(merge_file, "--merge file"), entries, f"--merge {merge_file}")
        write_output(text, out)
    else:
        write_output(dump_yaml([downstream.authentication_configuration_of(entries, fmt)]), out)
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
@documents_format_option
@out_option
def downstream_rbac(
    username_prefix: str,
    serviceaccounts: tuple[str, ...],
    namespace: str | None,
    name: str,
    resources: tuple[str, ...],
    verbs: str | None,
    role: str | None,
    cluster_role: str | None,
    output: str,
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
    write_output(dump_documents(docs, output), out)
