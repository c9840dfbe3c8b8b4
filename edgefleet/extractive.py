"""Extractive answering with a small edge LLM: the prompt and the decoding grammar a generate route
with ``retrieval.answer: extractive`` sends instead of a chat conversation.

A 135M model reads a long passage badly and rambles when asked in chat. So the router picks the
sentence(s) of the retrieved passages that share the most (idf-weighted) words with the question,
writes a plain, non-chat few-shot prompt (``Passage: ...\\nQuestion: ...\\nAnswer:``, examples of the
question's type taken from the TUNE split by ``edgefleet rag fewshot``) and constrains decoding to
spans of that sentence with an EBNF grammar (OpenVINO GenAI's structured output): the answer is
always a phrase of the passage, ended by a newline. Spans made only of question words are left out
(the model likes to repeat the question). Pure functions; the few-shot file is JSON.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from edgefleet.qa_metrics import normalize_answer
from edgefleet.qa_text import (
    QUESTION_TYPES,
    RankedSentence,
    content_stems,
    is_punctuation,
    question_overlap,
    question_type,
    rank_sentences,
    units,
)

FEWSHOT_FORMAT = "edgefleet-fewshot/1"
FEWSHOT_DIR = "fewshot"  # REGISTRY/<collection>/fewshot/<version>.json, and a `latest` file
LATEST = "latest"
MAX_SPAN_UNITS = 12  # longest answer span, in words and punctuation units
ANSWER_END = "\n"


class FewShotError(ValueError):
    """A few-shot file that cannot be used."""


@dataclass(frozen=True)
class Example:
    """One solved example: a passage (a sentence or two), its question and the answer."""

    passage: str
    question: str
    answer: str
    id: str = ""


@dataclass(frozen=True)
class FewShot:
    """Few-shot examples per question type, with where they came from."""

    examples: Mapping[str, tuple[Example, ...]]
    split: str = "tune"
    source: str = ""

    def for_question(self, question: str) -> tuple[Example, ...]:
        """The examples for the question's type (the ``other`` ones when that type has none)."""
        return self.examples.get(question_type(question)) or self.examples.get("other", ())

    def to_json(self) -> str:
        """The file's text (stable: the same examples give the same bytes)."""
        body = {
            "format": FEWSHOT_FORMAT,
            "split": self.split,
            "source": self.source,
            "examples": {t: [e.__dict__ for e in self.examples.get(t, ())] for t in QUESTION_TYPES},
        }
        return json.dumps(body, indent=1, ensure_ascii=False, sort_keys=True) + "\n"

    def version(self) -> str:
        """A content hash (12 hex digits)."""
        return hashlib.sha256(self.to_json().encode("utf-8")).hexdigest()[:12]


def parse_fewshot(text: str, where: str = "few-shot file") -> FewShot:
    """A FewShot from its JSON text; FewShotError naming the problem."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FewShotError(f"{where}: not JSON: {exc}") from exc
    if not isinstance(data, dict) or data.get("format") != FEWSHOT_FORMAT:
        raise FewShotError(f"{where}: not a few-shot file (format {FEWSHOT_FORMAT!r} expected)")
    raw = data.get("examples")
    if not isinstance(raw, dict):
        raise FewShotError(f"{where}: 'examples' must map question types to lists")
    examples: dict[str, tuple[Example, ...]] = {}
    for qtype, items in raw.items():
        if qtype not in QUESTION_TYPES or not isinstance(items, list):
            raise FewShotError(f"{where}: unknown question type {qtype!r} (known: {list(QUESTION_TYPES)})")
        try:
            examples[qtype] = tuple(
                Example(str(i["passage"]), str(i["question"]), str(i["answer"]), str(i.get("id", "")))
                for i in items
            )
        except (TypeError, KeyError) as exc:
            raise FewShotError(f"{where}: examples[{qtype!r}]: each needs passage, question, answer") from exc
    if not any(examples.values()):
        raise FewShotError(f"{where}: no examples")
    return FewShot(examples, str(data.get("split", "")), str(data.get("source", "")))


def load_fewshot(path: Path) -> FewShot:
    """Read a few-shot file; FewShotError when it is missing or malformed."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise FewShotError(f"{path}: cannot read the few-shot file: {exc}") from exc
    return parse_fewshot(text, str(path))


def fewshot_dir(registry: Path, collection: str) -> Path:
    """Where a collection's few-shot versions live in the registry."""
    return Path(registry) / collection / FEWSHOT_DIR


def resolve_fewshot(registry: Path, collection: str, version: str = LATEST) -> Path:
    """The file of a collection's few-shot version (``latest``: the current one); FewShotError
    when there is none."""
    folder = fewshot_dir(registry, collection)
    if version == LATEST:
        marker = folder / LATEST
        if not marker.is_file():
            raise FewShotError(
                f"{collection} has no few-shot examples in {registry}: run `edgefleet rag fewshot --split tune`"
            )
        version = marker.read_text(encoding="utf-8").strip()
    path = folder / f"{version}.json"
    if not path.is_file():
        raise FewShotError(f"{path} does not exist")
    return path


