"""Structured logs: one JSON object per line, one line per admission decision.

Decision lines carry names and the outcome only: never a token, a key or a pod spec.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

from webhook.compactjson import encode

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
        return _ENCODER.encode(entry)


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
    handler = _direct_handler(level)
    if handler is not None:
        try:
            now = time.time()
            entry = {
                "time": _timestamp(now),
                "level": logging.getLevelName(level).lower(),
                "logger": decisions.name,
                "msg": "admission",
                **fields,
            }
            raw = encode(entry, ascii_only=True)
            line = (raw.decode() if raw is not None else _ENCODER.encode(entry)) + handler.terminator
            with handler.lock:  # type: ignore[union-attr]
                handler.stream.write(line)
                handler.flush()
            return
        except Exception:  # the stdlib path reports a broken stream its own way
            pass
    decisions.log(level, "admission", extra=fields)


def _direct_handler(level: int) -> logging.StreamHandler[Any] | None:
    """The one handler a decision line reaches when configure() set it up and nothing else listens (no
    filter, no other handler): the line is then written as JsonFormatter would, without a LogRecord."""
    parent = decisions.parent
    if decisions.handlers or decisions.filters or not decisions.propagate or parent is None:
        return None
    if parent.propagate or parent.filters or len(parent.handlers) != 1:
        return None
    handler = parent.handlers[0]
    if type(handler) is not logging.StreamHandler or type(handler.formatter) is not JsonFormatter:
        return None
    if handler.filters or level < handler.level or handler.lock is None:
        return None
    return handler


# Built once: json.dumps with options builds a new encoder on every call (the same output as JsonFormatter's).
_ENCODER = json.JSONEncoder(default=str, separators=(",", ":"))

_SECOND: list[Any] = [-1, ""]  # the last whole second formatted, and its text


def _timestamp(created: float) -> str:
    """JsonFormatter's time field for a record created at `created`."""
    second = int(created)
    if _SECOND[0] != second:
        _SECOND[:] = [second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created))]
    return f"{_SECOND[1]}.{int((created - second) * 1000):03d}Z"
