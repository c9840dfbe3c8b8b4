"""The extractive prompt, span grammar and few-shot files (edgefleet.extractive)."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgefleet.ebnf import check_grammar
from edgefleet.extractive import (
    Example,
    FewShot,
    FewShotError,
    clean_answer,
    ebnf_literal,
    format_example,
    load_fewshot,
    parse_fewshot,
    plan,
    resolve_fewshot,
    span_grammar,
)

SHOTS = FewShot(
    {
        "person": (Example("Rollo led the Normans.", "Who led the Normans?", "Rollo", "q1"),),
        "other": (Example("The sky is blue.", "What colour is the sky?", "blue", "q2"),),
    },
    split="tune",
    source="test",
)


def _expand(expr: str) -> tuple[set[str], str]:
    """The strings of one nested span rule `"a" ("b" ("c")?)?` (and what is left of `expr`)."""
    assert expr.startswith('"')
    end = expr.index('"', 1)
    lit, rest = expr[1:end], expr[end + 1 :].lstrip()
    if not rest.startswith("("):
        return {lit}, rest
    inner, rest = _expand(rest[1:])
    assert rest.startswith(")")
    rest = rest[1:]
    optional = rest.startswith("?")
    rest = rest[1:] if optional else rest
    return {lit + x for x in inner} | ({lit} if optional else set()), rest


def spans_of(grammar: str) -> set[str]:
    """Every answer a span grammar allows (without the final newline)."""
    return {x for line in grammar.splitlines()[1:] for x in _expand(line.split(" ::= ", 1)[1])[0]}


def test_span_grammar_allows_passage_spans_but_not_question_words_or_articles() -> None:
    grammar = span_grammar("Rollo, a Viking, led the Normans.", "Who led the Normans?")
    check_grammar(grammar)
    assert grammar.splitlines()[0].endswith(') "\\n"')
    spans = spans_of(grammar)
    assert {" Rollo", " Rollo, a Viking", " a Viking", " Viking, led the Normans", " Viking"} <= spans
    assert " Normans" not in spans and " led the Normans" not in spans  # only question words
    assert " a" not in spans and " the" not in spans  # only articles
    assert not any(s.endswith((",", ".")) or s.startswith((" ,", " .")) for s in spans)
    long = span_grammar(" ".join(f"w{i}" for i in range(30)), "q?", max_units=3)
    assert max(len(s.split()) for s in spans_of(long)) == 3


def test_span_grammar_of_a_context_without_spans_falls_back_to_its_words() -> None:
    grammar = span_grammar("Normans.", "Who were the Normans?")
    check_grammar(grammar)
    assert grammar == 'root ::= (" Normans") "\\n"'
    assert ebnf_literal('a "b" \\ c\n') == '"a \\"b\\" \\\\ c\\n"'


def test_plan_picks_the_best_sentence_of_the_passages_and_typed_examples() -> None:
    passages = ["The weather was fine. Rollo led the Normans into France.", "Other text here."]
    chosen = plan(SHOTS, passages, "Who led the Normans?")
    assert chosen.context == "Rollo led the Normans into France."
    assert (chosen.passage, chosen.question_type) == (0, "person") and chosen.overlap > 0
    assert chosen.prompt == (
        format_example("Rollo led the Normans.", "Who led the Normans?", "Rollo")
        + "Passage: Rollo led the Normans into France.\nQuestion: Who led the Normans?\nAnswer:"
    )
    assert '" Rollo"' in chosen.grammar
    bare = plan(None, passages, "Why?")
    assert bare.prompt.startswith("Passage: ") and bare.question_type == "reason"
    assert plan(SHOTS, passages, "Where is it?").prompt.startswith("Passage: The sky is blue.")  # other's


def test_fewshot_files_round_trip_and_are_versioned_by_content(tmp_path: Path) -> None:
    text = SHOTS.to_json()
    again = parse_fewshot(text)
    assert again.examples["person"] == SHOTS.examples["person"] and again.split == "tune"
    assert again.version() == SHOTS.version() and len(SHOTS.version()) == 12
    folder = tmp_path / "squad" / "fewshot"
    folder.mkdir(parents=True)
    (folder / f"{SHOTS.version()}.json").write_text(text)
    with pytest.raises(FewShotError, match="rag fewshot"):
        resolve_fewshot(tmp_path, "squad")
    (folder / "latest").write_text(SHOTS.version() + "\n")
    assert load_fewshot(resolve_fewshot(tmp_path, "squad")).version() == SHOTS.version()
    with pytest.raises(FewShotError, match="does not exist"):
        resolve_fewshot(tmp_path, "squad", "nope")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json", "not JSON"),
        ('{"format": "other"}', "not a few-shot file"),
        ('{"format": "edgefleet-fewshot/1", "examples": []}', "must map"),
        ('{"format": "edgefleet-fewshot/1", "examples": {"who": []}}', "unknown question type"),
        ('{"format": "edgefleet-fewshot/1", "examples": {"other": [{"passage": "p"}]}}', "each needs"),
        ('{"format": "edgefleet-fewshot/1", "examples": {"other": []}}', "no examples"),
    ],
)
def test_bad_fewshot_files_are_refused(text: str, message: str) -> None:
    with pytest.raises(FewShotError, match=message):
        parse_fewshot(text)


def test_clean_answer_drops_the_newline_and_what_follows() -> None:
    assert clean_answer(" Rollo\nPassage: x") == "Rollo" and clean_answer("") == ""
