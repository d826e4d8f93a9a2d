"""Logging setup: structlog JSON lines (console on a terminal), with secrets and page URLs redacted."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

_SECRET_KEYS = re.compile(r"(token|secret|password|passwd|authorization|api[_-]?key|private[_-]?key|cookie)", re.I)
_PAGE_PATH = re.compile(r"/c/[A-Za-z0-9_-]{8,}")
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+")
REDACTED = "[redacted]"


def redact_text(text: str) -> str:
    """Page tokens in paths and credentials after Bearer/Basic, masked."""
    return _BEARER.sub(lambda m: f"{m[1]} {REDACTED}", _PAGE_PATH.sub(f"/c/{REDACTED}", text))


def _redact(value: Any) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: REDACTED if _SECRET_KEYS.search(str(k)) else _redact(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_redact(v) for v in value)
    return value


def redact(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: no secret, token or page URL reaches a log line."""
    for key, value in list(event_dict.items()):
        event_dict[key] = REDACTED if _SECRET_KEYS.search(key) else _redact(value)
    return event_dict


def configure_logging(fmt: str = "auto", level: str = "info") -> None:
    """JSON lines for containers, console rendering on a terminal (``fmt="auto"``)."""
    use_console = fmt == "console" or (fmt == "auto" and sys.stderr.isatty())
    renderer: Any = structlog.dev.ConsoleRenderer() if use_console else structlog.processors.JSONRenderer()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            redact,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    # Libraries that log through the standard library (uvicorn, alembic) stay quiet below warning.
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    for name in ("alembic", "uvicorn", "uvicorn.error", "httpx", "apscheduler"):
        logging.getLogger(name).setLevel(logging.WARNING)
