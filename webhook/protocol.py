"""The HTTP/1.1 connection layer: uvicorn's httptools protocol with limits on everything a client controls.

uvicorn bounds none of these: its httptools parser buffers a header of any size, its keep-alive timer starts
only after a response (a request that never finishes holds its connection for ever), and its
`limit_concurrency` answers 503 to requests on connections already open instead of refusing new ones.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from webhook.metrics import Metrics

log = logging.getLogger("webhook.protocol")


@dataclass(frozen=True)
class Limits:
    """What one client may take. The apiserver sends a head of a few hundred bytes right after connecting."""

    max_head_bytes: int = 16 * 1024  # request line and headers of one request
    max_headers: int = 100
    handshake_timeout: float = 10.0  # TCP accept to the end of the TLS handshake
    first_byte_timeout: float = 10.0  # the end of the handshake to the first byte of a request
    request_timeout: float = 10.0  # the first byte of a request to its last (head and body)
    max_connections: int = 1000  # TLS connections open at once
    close_timeout: float = 1.0  # a closing connection waits this long for the client's TLS close_notify


class LimitExceeded(Exception):
    def __init__(self, limit: str, status: int, message: str) -> None:
        super().__init__(message)
        self.limit = limit
        self.status = status
        self.message = message


class Connections:
    """The open connections of one server, and which of them are idle: silent, between requests, or still
    sending a head (the apiserver sends its head at once; a head that trickles in is an attack).

    At the cap, the longest-idle connection is closed to make room, as nginx reuses keep-alive
    connections: connections opened and left silent or slow cannot lock out the apiserver's next one.
    Only when every connection has a request in the app is the new one refused.
    """

    def __init__(self, limit: int, metrics: Metrics) -> None:
        self.limit = limit
        self.metrics = metrics
        self.open: set[LimitedHttpToolsProtocol] = set()
        self.idle: OrderedDict[LimitedHttpToolsProtocol, None] = OrderedDict()
        self._warned_at = -1e9
        metrics.connections.set_function(lambda: float(len(self.open)))

    def admit(self, connection: LimitedHttpToolsProtocol) -> bool:
        if len(self.open) >= self.limit:
            victim = next(iter(self.idle), None)
            self._warn(evicting=victim is not None)
            if victim is None:
                self.metrics.connection_limits.labels("max_connections").inc()
                return False
            self.metrics.connection_limits.labels("max_connections_idle_closed").inc()
            victim.abort()
        self.open.add(connection)
        self.idle[connection] = None
        return True

    def _warn(self, evicting: bool) -> None:
        now = time.monotonic()
        if now - self._warned_at >= 10:  # one line per 10 s while the cap holds, not one per connection
            self._warned_at = now
            log.warning(
                "connection limit reached: "
                + ("closing the longest-idle connection" if evicting else "refusing new connections"),
                extra={"max_connections": self.limit, "open": len(self.open)},
            )

    def busy(self, connection: LimitedHttpToolsProtocol) -> None:
        self.idle.pop(connection, None)

    def idle_again(self, connection: LimitedHttpToolsProtocol) -> None:
        if connection in self.open:
            self.idle[connection] = None

    def release(self, connection: LimitedHttpToolsProtocol) -> None:
        self.open.discard(connection)
        self.idle.pop(connection, None)


def _error_response(status: int, reason: str, message: str) -> bytes:
    body = json.dumps({"error": message, "code": status}).encode()
    head = f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n"
    return head.encode() + b"connection: close\r\n\r\n" + body


REJECT_GRACE_SECONDS = 0.2
_REASONS = {408: "Request Timeout", 431: "Request Header Fields Too Large"}


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """One connection. `limits` and `guard` are set on the subclass `protocol_class` makes for a server."""

    limits: Limits
    guard: Connections
    metrics: Metrics

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._timer: asyncio.TimerHandle | None = None
        self._in_head = False
        self._head_bytes = 0  # received while the head is incomplete: what the parser may be buffering
        self._exceeded: LimitExceeded | None = None
        self._done = False  # closed by a limit: ignore whatever else arrives

    # ----------------------------------------------------------------------------------- connection life

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if not self.guard.admit(self):
            self._done = True
            transport.abort()
            return
        self._arm(self.limits.first_byte_timeout, self._idle_too_long)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self.guard.release(self)
        super().connection_lost(exc)

    def abort(self) -> None:
        """Close at once, without waiting for the client's TLS close_notify (used on idle connections)."""
        self._done = True
        self._disarm()
        self.guard.release(self)
        self._unset_keepalive_if_required()
        self.transport.abort()

    def shutdown(self) -> None:
        # uvicorn's graceful close waits for the client's close_notify, which an idle client may never
        # send: the server would then exit only at --drain-timeout. Busy connections close after their answer.
        if self.cycle is None or self.cycle.response_complete:
            self.abort()
        else:
            self.cycle.keep_alive = False

    # ------------------------------------------------------------------------------------------- input

    def data_received(self, data: bytes) -> None:
        if self._done:
            return
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._reject(LimitExceeded("upgrade", 400, "protocol upgrades are not supported"))
            return
        except httptools.HttpParserError:
            if self._exceeded is not None:
                self._reject(self._exceeded)
            else:  # uvicorn logs a warning for each: any client could fill the logs
                self._reject(LimitExceeded("invalid_http", 400, "invalid HTTP request"))
            return
        if self._in_head:
            self._head_bytes += len(data)
            if self._head_bytes > self.limits.max_head_bytes:
                # Still sending an oversized head: answer and cut at once, not after a grace spent
                # decrypting more of it.
                self._reject(self._head_too_large(), grace=0)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._head_bytes = 0
        self._arm(self.limits.request_timeout, self._request_too_slow)

    def on_headers_complete(self) -> None:
        # Checked once the head is parsed (no per-header callback on the hot path): until then the raw
        # byte count in data_received bounds what the parser buffers, many small headers included.
        self._in_head = False
        if len(self.headers) > self.limits.max_headers:
            self._exceeded = LimitExceeded(
                "headers", 431, f"more than {self.limits.max_headers} request headers"
            )
            raise self._exceeded
        size = len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)
        if size > self.limits.max_head_bytes:
            self._exceeded = self._head_too_large()
            raise self._exceeded
        self.guard.busy(self)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self.guard.idle_again(self)

    def _head_too_large(self) -> LimitExceeded:
        return LimitExceeded(
            "header_bytes", 431, f"request line and headers exceed {self.limits.max_head_bytes} bytes"
        )

    # -------------------------------------------------------------------------------------------- time

    def _arm(self, seconds: float, callback: Any) -> None:
        self._disarm()
        self._timer = self.loop.call_later(seconds, callback)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _idle_too_long(self) -> None:
        self._timer = None
        self.metrics.connection_limits.labels("first_byte_timeout").inc()
        self.abort()

    def _request_too_slow(self) -> None:
        self._timer = None
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete and not self._in_head:
            if cycle.response_started:  # the app answered early (413, 415) and the body is still coming
                self.metrics.connection_limits.labels("request_timeout").inc()
                self.abort()
                return
            # The app waits for the rest of the body: it now reads a disconnect, and its answer is dropped.
            cycle.disconnected = True
            cycle.message_event.set()
        self._reject(
            LimitExceeded(
                "request_timeout", 408, f"request not complete within {self.limits.request_timeout:g} s"
            )
        )

    # ----------------------------------------------------------------------------------------- refusal

    def _reject(self, exceeded: LimitExceeded, grace: float = REJECT_GRACE_SECONDS) -> None:
        """Answer with the limit's status and close: the request is not read any further."""
        self._done = True
        self._disarm()
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:  # an app already running: its answer is dropped
            cycle.disconnected = True
            cycle.message_event.set()
        self.metrics.connection_limits.labels(exceeded.limit).inc()
        self.metrics.bad_requests.labels(str(exceeded.status)).inc()
        log.debug("request refused", extra={"limit": exceeded.limit, "status": exceeded.status})
        if not self.transport.is_closing():
            reason = _REASONS.get(exceeded.status, "Bad Request")
            self.transport.write(_error_response(exceeded.status, reason, exceeded.message))
            if not grace:
                self.transport.abort()
                return
            self.transport.close()
            # A client still sending would be read (and decrypted) until the TLS close gives up waiting
            # for its close_notify: cut it once the answer is out.
            self.loop.call_later(grace, self.transport.abort)


def protocol_class(limits: Limits, metrics: Metrics) -> type[LimitedHttpToolsProtocol]:
    """A protocol class for one server: its limits, its connection count, its metrics."""
    guard = Connections(limits.max_connections, metrics)
    return type(
        "ServerHttpProtocol",
        (LimitedHttpToolsProtocol,),
        {"limits": limits, "guard": guard, "metrics": metrics},
    )
