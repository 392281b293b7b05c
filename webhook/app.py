"""The ASGI app: POST /mutate, GET /healthz, /readyz and /metrics around the review logic (server.Webhook);
and the app of the optional plain-HTTP metrics port, GET /metrics alone.

/readyz: the ServiceAccount source has synced, a certificate is loaded, the server is not draining.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from webhook import admission
from webhook.admission import MAX_BODY_BYTES, ReviewError
from webhook.drain import DrainMiddleware, ServerState
from webhook.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from webhook.metrics import Metrics
from webhook.serve_settings import ServeSettings
from webhook.server import Webhook
from webhook.serviceaccounts import Source, SourceUnavailable
from webhook.tls import CertReloader

log = logging.getLogger("webhook.app")

JSON = "application/json"


def _error(status: int, message: str, close: bool = False) -> Response:
    headers = {"connection": "close"} if close else None
    return Response(admission.dumps({"error": message, "code": status}), status, headers, JSON)


class ClientGone(Exception):
    """The client closed its connection before the request body was complete."""


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes | Response:
    """The request body, or an error response: 415 wrong type, 413 too large (checked before buffering).

    Raises ClientGone when the client disconnects mid-body.
    """
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
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:  # chunked bodies: stop reading at the limit
                return _error(413, f"body exceeds the {limit}-byte limit", close=True)
    except ClientDisconnect:
        raise ClientGone from None
    return bytes(body)


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

    async def body_of(request: Request) -> bytes | Response:
        try:
            body = await read_body(request)
        except ClientGone:
            # Any client can abort uploads at will: one debug line and a count, never a traceback.
            metrics.client_disconnects.inc()
            client = request.client
            log.debug(
                "client disconnected before its request was complete",
                extra={"client": client and client.host},
            )
            return _error(400, "client disconnected")  # dropped: nobody is listening
        if isinstance(body, Response):
            metrics.bad_requests.labels(str(body.status_code)).inc()
        return body

    async def mutate(request: Request) -> Response:
        body = await body_of(request)
        if isinstance(body, Response):
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
        return _exposition(metrics)

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
            body = await body_of(request)
            if isinstance(body, Response):
                return body
            return Response(fixed, 200, media_type=JSON)

        app.router.add_route("/bench/fixed", bench_fixed, methods=["POST"])

    app.add_middleware(DrainMiddleware, state=state)
    return app


def _exposition(metrics: Metrics) -> Response:
    return Response(metrics.exposition(), media_type=METRICS_CONTENT_TYPE)


def create_metrics_app(metrics: Metrics) -> Starlette:
    """The app of --metrics-port, plain HTTP: GET /metrics and nothing else (404 elsewhere, 405 for other
    methods), so a port a scraper reaches without TLS never answers reviews or probes."""

    async def metrics_endpoint(_: Request) -> Response:
        return _exposition(metrics)

    app = Starlette(routes=[Route("/metrics", metrics_endpoint, methods=["GET"])])
    app.router.redirect_slashes = False  # /metrics/ is not found either, not a redirect
    return app
