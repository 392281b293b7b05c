"""uvicorn as `webhook serve` runs it: the socket, TLS and connection limits, the drain on SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import socket
import sys
import time
from typing import Any

from fastapi import FastAPI

from webhook.drain import IDLE_LINGER_SECONDS, ServerState
from webhook.metrics import Metrics
from webhook.protocol import Limits, protocol_class
from webhook.serve_settings import ServeSettings
from webhook.tls import CertReloader

log = logging.getLogger("webhook.httpserver")

# A scraper holds one keep-alive connection per Prometheus replica.
METRICS_LIMITS = Limits(max_connections=64)


def bind_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.set_inheritable(True)
    return sock


def uvicorn_server(
    app: FastAPI,
    settings: ServeSettings,
    tls: CertReloader,
    state: ServerState,
    limits: Limits | None = None,
    metrics_listener: tuple[Any, socket.socket] | None = None,
) -> Any:
    """A uvicorn Server whose SIGTERM/SIGINT starts a drain: readiness false at once, stop after the delay.

    `metrics_listener` (an ASGI app and its bound socket) is served in plain HTTP beside the TLS sockets,
    in the same event loop; it stops listening with them.
    """
    import uvicorn

    bounds = limits or Limits()
    metrics_config = None
    if metrics_listener is not None:
        # The same client limits, counted apart (an unexported registry): a scraper's connections are not
        # the webhook's, and the TLS server's gauges and counters keep meaning what they say.
        metrics_config = uvicorn.Config(
            metrics_listener[0],
            http=protocol_class(METRICS_LIMITS, Metrics()),
            lifespan="off",
            timeout_keep_alive=int(settings.keepalive_timeout),
            access_log=False,
            log_config=None,
            server_header=False,
            proxy_headers=False,
        )
        metrics_config.load()

    class DrainingServer(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:
            if state.start_drain():
                log.info(
                    "signal received: draining", extra={"signal": sig, "delay_s": settings.shutdown_delay}
                )
            elif not self.should_exit:
                self.should_exit = True  # a second signal skips the rest of the delay
            else:
                self.force_exit = True

        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            # uvicorn's own startup passes no TLS handshake or shutdown timeout (asyncio waits 60 and
            # 30 s): a client that stalls either would hold its descriptor that long.
            assert sockets, "webhook serve binds its own socket"
            await self.lifespan.startup()
            if self.lifespan.should_exit:
                sys.exit(3)
            config = self.config

            def create_protocol(_loop: asyncio.AbstractEventLoop | None = None) -> asyncio.Protocol:
                return config.http_protocol_class(  # type: ignore[call-arg]
                    config=config, server_state=self.server_state, app_state=self.lifespan.state, _loop=_loop
                )

            loop = asyncio.get_running_loop()
            self.servers = [
                await loop.create_server(
                    create_protocol,
                    sock=sock,
                    ssl=config.ssl,
                    backlog=config.backlog,
                    ssl_handshake_timeout=bounds.handshake_timeout,
                    ssl_shutdown_timeout=bounds.close_timeout,
                )
                for sock in sockets
            ]
            if metrics_listener is not None and metrics_config is not None:
                plain = metrics_config

                def metrics_protocol(_loop: asyncio.AbstractEventLoop | None = None) -> asyncio.Protocol:
                    return plain.http_protocol_class(  # type: ignore[call-arg]
                        config=plain, server_state=self.server_state, app_state={}, _loop=_loop
                    )

                self.servers.append(
                    await loop.create_server(
                        metrics_protocol, sock=metrics_listener[1], backlog=config.backlog
                    )
                )
            self.started = True

        async def on_tick(self, counter: int) -> bool:
            if state.draining and time.monotonic() - state.drain_started >= settings.shutdown_delay:
                self.should_exit = True
            return await super().on_tick(counter)

        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            # Stop accepting, but leave idle keep-alive connections open a moment: the apiserver may be
            # writing a review on one, and Go does not retry a POST whose connection is closed under it.
            # Draining answers carry `Connection: close`, so these connections empty themselves; the
            # rest are closed by uvicorn's shutdown (the protocol's `shutdown`: idle ones at once).
            for server in self.servers:
                server.close()
            for sock in [*(sockets or []), *([metrics_listener[1]] if metrics_listener else [])]:
                sock.close()
            deadline = time.monotonic() + min(IDLE_LINGER_SECONDS, settings.drain_timeout)
            while self.server_state.connections and not self.force_exit and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            await super().shutdown(sockets)

    config = uvicorn.Config(
        app,
        http=protocol_class(bounds, app.state.metrics),
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
