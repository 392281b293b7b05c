"""`webhook argocd`: ArgoCD managing a downstream cluster with its projected token.

Drives webhook/federation/argocd.py.
"""

from __future__ import annotations

from pathlib import Path

import click

from webhook.federation import argocd
from webhook.federation.commands.shared import (
    documents_format_option,
    dump_documents,
    note,
    one_format_option,
    out_option,
    warn,
)
from webhook.federation.common import (
    InputError,
    check_https_url,
    dump_yaml,
    read_ca_bundle,
    write_output,
)


@click.group("argocd")
def argocd_group() -> None:
    """ArgoCD managing a downstream cluster with its projected token (no long-lived kubeconfig Secret)."""


@argocd_group.command("patches")
@click.option("--audience", default=argocd.DEFAULT_AUDIENCE, show_default=True, help="Token audience.")
@click.option("--mount-path", default=argocd.DEFAULT_MOUNT_PATH, show_default=True)
@click.option("--path", default=argocd.DEFAULT_PATH, show_default=True, help="File name inside --mount-path.")
@click.option("--volume-name", default=argocd.DEFAULT_VOLUME, show_default=True)
@click.option("--expiration-seconds", type=int, help="Token lifetime (600..2^32; kubelet default 3600).")
@click.option("--out-dir", type=click.Path(file_okay=False), help="Write the two patch files here.")
@one_format_option("YAML patches")
def argocd_patches(
    audience: str,
    mount_path: str,
    path: str,
    volume_name: str,
    expiration_seconds: int | None,
    out_dir: str | None,
) -> None:
    """Strategic-merge patches adding the token to argocd-application-controller and argocd-server.

    \b
    webhook argocd patches --audience downstream-cluster --out-dir .
    kubectl -n argocd patch statefulset argocd-application-controller \\
        --patch-file argocd-application-controller-token-patch.yaml
    kubectl -n argocd patch deployment argocd-server --patch-file argocd-server-token-patch.yaml
    """
    files = argocd.patch_files(
        audience=audience,
        mount_path=mount_path,
        path=path,
        volume=volume_name,
        expiration_seconds=expiration_seconds,
    )
    if out_dir is None:
        chunks = [
            f"# {fname}: kubectl patch {kind.lower()} {name} --patch-file {fname}\n" + dump_yaml([p])
            for fname, (kind, name, p) in files.items()
        ]
        click.echo("---\n".join(chunks), nl=False)
        return
    directory = Path(out_dir)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"--out-dir {out_dir}: cannot create: {exc.strerror or exc}") from None
    for fname, (kind, name, patch) in files.items():
        write_output(dump_yaml([patch]), directory / fname)
        note(f"wrote {directory / fname}: kubectl -n argocd patch {kind.lower()} {name} --patch-file {fname}")


@argocd_group.command("annotate")
@click.option("--audience", default=argocd.DEFAULT_AUDIENCE, show_default=True)
@click.option("--mount-path", default=argocd.DEFAULT_MOUNT_PATH, show_default=True)
@click.option("--path", default=argocd.DEFAULT_PATH, show_default=True)
@click.option(
    "--token-name", default="downstream", show_default=True, help="Named token of the generic dialect."
)
@click.option("--default-token", is_flag=True, help="Use the unnamed token (P/audience, P/path) instead.")
@click.option("--prefix", default="projected-token.io", show_default=True, help="Annotation prefix.")
@click.option("--expiration-seconds", type=int)
@click.option("--env", help="Env var naming the token file ('' for none; default per the dialect).")
@click.option("--namespace", "-n", default="argocd", show_default=True)
@click.option(
    "--serviceaccount", "serviceaccounts", multiple=True, help="Default: ArgoCD's controller and server."
)
@documents_format_option
@out_option
def argocd_annotate(
    audience: str,
    mount_path: str,
    path: str,
    token_name: str,
    default_token: bool,
    prefix: str,
    expiration_seconds: int | None,
    env: str | None,
    namespace: str,
    serviceaccounts: tuple[str, ...],
    output: str,
    out: str | None,
) -> None:
    """ServiceAccount annotations making the webhook inject the same token as `argocd patches`.

    \b
    webhook argocd annotate --audience downstream-cluster | kubectl apply --server-side -f -
    # → projected-token.io/downstream.audience: downstream-cluster
    #   projected-token.io/downstream.path: federated-token
    #   token at /var/run/secrets/tokens/federated-token, $DOWNSTREAM_TOKEN_FILE
    """
    annotations = argocd.serviceaccount_annotations(
        audience=audience,
        mount_path=mount_path,
        path=path,
        token_name=None if default_token else token_name,
        prefix=prefix,
        expiration_seconds=expiration_seconds,
        env=env,
    )
    names = serviceaccounts or argocd.SERVICEACCOUNTS
    docs = argocd.annotated_serviceaccounts(annotations, namespace=namespace, names=tuple(names))
    write_output(dump_documents(docs, output), out)
    note(f"token file in the pods: {mount_path.rstrip('/')}/{path}; restart the pods to get it")


@argocd_group.command("cluster-secret")
@click.option("--name", required=True, help="Cluster name shown by ArgoCD.")
@click.option("--server", required=True, help="Downstream API server URL (https).")
@click.option(
    "--ca-file", required=True, type=click.Path(dir_okay=False), help="Downstream serving CA (PEM)."
)
@click.option(
    "--token-file",
    default=f"{argocd.DEFAULT_MOUNT_PATH}/{argocd.DEFAULT_PATH}",
    show_default=True,
    help="Token path inside the ArgoCD pods.",
)
@click.option("--exec", "form", type=click.Choice(argocd.EXEC_FORMS), default="bash", show_default=True)
@click.option("--namespace", "-n", default="argocd", show_default=True)
@click.option("--secret-name", help="Default: <name>-cluster-secret.")
@documents_format_option
@out_option
def argocd_cluster_secret(
    name: str,
    server: str,
    ca_file: str,
    token_file: str,
    form: str,
    namespace: str,
    secret_name: str | None,
    output: str,
    out: str | None,
) -> None:
    """The declarative cluster Secret whose exec provider reads the projected token.

    \b
    webhook argocd cluster-secret --name downstream-cluster \\
        --server https://downstream-cluster.example.com --ca-file downstream-ca.crt \\
        | kubectl -n argocd apply -f -
    --exec bash (default) works with stock ArgoCD images; --exec argocd-k8s-auth needs
    `argocd-k8s-auth token-file`, proposed in ArgoCD PR #13476 and never merged.
    """
    check_https_url(server, "--server")
    if form == "argocd-k8s-auth":
        warn(
            "argocd-k8s-auth has no token-file command in released ArgoCD (PR #13476 unmerged); "
            "use --exec bash"
        )
    secret = argocd.cluster_secret(
        name=name,
        server=server,
        ca_pem=read_ca_bundle(ca_file),
        token_file=token_file,
        form=form,
        namespace=namespace,
        secret_name=secret_name,
    )
    write_output(dump_documents([secret], output), out)
