"""Structured logs: one JSON object per line, one line per admission decision.

Decision lines carry names and the outcome only: never a token, a key or a pod spec.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

LOGGER_NAME = "webhook"
decisions = logging.getLogger("webhook.decision")

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "color_message",
}


class JsonFormatter(logging.Formatter):
    """Render a record as one JSON line; `extra={...}` fields become top-level keys."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, separators=(",", ":"))


def configure(level: str = "info", stream: Any = None) -> None:
    """Send the webhook's and uvicorn's logs as JSON lines to stderr (idempotent)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise ValueError(f"unknown log level {level!r}; use debug, info, warning or error")
    for name in (LOGGER_NAME, "uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(numeric)
        logger.propagate = False


def decision(
    *,
    uid: str,
    namespace: str,
    pod: str,
    serviceaccount: str,
    outcome: str,
    duration_ms: float,
    dry_run: bool = False,
    dialects: tuple[str, ...] = (),
    reason: str | None = None,
    level: int = logging.INFO,
) -> None:
    """Log one decision; `reason` is the skip reason or the denial message (never a secret)."""
    if not decisions.isEnabledFor(level):
        return
    fields: dict[str, Any] = {
        "uid": uid,
        "namespace": namespace,
        "pod": pod,
        "serviceaccount": serviceaccount,
        "outcome": outcome,
        "duration_ms": round(duration_ms, 3),
    }
    if dry_run:
        fields["dry_run"] = True
    if dialects:
        fields["dialects"] = list(dialects)
    if reason:
        fields["reason"] = reason[:500]
    decisions.log(level, "admission", extra=fields)
