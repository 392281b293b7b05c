"""The serving certificate: TLS contexts for the server, reloaded when the certificate files change."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import ssl
from collections.abc import Callable
from pathlib import Path

from cryptography import x509

log = logging.getLogger("webhook.tls")


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
