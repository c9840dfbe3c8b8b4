"""Sentence splitting, overlap ranking, answer units and question types (edgefleet.qa_text)."""

from __future__ import annotations

from edgefleet.qa_text import (
    is_punctuation,
    question_overlap,
    question_type,
    rank_sentences,
    split_sentences,
    units,
)


def test_sentences_split_at_ends_before_capitals_and_digits() -> None:
    text = "Dr. Smith went to Paris. He saw the U.S. embassy! Then he left?  In 1911 it ended."
    spans = split_sentences(text)
    # As the recipe was tuned: the abbreviation check sees the space after the stop, so "Dr." ends
    # a sentence; "U.S. embassy" does not split (a lower-case word follows).
    assert [text[s:e] for s, e in spans] == [
        "Dr.",
        "Smith went to Paris.",
        "He saw the U.S. embassy!",
        "Then he left?",
        "In 1911 it ended.",
    ]


def test_sentences_ranked_by_idf_weighted_question_overlap_across_passages() -> None:
    passages = ["The cat sat. Normandy is a region in France.", "Rollo founded Normandy in 911."]
    ranked = rank_sentences(passages, "When was Normandy founded?")
    assert ranked[0].text == "Rollo founded Normandy in 911." and ranked[0].passage == 1
    assert ranked[-1].score == 0.0
    assert passages[ranked[0].passage][ranked[0].start : ranked[0].end] == ranked[0].text


def test_passage_bonus_breaks_ties_for_the_better_retrieved_passage() -> None:
    passages = ["Rollo founded it.", "Rollo founded it again."]
    assert rank_sentences(passages, "Who founded it?", passage_bonus=0.1)[0].passage == 0
    assert rank_sentences([], "anything") == []


def test_units_split_off_punctuation_and_remember_spaces() -> None:
    text = '("Hello," she said.)'
    pieces = [(text[s:e], space) for s, e, space in units(text)]
    assert pieces == [
        ("(", True), ('"', False), ("Hello", False), (",", False), ('"', False),
        ("she", True), ("said", True), (".", False), (")", False),
    ]  # fmt: skip
    assert is_punctuation(",)") and not is_punctuation("a,")


def test_question_overlap_and_types() -> None:
    assert question_overlap("the Normans", "Who were the Normans?") == 1.0
    assert question_overlap("Rollo", "Who were the Normans?") == 0.0
    assert question_overlap("", "x") == 0.0
    assert question_type("How many people live there?") == "count"
    assert question_type("In what year did it end?") == "time"
    assert question_type("Who led them?") == "person"
    assert question_type("Where is it?") == "place"
    assert question_type("Why did it fall?") == "reason"
    assert question_type("How did it fall?") == "manner"
    assert question_type("What is the name of the river?") == "other"
