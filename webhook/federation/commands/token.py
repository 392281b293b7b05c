"""`webhook token`: inspect, verify, request service-account tokens (drives webhook/federation/tokens.py)."""

from __future__ import annotations

import sys
import time

import click

from webhook.federation import cluster, credential, downstream, tokens, vault
from webhook.federation.commands.shared import format_option, note, out_option, warn
from webhook.federation.common import InputError, dump_json, write_output


@click.group("token")
def token_group() -> None:
    """Look at, verify and request service-account tokens."""


text_or_json_option = format_option(["text", "json"], "text", "Output format.")
# Before -o/--output was the format everywhere, inspect and review had --json: kept, hidden (CHANGELOG).
legacy_json_option = click.option("--json", "legacy_json", is_flag=True, hidden=True)


def _token(value: str) -> str:
    return tokens.read_token_argument(value, sys.stdin.read() if value == "-" else None)


@token_group.command("inspect")
@click.argument("token")
@text_or_json_option
@legacy_json_option
def token_inspect(token: str, output: str, legacy_json: bool) -> None:
    """Header, claims and expiry of TOKEN (a JWT, a file, or - for stdin). Never verifies.

    \b
    kubectl exec nginx -- cat /var/run/secrets/tokens/oidc-token | webhook token inspect -
    """
    report = tokens.inspect(_token(token))
    click.echo(
        dump_json(report) if output == "json" or legacy_json else tokens.inspect_text(report), nl=False
    )


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
@format_option(["token", "json", "credential"], "token", "Output format.")
@out_option
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
    result = cluster.request_token(
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


@token_group.command("review")
@click.argument("token")
@click.option("--audience", "audiences", multiple=True, help="Audiences the token must carry (repeatable).")
@click.option("--kubeconfig", type=click.Path(dir_okay=False), help="Default: $KUBECONFIG or ~/.kube/config.")
@click.option("--context", help="kubeconfig context.")
@text_or_json_option
@legacy_json_option
def token_review(
    token: str,
    audiences: tuple[str, ...],
    kubeconfig: str | None,
    context: str | None,
    output: str,
    legacy_json: bool,
) -> None:
    """Ask the cluster who TOKEN (a JWT, a file, or - for stdin) is: the TokenReview API.

    \b
    webhook token review - --audience sms-api < /var/run/secrets/tokens/token
    # user: system:serviceaccount:production/mactemp, groups: system:serviceaccounts, ...
    Exit status 1 when the cluster does not authenticate the token.
    """
    if any(not a for a in audiences):
        raise InputError("--audience must not be empty")
    status = cluster.review_token(_token(token), audiences=audiences, kubeconfig=kubeconfig, context=context)
    as_json = output == "json" or legacy_json
    if as_json:
        click.echo(dump_json(status), nl=False)
    if not status.get("authenticated"):
        raise InputError(f"not authenticated: {status.get('error') or 'the cluster gave no reason'}")
    user = status.get("user") or {}
    if not as_json:
        click.echo(f"user: {user.get('username')}")
        click.echo(f"uid: {user.get('uid')}")
        click.echo(f"groups: {', '.join(user.get('groups') or [])}")
        click.echo(f"audiences: {', '.join(status.get('audiences') or [])}")
        for key, values in sorted((user.get("extra") or {}).items()):
            click.echo(f"extra {key}: {', '.join(values)}")
