"""Logging set-up: one JSON object per line with a stable ``event`` name and ids
(``run_id``, ``thread_id``, ``org_id`` where they apply; ``request_id`` inside HTTP requests)."""

from __future__ import annotations

import logging
import sys
from typing import Any

import orjson

from nexod.observability.context import RequestIdFilter

_STD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """Formats records as JSON; ``extra=`` fields become top-level keys."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        for k, v in record.__dict__.items():
            if k not in _STD and not k.startswith("_"):
                out[k] = v
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(out, default=str).decode()


def setup_logging(level: str = "info", *, json_logs: bool = True) -> None:
    """Send Nexod's logs to stderr, as JSON lines unless ``json_logs`` is False."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if json_logs else logging.Formatter("%(levelname)s %(name)s %(message)s"))
    handler.addFilter(RequestIdFilter())  # records logged while serving a request get its id
    root = logging.getLogger("nexod")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
