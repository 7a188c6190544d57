"""Structured JSON logs on stderr: one object per line, easy to ship and grep."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from tillpoint.security.log_filter import ScrubFilter

_RESERVED = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        """One JSON object; records reach it already scrubbed by :class:`ScrubFilter`."""
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        payload.update({k: v for k, v in record.__dict__.items() if k not in _RESERVED})
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:  # already formatted (and scrubbed) by ScrubFilter
            payload["exc"] = record.exc_text
        return json.dumps(payload, default=str)


def configure_logging(level: str = "INFO") -> None:
    """Route every logger through one JSON handler that scrubs each record (idempotent).

    Loggers that came with handlers of their own (uvicorn sets up ``uvicorn``,
    ``uvicorn.error`` and ``uvicorn.access`` before it imports the app) are routed to that
    handler too, so no record, an access line with its query string included, bypasses
    the scrub; any other handler found is given the same filter.
    """
    root = logging.getLogger()
    handler = next((h for h in root.handlers if isinstance(h.formatter, JsonFormatter)), None)
    if handler is None:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        # On the handler, so records from every logger (ours, uvicorn's, libraries') pass it.
        handler.addFilter(ScrubFilter())
        root.handlers = [handler]
    root.setLevel(level)
    _route_to_root()


def _route_to_root() -> None:
    for name in list(logging.root.manager.loggerDict):
        logger = logging.getLogger(name)
        if name == "uvicorn" or name.startswith("uvicorn."):
            logger.handlers = []
            logger.propagate = True
        else:
            for other in logger.handlers:
                _add_scrub_filter(other)
    _add_scrub_filter(logging.lastResort)


def _add_scrub_filter(handler: logging.Handler | None) -> None:
    if handler is not None and not any(isinstance(f, ScrubFilter) for f in handler.filters):
        handler.addFilter(ScrubFilter())
