"""`webhook certs generate`: a CA and a serving certificate for the webhook's Service, written to files."""

from __future__ import annotations

from pathlib import Path

import click

from webhook.certs import DEFAULT_NAMESPACE, DEFAULT_SERVICE, write_bundle


@click.group("certs")
def certs_group() -> None:
    """Certificates for the webhook's Service."""


@certs_group.command("generate")
@click.option("--service", default=DEFAULT_SERVICE, show_default=True, help="The webhook's Service name.")
@click.option("--namespace", default=DEFAULT_NAMESPACE, show_default=True, help="The Service's namespace.")
@click.option(
    "--out", type=click.Path(file_okay=False, path_type=Path), required=True, help="Output directory."
)
@click.option("--ip", "ips", multiple=True, help="Extra IP SAN (repeatable), e.g. 127.0.0.1.")
@click.option("--dns", "dns", multiple=True, help="Extra DNS SAN (repeatable), e.g. localhost.")
@click.option("--valid-days", type=click.IntRange(1, 3650), default=365, show_default=True)
def certs_generate(
    service: str, namespace: str, out: Path, ips: tuple[str, ...], dns: tuple[str, ...], valid_days: int
) -> None:
    """Write ca.crt, tls.crt and tls.key (EC P-256) for <service>.<namespace>.svc into --out."""
    try:
        paths = write_bundle(
            out,
            service=service,
            namespace=namespace,
            extra_dns=list(dns),
            ip_addresses=list(ips),
            valid_days=valid_days,
        )
    except ValueError as exc:
        raise click.UsageError(str(exc).splitlines()[0]) from None
    except OSError as exc:
        raise click.ClickException(f"cannot write to {out}: {exc.strerror or exc}") from None
    click.echo(f"wrote {paths.ca_cert}, {paths.cert}, {paths.key}")
