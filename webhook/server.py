"""The admission server: FastAPI app factory, TLS with certificate reload, uvicorn runner, graceful drain.

Endpoints: POST /mutate (AdmissionReview v1), GET /healthz (liveness), GET /readyz (the ServiceAccount source
has synced, a certificate is loaded, not draining), GET /metrics (Prometheus).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import socket
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, Literal

from cryptography import x509
from fastapi import FastAPI
from pydantic import Field, field_validator
from pydantic_settings import NoDecode
from starlette.requests import Request
from starlette.responses import Response

from webhook import admission, logs
from webhook.admission import MAX_BODY_BYTES, AdmissionRequest, ReviewError
from webhook.certs import DEFAULT_NAMESPACE, DEFAULT_SERVICE
from webhook.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from webhook.metrics import Metrics
from webhook.serviceaccounts import Source, SourceUnavailable
from webhook.settings import CoreSettings, Flag

log = logging.getLogger("webhook.server")

JSON = "application/json"
# How long idle keep-alive connections stay open after the listener closes (within --drain-timeout).
IDLE_LINGER_SECONDS = 2.0


class ServeSettings(CoreSettings):
    """Settings of `webhook serve`: the core's plus listening, TLS, sources and connection handling."""

    host: str = Field("0.0.0.0", description="Address to listen on.")
    port: int = Field(8443, ge=0, le=65535, description="HTTPS port; 0 picks a free one.")
    tls_cert: Path | None = Field(None, description="Serving certificate (PEM); reloaded when it changes.")
    tls_key: Path | None = Field(None, description="Its private key (PEM).")
    self_signed: bool = Field(False, description="Generate a CA and serving cert into --certs-dir.")
    certs_dir: Annotated[Path, Flag(directory=True)] = Field(
        Path("certs"), description="Where --self-signed keeps its CA and certificate."
    )
    service: str = Field(DEFAULT_SERVICE, description="Service name for --self-signed SANs.")
    namespace: str = Field(DEFAULT_NAMESPACE, description="Its namespace.")
    serviceaccounts: Path | None = Field(None, description="Offline: ServiceAccounts from this YAML file.")
    kubeconfig: Path | None = Field(None, description="Watch ServiceAccounts via this kubeconfig.")
    excluded_namespaces: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Comma-separated namespaces whose pods are never mutated."
    )
    # The apiserver's client keeps idle connections for 90 s and does not retry a POST on a closed one.
    keepalive_timeout: float = Field(120.0, gt=90, description="Idle keep-alive seconds, > 90.")
    shutdown_delay: float = Field(5.0, ge=0, le=300, description="On SIGTERM, serve this long unready.")
    drain_timeout: float = Field(
        20.0, gt=0, le=300, description="Then wait at most this for in-flight reviews."
    )
    lookup_timeout: float = Field(2.0, gt=0, le=10, description="Deadline of a direct ServiceAccount GET.")
    cert_reload_interval: Annotated[float, Flag(env_only=True)] = Field(2.0, gt=0, le=3600)
    serviceaccounts_reload_interval: Annotated[float, Flag(env_only=True)] = Field(2.0, gt=0, le=3600)
    log_level: Literal["debug", "info", "warning", "error"] = Field("info", description="Log threshold.")
    # /bench/fixed, the benchmark's ceiling (docs/benchmarks.md); never in production.
    bench_endpoint: Annotated[bool, Flag(env_only=True)] = False

    @field_validator("excluded_namespaces", mode="before")
    @classmethod
    def _split_namespaces(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.split(",")
        if isinstance(value, list | tuple):
            value = [str(v).strip() for v in value if str(v).strip()]
        return value


# ------------------------------------------------------------------------------------------------------ TLS


class CertReloader:
    """The serving certificate, reloaded without restart when the files' content changes.

    Every handshake starts on `context`, whose SNI callback moves it to the newest good context, so a
    reload is one reference swap. Files are compared by content on each poll: that also catches the
    kubelet's and cert-manager's `..data` symlink swap, which leaves the paths and often the mtimes alone.
    A half-written pair (key not matching cert) keeps the previous certificate until the next poll.
    """

    def __init__(self, cert: Path, key: Path, on_reload: Callable[[bool], None] | None = None) -> None:
        self.cert_path = cert
        self.key_path = key
        self.on_reload = on_reload
        signature = self._read()
        self._current, self.not_after = self._build(*signature)
        self._signature = signature
        self.context = self._current
        self.context.sni_callback = self._select

    def _read(self) -> tuple[bytes, bytes]:
        return self.cert_path.read_bytes(), self.key_path.read_bytes()

    def _build(self, cert_pem: bytes, _key_pem: bytes) -> tuple[ssl.SSLContext, dt.datetime]:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_alpn_protocols(["http/1.1"])
        try:
            ctx.load_cert_chain(str(self.cert_path), str(self.key_path))
        except ssl.SSLError as exc:
            # OpenSSL's own words ("[SSL] PEM lib") do not say which part is wrong.
            if "KEY_VALUES_MISMATCH" in str(exc):
                raise ValueError("the private key does not belong to the certificate") from None
            raise ValueError("expected a PEM certificate (chain) and its PEM private key") from None
        not_after = x509.load_pem_x509_certificate(cert_pem).not_valid_after_utc
        return ctx, not_after

    def _select(self, sslobj: ssl.SSLObject, _server_name: str | None, ctx: ssl.SSLContext) -> None:
        current = self._current
        if current is not ctx:
            sslobj.context = current

    def seconds_left(self) -> float:
        return (self.not_after - dt.datetime.now(dt.UTC)).total_seconds()

    def check(self) -> bool:
        """Reload if the files changed; True on a reload. Keeps the old certificate on any error."""
        try:
            signature = self._read()
            if signature == self._signature:
                return False
            ctx, not_after = self._build(*signature)
            if self._read() != signature:
                return False  # changed while loading: take it on the next poll
        except (OSError, ssl.SSLError, ValueError) as exc:
            log.warning(
                "serving certificate not reloaded; keeping the current one", extra={"error": str(exc)}
            )
            if self.on_reload:
                self.on_reload(False)
            return False
        self._current, self.not_after, self._signature = ctx, not_after, signature
        log.info("serving certificate reloaded", extra={"not_after": not_after.isoformat()})
        if self.on_reload:
            self.on_reload(True)
        return True

    async def poll(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            await asyncio.to_thread(self.check)


# ------------------------------------------------------------------------------------------------ the app


class Webhook:
    """Decides on reviews: the ServiceAccount lookup and the core's mutation, with metrics and logs."""

    def __init__(self, settings: ServeSettings, source: Source, metrics: Metrics) -> None:
        from webhook import mutate  # the core: imported here so a broken core fails at startup, loudly

        self.settings = settings
        self.source = source
        self.metrics = metrics
        self._mutate = mutate
        self._excluded = frozenset(settings.excluded_namespaces)

    async def review(self, request: AdmissionRequest) -> dict[str, Any]:
        """Answer one parsed review; raises SourceUnavailable when the ServiceAccount cannot be looked up."""
        started = time.perf_counter()
        pod = request.object
        metadata = pod.get("metadata") if isinstance(pod, dict) else None
        metadata = metadata if isinstance(metadata, dict) else {}
        namespace = request.namespace or _str(metadata.get("namespace")) or "default"
        pod_name = request.name or _str(metadata.get("name")) or _str(metadata.get("generateName"))
        sa_name = ""
        outcome = "error"  # until decided: an unexpected exception is counted as an error
        dialects: tuple[str, ...] = ()
        reason: str | None = None
        level = logging.INFO
        try:
            if not (request.is_pod and request.operation == "CREATE"):
                outcome, reason = (
                    "skipped",
                    f"not a pod CREATE ({request.kind or '?'} {request.operation or '?'})",
                )
                return admission.allow(request)
            if namespace in self._excluded:
                outcome, reason = "skipped", "excluded namespace"
                return admission.allow(request)
            problems = admission.pod_shape_problems(pod)
            if problems:
                outcome, reason = "denied", "; ".join(problems)
                return admission.deny(request, [f"malformed pod: {p}" for p in problems])
            sa_name = self._mutate.serviceaccount_name(pod)
            try:
                found = await self.source.lookup(namespace, sa_name)
            except SourceUnavailable as exc:
                outcome, reason, level = "error", str(exc), logging.ERROR
                raise
            if found.serviceaccount is None:
                outcome = "skipped"
                reason = f"ServiceAccount {namespace}/{sa_name} not found; pod not mutated"
                return admission.allow(request, warnings=[reason])
            try:
                result = self._mutate.mutate_pod(pod, found.serviceaccount, self.settings)
            except Exception:
                outcome, reason, level = "error", "the mutation failed unexpectedly", logging.ERROR
                log.exception("mutation failed", extra={"uid": request.uid, "namespace": namespace})
                raise
            dialects = tuple(result.dialects)
            if result.errors:
                outcome, reason = "denied", "; ".join(result.errors)
                return admission.deny(request, result.errors, warnings=result.warnings)
            if result.patch:
                outcome = "mutated"
                return admission.allow(request, result.patch, result.warnings)
            outcome = "skipped" if result.skipped else "unchanged"
            reason = result.skipped
            return admission.allow(request, warnings=result.warnings)
        finally:
            elapsed = time.perf_counter() - started
            self.metrics.record(outcome, dialects, elapsed)
            logs.decision(
                uid=request.uid,
                namespace=namespace,
                pod=pod_name,
                serviceaccount=sa_name,
                outcome=outcome,
                duration_ms=elapsed * 1000,
                dry_run=request.dry_run,
                dialects=dialects,
                reason=reason,
                level=level,
            )


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _error(status: int, message: str, close: bool = False) -> Response:
    headers = {"connection": "close"} if close else None
    return Response(admission.dumps({"error": message, "code": status}), status, headers, JSON)


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes | Response:
    """The request body, or an error response: 415 wrong type, 413 too large (checked before buffering)."""
    content_type = request.headers.get("content-type", "")
    if content_type.split(";", 1)[0].strip().lower() != JSON:
        return _error(415, f"Content-Type must be {JSON}, got {content_type or 'none'!r}")
    length = request.headers.get("content-length")
    if length is not None:
        if not (length.isascii() and length.isdigit()):
            return _error(400, f"invalid Content-Length {length!r}", close=True)
        if int(length) > limit:
            return _error(413, f"body of {int(length)} bytes exceeds the {limit}-byte limit", close=True)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:  # chunked bodies: stop reading at the limit
            return _error(413, f"body exceeds the {limit}-byte limit", close=True)
    return bytes(body)


class DrainMiddleware:
    """A response that starts while draining carries `Connection: close`, so keep-alive clients move on."""

    def __init__(self, app: Callable[..., Awaitable[None]], state: ServerState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        # Decided when the response starts: a review that arrived before the drain and ends during it
        # must close its connection too, or that connection would sit idle until it is cut.
        async def send_closing(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start" and self.state.draining:
                headers = [h for h in message.get("headers", []) if h[0].lower() != b"connection"]
                message = {**message, "headers": [*headers, (b"connection", b"close")]}
            await send(message)

        await self.app(scope, receive, send_closing)


class ServerState:
    def __init__(self) -> None:
        self.draining = False
        self.drain_started = 0.0


def create_app(
    settings: ServeSettings,
    source: Source,
    *,
    metrics: Metrics | None = None,
    tls: CertReloader | None = None,
    state: ServerState | None = None,
) -> FastAPI:
    """The ASGI app. `tls` (when given) is polled for new certificates while the app runs."""
    metrics = metrics or Metrics()
    state = state or ServerState()
    webhook = Webhook(settings, source, metrics)
    metrics.bind_cache_size(lambda: len(source))
    metrics.bind_synced(lambda: source.synced)
    metrics.draining.set_function(lambda: 1.0 if state.draining else 0.0)
    if tls is not None:
        metrics.bind_cert_expiry(tls.seconds_left)
        tls.on_reload = lambda ok: metrics.cert_reloads.labels("ok" if ok else "error").inc()

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await source.start()
        poller = asyncio.create_task(tls.poll(settings.cert_reload_interval)) if tls else None
        try:
            yield
        finally:
            if poller:
                poller.cancel()
            await source.stop()

    app = FastAPI(
        title="projected-token-webhook", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan
    )
    app.state.webhook = webhook
    app.state.metrics = metrics
    app.state.server_state = state

    async def mutate(request: Request) -> Response:
        body = await read_body(request)
        if isinstance(body, Response):
            metrics.bad_requests.labels(str(body.status_code)).inc()
            return body
        try:
            review = admission.parse_review(body)
        except ReviewError as exc:
            metrics.bad_requests.labels(str(exc.status)).inc()
            return _error(exc.status, exc.message)
        try:
            answer = await webhook.review(review)
        except SourceUnavailable as exc:
            return _error(503, str(exc))
        except Exception as exc:
            return _error(500, f"internal error: {type(exc).__name__}; see the webhook's logs")
        return Response(admission.dumps(answer), 200, media_type=JSON)

    async def healthz(_: Request) -> Response:
        return Response(b"ok", media_type="text/plain")

    async def readyz(_: Request) -> Response:
        problems = []
        if state.draining:
            problems.append("shutting down")
        if not source.synced:
            problems.append("ServiceAccount source not synced")
        if problems:
            return _error(503, "; ".join(problems))
        return Response(b"ok", media_type="text/plain")

    async def metrics_endpoint(_: Request) -> Response:
        return Response(metrics.exposition(), media_type=METRICS_CONTENT_TYPE)

    # Plain Starlette routes: no per-request validation layer on the hot path.
    app.router.add_route("/mutate", mutate, methods=["POST"])
    app.router.add_route("/healthz", healthz, methods=["GET"])
    app.router.add_route("/readyz", readyz, methods=["GET"])
    app.router.add_route("/metrics", metrics_endpoint, methods=["GET"])

    if settings.bench_endpoint:
        fixed = admission.dumps(
            {
                "apiVersion": "admission.k8s.io/v1",
                "kind": "AdmissionReview",
                "response": {"uid": "", "allowed": True},
            }
        )

        async def bench_fixed(request: Request) -> Response:
            # The ceiling for `make bench-serve`: same stack, body read, no decision.
            body = await read_body(request)
            if isinstance(body, Response):
                return body
            return Response(fixed, 200, media_type=JSON)

        app.router.add_route("/bench/fixed", bench_fixed, methods=["POST"])

    app.add_middleware(DrainMiddleware, state=state)
    return app


# ---------------------------------------------------------------------------------------------- the runner


def bind_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.set_inheritable(True)
    return sock


def uvicorn_server(app: FastAPI, settings: ServeSettings, tls: CertReloader, state: ServerState) -> Any:
    """A uvicorn Server whose SIGTERM/SIGINT starts a drain: readiness false at once, stop after the delay."""
    import uvicorn

    class DrainingServer(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:
            if not state.draining:
                state.draining = True
                state.drain_started = time.monotonic()
                log.info(
                    "signal received: draining", extra={"signal": sig, "delay_s": settings.shutdown_delay}
                )
            elif not self.should_exit:
                self.should_exit = True  # a second signal skips the rest of the delay
            else:
                self.force_exit = True

        async def on_tick(self, counter: int) -> bool:
            if state.draining and time.monotonic() - state.drain_started >= settings.shutdown_delay:
                self.should_exit = True
            return await super().on_tick(counter)

        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            # Stop accepting, but leave idle keep-alive connections open a moment: the apiserver may be
            # writing a review on one, and Go does not retry a POST whose connection is closed under it.
            # Draining answers carry `Connection: close`, so these connections empty themselves.
            for server in self.servers:
                server.close()
            for sock in sockets or []:
                sock.close()
            deadline = time.monotonic() + min(IDLE_LINGER_SECONDS, settings.drain_timeout)
            while self.server_state.connections and not self.force_exit and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            await super().shutdown(sockets)

    config = uvicorn.Config(
        app,
        http="httptools",
        loop="uvloop",
        lifespan="on",
        ssl_context_factory=lambda _config, _default: tls.context,
        timeout_keep_alive=int(settings.keepalive_timeout),
        timeout_graceful_shutdown=int(settings.drain_timeout),
        access_log=False,
        log_config=None,
        server_header=False,
    )
    return DrainingServer(config)
