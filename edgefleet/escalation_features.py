"""The signals of a learned escalation policy for generation, computed the same way by the router
(live) and by the factory and bench (training and measuring).

BEFORE generating (:func:`features`): the query's MiniLM embedding and the retrieval scores the
retriever returns (hybrid, dense and lexical of the top ``k``, the gap between the first two), how
well the best sentence of the passages matches the question (its idf-weighted overlap, its lead
over the second best, the share of the question's words it covers, the rank of its passage), the
question's type and length, and answer-type cues of that sentence (length, digits, a year,
capitalised words not in the question). They form the vector a policy model (a
classify model with labels ``bad``/``good`` and a ``vector`` featurizer) reads as its input text
(:func:`encode_vector`).

AFTER generating (:func:`answer_signals`): the answer's token log-probabilities (mean, min) and
how grounded it is in the passages (the share of its words found there).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from edgefleet.extractive import ExtractivePlan
from edgefleet.qa_metrics import normalize_answer
from edgefleet.qa_text import QUESTION_TYPES, question_type

FEATURE_TOP_K = 5
EMBEDDING_DIM = 384
SCALAR_NAMES = (
    *(f"score_{i + 1}" for i in range(FEATURE_TOP_K)),
    *(f"dense_{i + 1}" for i in range(FEATURE_TOP_K)),
    *(f"lexical_{i + 1}" for i in range(FEATURE_TOP_K)),
    "score_gap",
    "sentence_overlap",
    "sentence_passage",
    "question_words",
    *(f"type_{t}" for t in QUESTION_TYPES),
    "sentence_gap",
    "question_coverage",
    "sentence_words",
    "sentence_has_digit",
    "sentence_has_year",
    "sentence_capitalised",
)
FEATURE_DIM = EMBEDDING_DIM + len(SCALAR_NAMES)
FEATURES_VERSION = "rag-policy-features/2"


@dataclass(frozen=True)
class RetrievalView:
    """What the features need from a retrieval: per passage (best first) its hybrid, dense and
    lexical scores, and the query embedding."""

    scores: Sequence[float]
    dense: Sequence[float]
    lexical: Sequence[float]
    embedding: Sequence[float]


def _pad(values: Sequence[float], k: int = FEATURE_TOP_K) -> list[float]:
    out = [float(v) for v in list(values)[:k]]
    return out + [0.0] * (k - len(out))


@dataclass(frozen=True)
class SentenceView:
    """What the features need from the extractive plan: the chosen sentence and its ranking."""

    text: str = ""
    overlap: float = 0.0
    passage: int = 0
    gap: float = 0.0
    coverage: float = 0.0


def sentence_view(plan: ExtractivePlan | None) -> SentenceView:
    """The SentenceView of an extractive plan (an empty one without a plan)."""
    if plan is None:
        return SentenceView()
    return SentenceView(plan.context, plan.overlap, plan.passage, plan.gap, plan.coverage)


_YEAR = re.compile(r"\b1[0-9]{3}\b|\b20[0-9]{2}\b")
_STRIP = ".,;:!?\"'()"


def _sentence_cues(text: str, question: str) -> list[float]:
    """Answer-type cues of the sentence the answer will come from: its length, whether it holds a
    digit or a year, and the share of its capitalised words that are not in the question."""
    tokens = text.split()
    q = {w.lower().strip(_STRIP) for w in question.split()}
    caps = [w for w in tokens[1:] if w[:1].isupper() and w.lower().strip(_STRIP) not in q]
    return [
        min(len(tokens), 80) / 40.0,
        1.0 if any(ch.isdigit() for ch in text) else 0.0,
        1.0 if _YEAR.search(text) else 0.0,
        len(caps) / max(len(tokens), 1),
    ]


def features(view: RetrievalView, question: str, sentence: SentenceView) -> list[float]:
    """The policy's input vector (:data:`FEATURE_DIM` floats; see the module docstring). A missing
    embedding counts as zeros."""
    embedding = [float(x) for x in view.embedding][:EMBEDDING_DIM]
    embedding += [0.0] * (EMBEDDING_DIM - len(embedding))
    scores = list(view.scores)
    gap = float(scores[0] - scores[1]) if len(scores) > 1 else (float(scores[0]) if scores else 0.0)
    qtype = question_type(question)
    scalars = [
        *_pad(view.scores),
        *_pad(view.dense),
        *_pad(view.lexical),
        gap,
        float(sentence.overlap) / 10.0,
        float(sentence.passage) / FEATURE_TOP_K,
        min(len(question.split()), 40) / 20.0,
        *(1.0 if qtype == t else 0.0 for t in QUESTION_TYPES),
        float(sentence.gap) / 10.0,
        float(sentence.coverage),
        *_sentence_cues(sentence.text, question),
    ]
    return embedding + scalars


def encode_vector(vector: Sequence[float]) -> str:
    """The vector as the text a ``vector`` featurizer reads (a JSON list, 6 significant digits)."""
    return json.dumps([float(f"{v:.6g}") for v in vector], separators=(",", ":"))


@dataclass(frozen=True)
class AnswerSignals:
    """Signals of a generated answer."""

    mean_logprob: float | None
    min_logprob: float | None
    grounded: float  # share of the answer's words found in the passages (1.0 for an empty answer)

    def as_dict(self) -> dict[str, float | None]:
        """For logs."""
        return {"mean_logprob": self.mean_logprob, "min_logprob": self.min_logprob, "grounded": self.grounded}


def groundedness(answer: str, passages: Sequence[str]) -> float:
    """The share of the answer's normalised words that occur in the passages."""
    words = normalize_answer(answer).split()
    if not words:
        return 1.0
    vocabulary = set(normalize_answer(" ".join(passages)).split())
    return sum(w in vocabulary for w in words) / len(words)


def answer_signals(answer: str, logprobs: Sequence[float], passages: Sequence[str]) -> AnswerSignals:
    """Log-probability and groundedness signals of one answer."""
    finite = [float(x) for x in logprobs if math.isfinite(x)]
    return AnswerSignals(
        mean_logprob=sum(finite) / len(finite) if finite else None,
        min_logprob=min(finite) if finite else None,
        grounded=groundedness(answer, passages),
    )
