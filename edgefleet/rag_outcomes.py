"""Outcomes of a generate route on labelled questions: what the edge and the hosted model answered
for each, how good that was, what it cost, and the signals a policy can see. One JSON object per
line, written by ``edgefleet rag outcomes`` (the TUNE split, to train and calibrate a policy) and
by ``edgefleet bench rag`` (the REPORT split, to measure), read by the factory
(``edgefleet models policy``) and by ``edgefleet route calibrate``. The schema is defined here,
once, for all of them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

OUTCOMES_VERSION = 1


class TierAnswer(BaseModel):
    """One tier's answer to one question."""

    model_config = ConfigDict(extra="ignore")

    answer: str
    f1: float
    em: float
    cost_usd: float = 0.0
    latency_ms: float = 0.0
    ttft_ms: float = 0.0
    confidence: float = 0.0  # exp(mean token log-probability); 0 when unknown
    mean_logprob: float | None = None
    min_logprob: float | None = None
    grounded: float | None = None
    served_by: str = ""


class Outcome(BaseModel):
    """One question through the route, edge and hosted."""

    model_config = ConfigDict(extra="ignore")

    schema_version: int = OUTCOMES_VERSION
    qid: str
    split: str
    question: str
    features: list[float]
    gold_rank: int | None = None  # rank (1-based) of the gold paragraph among the retrieved, None: missed
    retrieval_ms: float = 0.0
    edge: TierAnswer
    hosted: TierAnswer | None = None
    policy_p_good: float | None = None  # filled in when a policy scored it (out of fold on tune)

    def to_line(self) -> str:
        """One JSON line (with the newline)."""
        return self.model_dump_json() + "\n"


def write_outcomes(path: Path, outcomes: Iterable[Outcome]) -> int:
    """Write `outcomes` to `path` (replacing it); returns how many."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        for o in outcomes:
            f.write(o.to_line())
            count += 1
    tmp.replace(path)
    return count


def read_outcomes(path: Path) -> Iterator[Outcome]:
    """The outcomes in `path`; ValueError naming the line of a bad record."""
    with Path(path).open(encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                yield Outcome.model_validate(json.loads(line))
            except (json.JSONDecodeError, ValidationError) as exc:
                raise ValueError(f"{path}:{n}: not an outcome record: {exc}") from exc
