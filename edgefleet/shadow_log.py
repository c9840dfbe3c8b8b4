"""The shadow log: one JSON object per line for every edge-answered generation the router also
sent to the hosted model off the critical path (``routes[].shadow``). The user got the edge
answer; the pair says how far the edge agrees with the hosted model (token F1 between the two
answers, SQuAD normalisation) next to the signals the router had (the policy's p(good), token
log-probabilities, groundedness). Written by the router, read by ``edgefleet route calibrate
--from-log`` and summarised in the fleet snapshot. A sibling of :mod:`edgefleet.escalation_log`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

SHADOW_SCHEMA_VERSION = 1


class _Record(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class ShadowEdge(_Record):
    """The edge answer the user got, and the signals the router had."""

    model: str
    text: str
    confidence: float = 0.0
    p_good: float | None = None
    mean_logprob: float | None = None
    min_logprob: float | None = None
    grounded: float | None = None
    cost_usd: float = 0.0


class ShadowHosted(_Record):
    """What the hosted model answered for the same request."""

    model: str
    text: str
    cost_usd: float = 0.0
    stand_in: bool = False
    replay: bool = False


class ShadowRecord(_Record):
    """One shadowed request."""

    schema_version: int = SHADOW_SCHEMA_VERSION
    unix_ms: float
    request_id: str
    route: str
    text: str  # the last user message
    edge: ShadowEdge
    hosted: ShadowHosted
    agreement_f1: float  # token F1 of the edge answer against the hosted one

    def to_line(self) -> str:
        """The record as one JSON line (with the newline)."""
        return self.model_dump_json() + "\n"


def read_shadow_log(path: Path, route: str | None = None) -> Iterator[ShadowRecord]:
    """The records of `path` (of one route when given); ValueError naming a bad line."""
    with Path(path).open(encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                record = ShadowRecord.model_validate(json.loads(line))
            except (json.JSONDecodeError, ValidationError) as exc:
                raise ValueError(f"{path}:{n}: not a shadow record: {exc}") from exc
            if route is None or record.route == route:
                yield record
