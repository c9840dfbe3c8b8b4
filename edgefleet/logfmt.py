"""How EdgeFleet's processes log: plain text (the default) or JSON lines (``--log-format json`` on
``edgefleet up``), one object per record with ``ts`` (UTC, ISO 8601), ``level``, ``logger``,
``message``, and ``request_id`` / ``trace_id`` when the record carries them (``extra=``), plus
``exc`` with the traceback of a logged exception.

The supervisor configures itself with :func:`configure_logging` and exports the format in
``EDGEFLEET_LOG_FORMAT``, which Ray's raylets and so every actor (controller, replicas, node
agents) inherit: actors call :func:`configure_from_env` when they start.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from typing import Any, Literal, TextIO

LogFormat = Literal["text", "json"]
LOG_FORMAT_ENV = "EDGEFLEET_LOG_FORMAT"
TEXT_FORMAT = "%(asctime)s %(name)s %(levelname)s %(message)s"
ID_FIELDS = ("request_id", "trace_id")


class JsonFormatter(logging.Formatter):
    """One JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as a JSON line."""
        ms = int(record.msecs)
        payload: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{ms:03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in ID_FIELDS:
            value = getattr(record, name, None)
            if value:
                payload[name] = value
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return json.dumps(payload, ensure_ascii=False)


def formatter(fmt: LogFormat) -> logging.Formatter:
    """The formatter of `fmt`."""
    return JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT)


def configure_logging(
    fmt: LogFormat = "text", level: int = logging.INFO, stream: TextIO | None = None
) -> None:
    """Send the root logger's records to `stream` (stderr) in `fmt`, replacing its handlers."""
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter(fmt))
    root.addHandler(handler)
    root.setLevel(level)


def format_from_env() -> LogFormat:
    """The format the supervisor exported (``text`` when none or unknown)."""
    return "json" if os.environ.get(LOG_FORMAT_ENV, "").lower() == "json" else "text"


def configure_from_env(level: int = logging.INFO) -> None:
    """In an actor: log in the supervisor's format (to the worker's stderr, Ray's worker log)."""
    configure_logging(format_from_env(), level)