def format_example(passage: str, question: str, answer: str | None = None) -> str:
    """One example in the prompt's layout (without an answer: the part the model completes)."""
    text = f"Passage: {passage}\nQuestion: {question}\nAnswer:"
    return text if answer is None else f"{text} {answer}\n\n"


@dataclass(frozen=True)
class ExtractivePlan:
    """What the edge model is sent for one question."""

    prompt: str
    grammar: str
    context: str  # the selected sentence(s), what the answer is a span of
    passage: int  # index (0-based) of the passage the best sentence came from
    overlap: float  # the best sentence's overlap score (a feature: 0 = no question word found)
    question_type: str
    gap: float = 0.0  # the best sentence's score minus the second best's (a feature)
    coverage: float = 0.0  # share of the question's content stems in the chosen context (a feature)


def select_context(
    passages: Sequence[str],
    question: str,
    sentences: int = 1,
    passage_bonus: float = 0.0,
    passage_scores: Sequence[float] = (),
    passage_weight: float = 0.0,
) -> tuple[str, list[RankedSentence]]:
    """The `sentences` best sentences (in passage order) joined, and the whole ranking."""
    ranked = rank_sentences(passages, question, passage_bonus, passage_scores, passage_weight)
    chosen = sorted(ranked[:sentences], key=lambda r: (r.passage, r.start))
    return " ".join(r.text for r in chosen), ranked


def ebnf_literal(text: str) -> str:
    """`text` as an EBNF string literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def span_grammar(context: str, question: str, max_units: int = MAX_SPAN_UNITS) -> str:
    """An EBNF grammar whose sentences are the spans of `context` (up to `max_units` units, not
    starting or ending with punctuation, not made only of question words), each with a leading
    space and followed by a newline. A context without such spans allows any of its words."""
    us = units(context)
    rules: list[str] = []
    for i, (start, _, _) in enumerate(us):
        if is_punctuation(context[us[i][0] : us[i][1]]):
            continue
        pieces: list[tuple[str, bool]] = []
        for j in range(i, min(len(us), i + max_units)):
            s, e, space = us[j]
            piece = (" " if j == i or space else "") + context[s:e]
            span = context[start:e]
            ends = (
                not is_punctuation(context[s:e])
                and bool(normalize_answer(span))  # not only articles ("the")
                and question_overlap(span, question) < 1.0
            )
            pieces.append((piece, ends))
        while pieces and not pieces[-1][1]:
            pieces.pop()
        if not pieces:
            continue
        expr = ""
        for piece, ends in reversed(pieces):
            lit = ebnf_literal(piece)
            expr = lit if not expr else f"{lit} ({expr})?" if ends else f"{lit} ({expr})"
        rules.append(f"s{i} ::= {expr}")
    if not rules:
        words = sorted({context[s:e] for s, e, _ in us if not is_punctuation(context[s:e])}) or ["?"]
        return (
            "root ::= (" + " | ".join(ebnf_literal(" " + w) for w in words) + f") {ebnf_literal(ANSWER_END)}"
        )
    names = " | ".join(r.split(" ", 1)[0] for r in rules)
    return f"root ::= ({names}) {ebnf_literal(ANSWER_END)}\n" + "\n".join(rules)


def plan(
    fewshot: FewShot | None,
    passages: Sequence[str],
    question: str,
    sentences: int = 1,
    passage_bonus: float = 0.0,
    passage_scores: Sequence[float] = (),
    passage_weight: float = 0.0,
) -> ExtractivePlan:
    """The prompt and grammar for `question` over the retrieved `passages` (best first; their
    retrieval scores weigh in with ``passage_weight``)."""
    context, ranked = select_context(
        passages, question, sentences, passage_bonus, passage_scores, passage_weight
    )
    examples = fewshot.for_question(question) if fewshot is not None else ()
    prompt = "".join(format_example(e.passage, e.question, e.answer) for e in examples)
    prompt += format_example(context, question)
    best = ranked[0] if ranked else None
    second = ranked[1].score if len(ranked) > 1 else 0.0
    q_stems = set(content_stems(question))
    covered = len(q_stems & set(content_stems(context))) / len(q_stems) if q_stems else 0.0
    return ExtractivePlan(
        prompt=prompt,
        grammar=span_grammar(context, question),
        context=context,
        passage=best.passage if best else 0,
        overlap=best.score if best else 0.0,
        question_type=question_type(question),
        gap=(best.score - second) if best else 0.0,
        coverage=covered,
    )


def clean_answer(text: str) -> str:
    """The generated span without the newline that ends it and surrounding space."""
    return text.split(ANSWER_END, 1)[0].strip()
