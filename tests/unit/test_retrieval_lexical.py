"""BM25: tokens and the plural stemmer, postings, scores against a hand computation, round trip
through the saved arrays."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fleet.retrieval.lexical import BM25Index, s_stem, terms


@pytest.mark.parametrize(
    ("word", "stem"),
    [
        ("cities", "city"),
        ("ponies", "pony"),
        ("aies", "aie"),
        ("horses", "horse"),
        ("shoes", "shoe"),
        ("cats", "cat"),
        ("bus", "bus"),
        ("glass", "glass"),
        ("is", "is"),
        ("goes", "goe"),
        ("gas", "ga"),
    ],
)
def test_s_stemmer_strips_plurals_only(word: str, stem: str) -> None:
    assert s_stem(word) == stem


def test_terms_are_lowercased_word_runs() -> None:
    assert terms("The Eiffel-Tower's lights, 1889!") == ["the", "eiffel", "tower", "s", "light", "1889"]
    assert terms("Cities", stem=False) == ["cities"]


def test_scores_match_okapi_bm25_by_hand() -> None:
    texts = ["the cat sat", "the dog sat on the mat", "cats and dogs"]
    index = BM25Index.build(texts, k1=0.9, b=0.9)
    lengths = [3, 6, 3]
    avg = sum(lengths) / 3

    def weight(tf: int, df: int, length: int) -> float:
        idf = math.log(1 + (3 - df + 0.5) / (df + 0.5))
        return idf * tf * 1.9 / (tf + 0.9 * (1 - 0.9 + 0.9 * length / avg))

    got = index.scores("Cat on the mat")  # cat (stemmed: 2 docs), on, the (2 docs), mat
    expected = [
        weight(1, 2, 3) + weight(1, 2, 3),
        weight(1, 1, 6) + weight(2, 2, 6) + weight(1, 1, 6),
        weight(1, 2, 3),
    ]
    assert got == pytest.approx(expected, rel=1e-5)


def test_repeated_query_terms_count_once_and_unknown_terms_score_zero() -> None:
    index = BM25Index.build(["alpha beta", "gamma"])
    assert index.scores("alpha alpha") == pytest.approx(index.scores("alpha"))
    assert not index.scores("zeta omega").any()
    assert index.query_terms("zeta alpha") == [index.vocab.index("alpha")]


def test_arrays_round_trip() -> None:
    index = BM25Index.build(["one two three", "two three four four", "naïve café"])
    again = BM25Index.from_arrays(index.arrays())
    assert again.vocab == index.vocab
    for query in ("two four", "café", "nothing"):
        assert np.array_equal(again.scores(query), index.scores(query))


def test_inconsistent_arrays_are_refused() -> None:
    arrays = BM25Index.build(["a b", "c"]).arrays()
    arrays["indptr"] = arrays["indptr"][:-1]
    with pytest.raises(ValueError, match="disagree"):
        BM25Index.from_arrays(arrays)


def test_empty_collection() -> None:
    index = BM25Index.build([])
    assert index.size == 0 and index.scores("x").shape == (0,)
