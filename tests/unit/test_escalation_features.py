"""The learned policy's features and the answer signals (edgefleet.escalation_features)."""

from __future__ import annotations

import json
import math

import pytest

from edgefleet.escalation_features import (
    EMBEDDING_DIM,
    FEATURE_DIM,
    SCALAR_NAMES,
    RetrievalView,
    SentenceView,
    answer_signals,
    encode_vector,
    features,
    groundedness,
    sentence_view,
)


def test_features_have_a_fixed_layout_padded_when_fewer_passages() -> None:
    view = RetrievalView(
        scores=[1.2, 0.7], dense=[0.8, 0.5], lexical=[1.0, 0.4], embedding=[0.5] * EMBEDDING_DIM
    )
    sentence = SentenceView("In 1911 about 300 people lived in Paris.", 5.0, 1, 2.0, 0.5)
    vec = features(view, "How many people live there?", sentence)
    assert len(vec) == FEATURE_DIM == EMBEDDING_DIM + len(SCALAR_NAMES)
    named = dict(zip(SCALAR_NAMES, vec[EMBEDDING_DIM:], strict=True))
    assert named["score_1"] == 1.2 and named["score_3"] == 0.0 and named["lexical_2"] == 0.4
    assert named["score_gap"] == pytest.approx(0.5)
    assert named["sentence_overlap"] == 0.5 and named["sentence_passage"] == 0.2
    assert named["type_count"] == 1.0 and named["type_person"] == 0.0
    assert (named["sentence_gap"], named["question_coverage"]) == (0.2, 0.5)
    assert named["sentence_has_digit"] == named["sentence_has_year"] == 1.0
    assert named["sentence_capitalised"] == pytest.approx(1 / 8) and named["sentence_words"] == 8 / 40
    empty = features(RetrievalView([], [], [], []), "x", sentence_view(None))
    assert len(empty) == FEATURE_DIM and not any(empty[:EMBEDDING_DIM])


def test_vectors_travel_as_compact_json() -> None:
    text = encode_vector([0.1234567891, 2.0, -1e-9])
    assert json.loads(text) == [0.123457, 2.0, -1e-09] and " " not in text


def test_answer_signals() -> None:
    s = answer_signals("Rollo the Viking", [-0.1, -2.0, float("-inf")], ["Rollo led them.", "A Viking."])
    assert s.mean_logprob == pytest.approx(-1.05) and s.min_logprob == -2.0
    assert s.grounded == 1.0  # "the" is dropped by the normalisation
    assert groundedness("Paris in spring", ["Paris is nice"]) == pytest.approx(1 / 3)
    assert groundedness("", ["x"]) == 1.0
    none = answer_signals("x", [], [])
    assert none.mean_logprob is None and none.as_dict()["grounded"] == 0.0  # "x" is in no passage
    assert not math.isnan(s.as_dict()["mean_logprob"] or 0.0)
