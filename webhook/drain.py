"""Connection drain on shutdown: the drain state, `Connection: close` while draining, the idle linger."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

# How long idle keep-alive connections stay open after the listener closes (within --drain-timeout).
IDLE_LINGER_SECONDS = 2.0


class ServerState:
    def __init__(self) -> None:
        self.draining = False
        self.drain_started = 0.0

    def start_drain(self) -> bool:
        """Mark the server draining; False if it already was."""
        if self.draining:
            return False
        self.draining = True
        self.drain_started = time.monotonic()
        return True


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
