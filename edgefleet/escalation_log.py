"""The escalation log: one JSON object per line for every request the router escalated to the
hosted model, with what the edge said and what the hosted model answered. Written by the router,
read by the model factory's flywheel (``edgefleet models distill --from-log``). The schema is
defined here, once, for both.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

SCHEMA_VERSION = 1


class _Record(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class EdgeVerdict(_Record):
    """What one edge model answered before the router escalated."""

    model: str
    label: str | None = None
    text: str | None = None  # generation: the edge answer
    confidence: float
    reason: str | None = None  # why it was not kept


class HostedVerdict(_Record):
    """The hosted model's answer (the flywheel's teacher label)."""

    model: str
    label: str | None = None
    text: str | None = None  # generation: the hosted answer
    confidence: float = 1.0
    finish_reason: str | None = None
    stand_in: bool = False


class EscalationRecord(_Record):
    """One escalated request."""

    schema_version: int = SCHEMA_VERSION
    unix_ms: float
    request_id: str
    task: Literal["classify", "generate"] = "classify"
    route: str
    domain: str = ""
    text: str  # the request text (generation: the last user message)
    messages: list[dict[str, str]] | None = None  # generation: the whole conversation
    reasons: list[str]
    edge: list[EdgeVerdict] = []
    hosted: HostedVerdict
    deferred: bool | None = None  # True: escalated later, once the hosted tier was back (offline mode)

    def to_line(self) -> str:
        """The record as one JSON line (with the newline)."""
        return json.dumps(self.model_dump(mode="json", exclude_none=True), ensure_ascii=False) + "\n"


def parse_line(line: str) -> EscalationRecord | None:
    """One log line as a record; None for a blank, malformed or foreign line."""
    if not line.strip():
        return None
    try:
        return EscalationRecord.model_validate_json(line)
    except ValidationError:
        return None


def read_log(path: Path) -> tuple[list[EscalationRecord], int]:
    """(records, lines with content) of a log file and its rotated predecessors (``path.1`` ...,
    oldest first). Raises OSError when `path` cannot be read."""
    records: list[EscalationRecord] = []
    total = 0
    for file in [*reversed(rotated_files(path)), path]:
        for line in _lines(file):
            if line.strip():
                total += 1
                record = parse_line(line)
                if record is not None:
                    records.append(record)
    return records, total


def rotated_files(path: Path) -> list[Path]:
    """``path.1``, ``path.2``, ... that exist, newest first."""
    out = []
    n = 1
    while (p := path.with_name(f"{path.name}.{n}")).exists():
        out.append(p)
        n += 1
    return out


def _lines(path: Path) -> Iterator[str]:
    with open(path, encoding="utf-8", errors="replace") as fh:
        yield from fh
