"""REPLAY of recorded large-model answers in the offline stand-in (``stand_in.replay: squad-bert``).

For a prompt that holds a SQuAD v1.1 dev question (the whole last user message, or a line
``Question: ...`` in it, as the retrieval templates write it), the stand-in answers with the
BERT-large ensemble's recorded prediction for that question (EM 86.2 / F1 92.2 on dev,
:func:`factory.squad.load_recorded_answers`) instead of generating: a hosted tier with real
large-model quality for benchmarks, offline. Such answers are labelled a replay everywhere:
``system_fingerprint`` :data:`REPLAY_FINGERPRINT`, the header ``X-EdgeFleet-Replay``, and
``replay`` in the ``edgefleet`` block. Other prompts are generated as before. Priced and delayed
like any stand-in answer (``latency_ms``, the endpoint's prices).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from edgefleet.generation import ChatMessage
from edgefleet.qa_metrics import normalize_answer

REPLAY_HEADER = "X-EdgeFleet-Replay"
REPLAY_SOURCES = ("squad-bert",)
_QUESTION_LINE = re.compile(r"^\s*Question:\s*(.+?)\s*$", re.MULTILINE)


@dataclass(frozen=True)
class Replay:
    """A recorded answer for a recognised question."""

    question_id: str
    answer: str
    source: str

    def stamp(self) -> dict[str, str]:
        """The ``replay`` entry of the answer's ``edgefleet`` block."""
        return {"source": self.source, "question_id": self.question_id}


class RecordedAnswers:
    """Recorded answers by question text (normalised: case, punctuation, articles, spaces)."""

    def __init__(self, questions: Mapping[str, str], answers: Mapping[str, str], source: str) -> None:
        """`questions`: question id -> text; `answers`: question id -> recorded answer."""
        self.source = source
        self._by_text: dict[str, tuple[str, str]] = {}
        for qid, text in questions.items():
            if qid in answers:
                self._by_text.setdefault(_key(text), (qid, answers[qid]))

    def __len__(self) -> int:
        return len(self._by_text)

    def find(self, messages: Sequence[ChatMessage]) -> Replay | None:
        """The recorded answer for the question in the last user message, if it is a known one."""
        last = next((m.content for m in reversed(messages) if m.role == "user"), "")
        candidates = [last, *_QUESTION_LINE.findall(last)]
        for text in candidates:
            hit = self._by_text.get(_key(text))
            if hit is not None:
                return Replay(hit[0], hit[1], self.source)
        return None


def _key(text: str) -> str:
    return normalize_answer(text)


def load_replay(source: str) -> RecordedAnswers:
    """The recorded answers of `source` (one of :data:`REPLAY_SOURCES`); factory.errors.DataError
    when the data cannot be read."""
    if source != "squad-bert":
        raise ValueError(f"unknown replay source {source!r}; known: {list(REPLAY_SOURCES)}")
    from factory.squad import load_recorded_answers, load_squad_dev

    dev = load_squad_dev()
    questions = {q.qid: q.text for q in dev.questions}
    return RecordedAnswers(
        questions, load_recorded_answers(), "squad-bert (BERT-large ensemble, SQuAD v1.1 dev)"
    )
