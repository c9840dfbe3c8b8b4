"""Server-sent events (the ``text/event-stream`` format of OpenAI's ``stream: true``): an
incremental decoder for clients and the encoder servers use. Pure code, no I/O."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SseEvent:
    """One server-sent event: its type (``message`` unless an ``event:`` field says otherwise)
    and its data (the ``data:`` lines joined by newlines)."""

    event: str
    data: str


class SseDecoder:
    """Incremental server-sent-events decoder: feed it the stream's lines (without their line
    ends), get complete events back. Comments (``:`` lines) and fields other than ``data`` and
    ``event`` are ignored, as the SSE specification says."""

    def __init__(self) -> None:
        self._data: list[str] = []
        self._event = ""

    def feed(self, line: str) -> SseEvent | None:
        """Take one line; returns the event it completes (a blank line ends an event), if any."""
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        return None

    def finish(self) -> SseEvent | None:
        """At the end of the stream: the last event if its closing blank line never came."""
        return self._dispatch()

    def _dispatch(self) -> SseEvent | None:
        if not self._data:
            self._event = ""
            return None
        event = SseEvent(self._event or "message", "\n".join(self._data))
        self._data, self._event = [], ""
        return event


def encode_data(data: str) -> bytes:
    """One event carrying `data` (each line of it a ``data:`` line), with its closing blank line."""
    return "".join(f"data: {line}\n" for line in data.split("\n")).encode("utf-8") + b"\n"


def encode_json(payload: Any) -> bytes:
    """One event whose data is `payload` as compact JSON."""
    return encode_data(json.dumps(payload, separators=(",", ":")))
