"""The trusting-side CLI: `webhook argocd|credential|kubeconfig|downstream|oidc|token ...`.

Each command prints ready-to-apply YAML/JSON to stdout (or --out); notes go to stderr; bad input is one line
on stderr and a non-zero exit.
"""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from webhook.federation import argocd, credential, downstream, kubeconfig, oidc, tokens, vault
from webhook.federation.common import (
    InputError,
    check_https_url,
    dump_json,
    dump_yaml,
    read_ca_bundle,
    write_output,
)

F = TypeVar("F", bound=Callable[..., Any])
out_option = click.option(
    "--out", "-o", "out", type=click.Path(dir_okay=False), help="Write to this file instead of stdout."
)


def friendly(func: F) -> F:
    """Turn InputError into click's one-line `Error: ...` and exit status 1."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except InputError as exc:
            raise click.ClickException(str(exc)) from None

    return wrapper  # type: ignore[return-value]


def note(message: str) -> None:
    click.echo(f"note: {message}", err=True)


def warn(message: str) -> None:
    click.echo(f"warning: {message}", err=True)


# --- argocd ------------------------------------------------------------------------------------------------


@click.group("argocd")
def argocd_group() -> None:
    """ArgoCD managing a downstream cluster with its projected token (seed: SAP's OIDC federation guide)."""


@argocd_group.command("patches")
@click.option("--audience", default=argocd.DEFAULT_AUDIENCE, show_default=True, help="Token audience.")
@click.option("--mount-path", default=argocd.DEFAULT_MOUNT_PATH, show_default=True)
@click.option("--path", default=argocd.DEFAULT_PATH, show_default=True, help="File name inside --mount-path.")
@click.option("--volume-name", default=argocd.DEFAULT_VOLUME, show_default=True)
@click.option("--expiration-seconds", type=int, help="Token lifetime (600..2^32; kubelet default 3600).")
@click.option("--out-dir", type=click.Path(file_okay=False), help="Write the two patch files here.")
@friendly
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
@out_option
@friendly
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
    write_output(dump_yaml(docs), out)
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
@out_option
@friendly
def argocd_cluster_secret(
    name: str,
    server: str,
    ca_file: str,
    token_file: str,
    form: str,
    namespace: str,
    secret_name: str | None,
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
    write_output(dump_yaml([secret]), out)


# --- credential and kubeconfig -----------------------------------------------------------------------------


@click.command("credential")
@click.option("--token-file", required=True, type=click.Path(), help="The projected token file.")
@friendly
def credential_command(token_file: str) -> None:
    """Print an ExecCredential for a token file (a kubectl/client-go exec plugin).

    \b
    webhook credential --token-file /var/run/secrets/tokens/federated-token
    The expirationTimestamp comes from the token's exp, so clients re-run the plugin in time.
    """
    click.echo(dump_json(credential.credential_from_file(token_file)), nl=False)


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
@out_option
@friendly
def kubeconfig_command(
    server: str,
    ca_file: str,
    token_file: str,
    namespace: str | None,
    form: str,
    name: str,
    command: str,
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
    write_output(dump_yaml([doc]), out, private=False)


# --- downstream --------------------------------------------------------------------------------------------


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
    # default rules (seed): pods get/watch/list; apps deployments get/watch/list/create/update/delete
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


# --- oidc --------------------------------------------------------------------------------------------------


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


# --- token -------------------------------------------------------------------------------------------------


@click.group("token")
def token_group() -> None:
    """Look at, verify and request service-account tokens."""


def _token(value: str) -> str:
    return tokens.read_token_argument(value, sys.stdin.read() if value == "-" else None)


@token_group.command("inspect")
@click.argument("token")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@friendly
def token_inspect(token: str, as_json: bool) -> None:
    """Header, claims and expiry of TOKEN (a JWT, a file, or - for stdin). Never verifies.

    \b
    kubectl exec nginx -- cat /var/run/secrets/tokens/oidc-token | webhook token inspect -
    """
    report = tokens.inspect(_token(token))
    click.echo(dump_json(report) if as_json else tokens.inspect_text(report), nl=False)


@token_group.command("verify")
@click.argument("token")
@click.option("--jwks", "jwks_source", help="JWKS file or https URL.")
@click.option("--issuer", help="Expected iss; without --jwks, keys come from its discovery document.")
@click.option("--audience", "audiences", multiple=True, help="Expected aud (repeatable: any matches).")
@click.option("--ca-file", type=click.Path(dir_okay=False), help="CA for the HTTPS fetches.")
@click.option("--leeway", type=float, default=0, show_default=True, help="Clock skew allowed, seconds.")
@click.option("--subject", help="Expected sub, as Vault's bound_subject.")
@click.option(
    "--claim", "claim_entries", multiple=True, help="KEY=VALUE as Vault's bound_claims (repeatable)."
)
@click.option("--glob", is_flag=True, help="--claim values are globs (bound_claims_type glob).")
@friendly
def token_verify(
    token: str,
    jwks_source: str | None,
    issuer: str | None,
    audiences: tuple[str, ...],
    ca_file: str | None,
    leeway: float,
    subject: str | None,
    claim_entries: tuple[str, ...],
    glob: bool,
) -> None:
    """Verify TOKEN's signature, iss, aud, exp and nbf (as Vault's JWT auth would); print its claims.

    \b
    webhook token verify "$JWT" --issuer https://localhost:6443 --ca-file kubernetes_ca.crt --audience vault
    webhook token verify - --jwks jwks.json --audience downstream-cluster < token
    Exit status 1 with the reason when the token is invalid.
    """
    if not jwks_source and not issuer:
        raise InputError("give --jwks FILE|URL or --issuer URL")
    bound = vault.bound_claims(claim_entries)
    value = _token(token)
    keys = (
        tokens.load_jwks(jwks_source, ca_file) if jwks_source else tokens.discover_jwks(issuer or "", ca_file)
    )
    try:
        claims = tokens.verify(value, keys, issuer=issuer, audiences=audiences, leeway=leeway)
    except tokens.InvalidToken as exc:
        raise click.ClickException(f"invalid token: {exc}") from None
    problems = vault.binding_problems(claims, subject=subject, bound=bound, glob=glob)
    if problems:
        raise click.ClickException(f"token refused by the bindings: {'; '.join(problems)}")
    checked = ["signature", "exp", "nbf"] + (["iss"] if issuer else []) + (["aud"] if audiences else [])
    checked += (["sub"] if subject else []) + list(bound)
    if not audiences:
        warn("audience not checked (give --audience)")
    click.echo(dump_json(claims), nl=False)
    exp = claims.get("exp")
    phrase = tokens.expiry_phrase(exp, time.time()) if isinstance(exp, int | float) else ""
    note(f"valid ({', '.join(checked)} checked); sub={claims.get('sub')!r}, {phrase}")


@token_group.command("request")
@click.option("--serviceaccount", required=True, help="NAMESPACE/NAME")
@click.option("--audience", "audiences", multiple=True, required=True, help="Repeatable.")
@click.option("--duration", default="1h", show_default=True, help="600s..: e.g. 10m, 1h, 3600.")
@click.option("--kubeconfig", type=click.Path(dir_okay=False), help="Default: $KUBECONFIG or ~/.kube/config.")
@click.option("--context", help="kubeconfig context.")
@click.option(
    "--output", type=click.Choice(["token", "json", "credential"]), default="token", show_default=True
)
@out_option
@friendly
def token_request(
    serviceaccount: str,
    audiences: tuple[str, ...],
    duration: str,
    kubeconfig: str | None,
    context: str | None,
    output: str,
    out: str | None,
) -> None:
    """Get a token for a ServiceAccount through the TokenRequest API (local development).

    \b
    webhook token request --serviceaccount production/mactemp --audience hello --duration 10m
    # the same as: kubectl -n production create token mactemp --audience hello --duration 10m
    """
    namespace, name = downstream.parse_serviceaccount(serviceaccount)
    if any(not a for a in audiences):
        raise InputError("--audience must not be empty")
    result = tokens.request_token(
        namespace=namespace,
        name=name,
        audiences=audiences,
        duration_seconds=tokens.parse_duration(duration),
        kubeconfig=kubeconfig,
        context=context,
    )
    if output == "token":
        text = result["token"] + "\n"
    elif output == "json":
        text = dump_json(result)
    else:
        text = dump_json(credential.exec_credential(result["token"]))
    write_output(text, out, private=True)
