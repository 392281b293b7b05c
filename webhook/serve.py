"""`webhook serve`: the admission server, built from its settings."""

from __future__ import annotations

import gc
import logging
import os
from pathlib import Path
from typing import Any

import click

from webhook import logs
from webhook.app import create_app, create_metrics_app
from webhook.certs import ensure_self_signed
from webhook.drain import ServerState
from webhook.errors import UsageError, UserError
from webhook.httpserver import bind_socket, uvicorn_server
from webhook.metrics import Metrics
from webhook.options import settings_from_options, settings_options
from webhook.serve_settings import ServeSettings
from webhook.serviceaccounts import ClusterCache, Source, StaticFileSource, annotation_prefixes, api_client
from webhook.tls import CertReloader

log = logging.getLogger("webhook.serve")

_PATH = click.Path(dir_okay=False, path_type=Path)


def build_source(settings: ServeSettings, metrics: Metrics) -> Source:
    """The ServiceAccount source the settings ask for; a UserError (one line) when it cannot be had."""
    hooks = metrics
    if settings.serviceaccounts is not None:
        try:
            return StaticFileSource(
                settings.serviceaccounts, poll_interval=settings.serviceaccounts_reload_interval, hooks=hooks
            )
        except Exception as exc:  # InputError, OSError: the message names the file
            raise UserError(f"--serviceaccounts: {exc}".splitlines()[0]) from None
    if settings.kubeconfig is None and not os.environ.get("KUBERNETES_SERVICE_HOST"):
        raise UsageError(
            "no ServiceAccount source: pass --serviceaccounts FILE, --kubeconfig FILE, or run in a cluster"
        )
    try:
        api = api_client(settings.kubeconfig)
    except Exception as exc:
        where = f"--kubeconfig {settings.kubeconfig}" if settings.kubeconfig else "in-cluster config"
        raise UserError(f"{where}: cannot configure the Kubernetes client: {exc}".splitlines()[0]) from None
    prefixes = annotation_prefixes(settings.annotation_prefix, settings.dialects, settings)
    return ClusterCache(api, prefixes, hooks=hooks, lookup_timeout=settings.lookup_timeout)


def build_tls(settings: ServeSettings) -> CertReloader:
    if settings.self_signed:
        if settings.tls_cert or settings.tls_key:
            raise UsageError("--self-signed and --tls-cert/--tls-key exclude each other")
        try:
            paths = ensure_self_signed(
                settings.certs_dir, service=settings.service, namespace=settings.namespace
            )
        except OSError as exc:
            raise UserError(f"cannot write certificates to {settings.certs_dir}: {exc}") from None
        cert, key = paths.cert, paths.key
        log.info("self-signed certificates ready", extra={"ca": str(paths.ca_cert)})
    elif settings.tls_cert and settings.tls_key:
        cert, key = settings.tls_cert, settings.tls_key
    else:
        raise UsageError("TLS is required: pass --tls-cert and --tls-key, or --self-signed")
    try:
        return CertReloader(cert, key)
    except Exception as exc:
        raise UserError(f"cannot load the serving certificate {cert} / {key}: {exc}") from None


@click.command("serve")
@settings_options(ServeSettings)
def serve_command(**kwargs: Any) -> None:
    """Serve the mutating admission webhook over HTTPS (POST /mutate, /healthz, /readyz, /metrics), and
    /metrics alone in plain HTTP with --metrics-port."""
    settings = settings_from_options(ServeSettings, kwargs)
    serve(settings)


def serve(settings: ServeSettings) -> None:
    logs.configure(settings.log_level)
    metrics = Metrics()
    tls = build_tls(settings)
    source = build_source(settings, metrics)
    state = ServerState()
    app = create_app(settings, source, metrics=metrics, tls=tls, state=state)
    if settings.metrics_port and settings.metrics_port == settings.port:
        raise UsageError(f"--metrics-port {settings.metrics_port} is --port too: give it a port of its own")
    try:
        sock = bind_socket(settings.host, settings.port)
    except OSError as exc:
        raise UserError(f"cannot listen on {settings.host}:{settings.port}: {exc.strerror}") from None
    port = sock.getsockname()[1]
    metrics_listener = None
    extra: dict[str, Any] = {}
    if settings.metrics_port is not None:
        try:
            metrics_sock = bind_socket(settings.host, settings.metrics_port)
        except OSError as exc:
            sock.close()
            raise UserError(
                f"--metrics-port: cannot listen on {settings.host}:{settings.metrics_port}: {exc.strerror}"
            ) from None
        metrics_listener = (create_metrics_app(metrics), metrics_sock)
        extra["metrics_port"] = metrics_sock.getsockname()[1]
    log.info(
        "serving",
        extra={
            "url": f"https://{settings.host}:{port}/mutate",
            "port": port,
            "source": "file" if settings.serviceaccounts else "cluster",
            "keepalive_timeout_s": settings.keepalive_timeout,
            **extra,
        },
    )
    server = uvicorn_server(app, settings, tls, state, metrics_listener=metrics_listener)
    gc.enable()  # the console script turns it off for short runs; a server lives long
    gc.collect()
    gc.freeze()  # imports and settings live forever: later collections need not walk them
    server.run(sockets=[sock])
    log.info("stopped")
