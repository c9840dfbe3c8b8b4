"""Text helpers for extractive question answering over passages: sentence splitting, ranking
sentences by their (idf-weighted) word overlap with the question, the word units answer spans are
made of, and a question-type rule. Pure functions (no I/O), shared by the router (building the
edge prompt), the factory (choosing few-shot examples) and the bench.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from edgefleet.qa_metrics import normalize_answer

STOP_WORDS = frozenset(
    """a an the of in on at to for from by with and or is are was were be been being do does did
    what which who whom whose when where why how that this these those it its as into than then there
    their they he she his her him them has have had not no can could would should will shall may might
    must i you we our your us me my about after before during over under between through up down out
    off also such other any some many much more most one s""".split()  # noqa: SIM905 - a word list reads better as text
)
QUESTION_TYPES = ("count", "time", "person", "place", "reason", "manner", "other")
PUNCT_LEAD = "(\"'\u201c\u2018["
PUNCT_TRAIL = ",.;:!?)\"'\u201d\u2019]"

_SENTENCE_END = re.compile(r"(?<=[.!?])[\"\u201d')\]]*\s+(?=[\"\u201c'(\[]?[A-Z0-9])")
_ABBREVIATION = re.compile(
    r"(\b[A-Z]\.|\bSt\.|\bMr\.|\bDr\.|\bMrs\.|\bvs\.|\bNo\.|\bc\.|\bca\.|\bJr\.|\bU\.S\.)$"
)
_TYPE_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("count", re.compile(r"\bhow (many|much)\b|\bwhat (percent|percentage|number|amount)\b")),
    (
        "time",
        re.compile(
            r"\bwhen\b|\bwhat (year|years|date|day|month|century|decade|time|period|era)\b"
            r"|\bwhich (year|century|decade|date)\b|\bin what year\b|\bhow long\b|\bhow old\b"
        ),
    ),
    ("person", re.compile(r"\bwho\b|\bwhom\b|\bwhose\b")),
    (
        "place",
        re.compile(
            r"\bwhere\b|\bwhat (country|city|state|region|continent|river|place|location)\b"
            r"|\bwhich (country|city|state|region|continent|river)\b"
        ),
    ),
    ("reason", re.compile(r"\bwhy\b")),
    ("manner", re.compile(r"\bhow\b")),
)


@dataclass(frozen=True)
class RankedSentence:
    """A sentence of a passage with its overlap score (higher: more of the question's words)."""

    score: float
    passage: int  # index of the passage it comes from
    start: int  # character offsets in that passage
    end: int
    text: str


def question_type(question: str) -> str:
    """One of :data:`QUESTION_TYPES`, by wh-word rules."""
    lowered = question.lower()
    return next((name for name, rule in _TYPE_RULES if rule.search(lowered)), "other")


def split_sentences(text: str) -> list[tuple[int, int]]:
    """The sentences of `text` as (start, end) offsets, stripped: a stop (. ! ?) then white space
    and a capital or digit ends one. The abbreviation check sees the white space after the stop,
    so it seldom holds; it is kept so, as the few-shot set and the policy were tuned with it."""
    spans: list[tuple[int, int]] = []
    start = 0
    for m in _SENTENCE_END.finditer(text):
        end = m.start()
        if _ABBREVIATION.search(text[start : end + 1]):  # with the space after: as the recipe was tuned
            continue
        spans.append((start, end + 1))
        start = m.end()
    if start < len(text):
        spans.append((start, len(text)))
    out: list[tuple[int, int]] = []
    for s, e in spans:
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if e > s:
            out.append((s, e))
    return out


def words(text: str) -> list[str]:
    """Lower-cased alphanumeric words."""
    return re.findall(r"[a-z0-9]+", text.lower())


def stem(word: str) -> str:
    """A crude stem: the first five characters."""
    return word[:5]


def content_stems(text: str) -> list[str]:
    """Stems of the words that are not stop words."""
    return [stem(w) for w in words(text) if w not in STOP_WORDS]


def rank_sentences(
    passages: Sequence[str],
    question: str,
    passage_bonus: float = 0.0,
    passage_scores: Sequence[float] = (),
    passage_weight: float = 0.0,
) -> list[RankedSentence]:
    """Every sentence of `passages`, best first: the summed idf (over these sentences) of the
    question's content stems it holds, plus ``passage_weight`` x its passage's retrieval score
    (``passage_scores``, best first; missing ones count 0), minus ``passage_bonus`` per rank of its
    passage (so ties go to the better-retrieved passage)."""
    found: list[tuple[int, int, int, set[str]]] = []
    for pi, text in enumerate(passages):
        for s, e in split_sentences(text):
            found.append((pi, s, e, set(content_stems(text[s:e]))))
    if not found:
        return []
    q = set(content_stems(question))
    df = Counter(w for *_, stems in found for w in stems)
    n = len(found)
    prior = [passage_weight * float(x) for x in passage_scores]
    ranked = [
        RankedSentence(
            sum(math.log(1 + n / df[w]) for w in q & stems)
            - passage_bonus * pi
            + (prior[pi] if pi < len(prior) else 0.0),
            pi,
            s,
            e,
            passages[pi][s:e],
        )
        for pi, s, e, stems in found
    ]
    order = sorted(range(len(ranked)), key=lambda i: (-ranked[i].score, i))
    return [ranked[i] for i in order]


def units(text: str) -> list[tuple[int, int, bool]]:
    """`text` cut into units (start, end, space before): words, with leading and trailing
    punctuation as units of their own. Answer spans start and end at unit boundaries."""
    out: list[tuple[int, int, bool]] = []
    for m in re.finditer(r"\S+", text):
        s, e = m.start(), m.end()
        first = True
        while s < e and text[s] in PUNCT_LEAD:
            out.append((s, s + 1, first))
            s += 1
            first = False
        trail: list[tuple[int, int, bool]] = []
        while e > s and text[e - 1] in PUNCT_TRAIL:
            trail.append((e - 1, e, False))
            e -= 1
        if e > s:
            out.append((s, e, first))
        out.extend(reversed(trail))
    return out


def is_punctuation(text: str) -> bool:
    """True when `text` has no letter or digit."""
    return not re.search(r"\w", text)


def question_overlap(span: str, question: str) -> float:
    """The share of the span's (normalised) words whose stem is in the question."""
    span_words = normalize_answer(span).split()
    if not span_words:
        return 0.0
    q = {stem(w) for w in normalize_answer(question).split()}
    return sum(stem(w) in q for w in span_words) / len(span_words)
