"""edgefleet.qa_metrics: SQuAD v1.1 normalisation, exact match and token F1."""

from __future__ import annotations

import pytest

from edgefleet.qa_metrics import exact_match, normalize_answer, token_f1


def test_normalisation() -> None:
    assert normalize_answer("The  Denver Broncos!") == "denver broncos"
    assert normalize_answer("an apple, a day") == "apple day"
    assert normalize_answer("Theater") == "theater"  # 'the' only as a word


def test_exact_match_takes_the_best_reference() -> None:
    assert exact_match("denver broncos", ["Carolina Panthers", "The Denver Broncos"]) == 1.0
    assert exact_match("Broncos", ["Denver Broncos"]) == 0.0
    assert exact_match("x", []) == 0.0


def test_token_f1() -> None:
    assert token_f1("Denver Broncos", ["Denver Broncos"]) == 1.0
    assert token_f1("the Broncos", ["Denver Broncos"]) == pytest.approx(2 * 1.0 * 0.5 / 1.5)
    assert token_f1("Paris France", ["France", "Paris"]) == pytest.approx(2 / 3)
    assert token_f1("", ["x"]) == 0.0 and token_f1("", [""]) == 1.0
    assert token_f1("nothing", ["else"]) == 0.0
