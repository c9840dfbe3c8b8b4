"""Text featurisers: turn strings into the IR's input tensors.

Two kinds, chosen by the manifest's ``featurizer`` dict:

- ``{"kind": "hashed", "dim": 8192, "word_ngrams": [1, 2], "char_ngrams": [3, 5], "signed": true,
  "sublinear_tf": true, "char_weight": 0.5}``: word uni/bi-grams plus character n-grams of each
  word (with ``<`` ``>`` boundary marks), hashed with crc32 (stable across processes, unlike
  Python's salted ``hash()``) into ``dim`` buckets, log-scaled counts, L2-normalised per text.
  Produces the input ``FEATURES`` f32 ``[N, dim]``.
- ``{"kind": "wordpiece", "tokenizer": "tokenizer.json", "max_len": 64}``: a HuggingFace
  ``tokenizers`` tokenizer read from the bundle, truncated to ``max_len`` and padded to the batch's
  longest text. Produces ``input_ids``/``attention_mask`` (and ``token_type_ids`` when the IR
  declares it) as i64 ``[N, T]``.
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np

from fleet.errors import ModelLoadError

_TOKEN_RE = re.compile(r"[\w']+")
_CACHE_LIMIT = 200_000
_SIGN_BIT = 1 << 31

DEFAULT_HASHED_CONFIG: dict[str, Any] = {
    "kind": "hashed",
    "dim": 8192,
    "word_ngrams": [1, 2],
    "char_ngrams": [3, 5],
    "signed": True,
    "sublinear_tf": True,
    "char_weight": 0.5,
}


class Featurizer(Protocol):
    """Anything that maps a batch of texts to named IR input arrays."""

    input_names: tuple[str, ...]

    def __call__(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """Featurise ``texts`` into ``{input_name: array}``."""
        ...


def tokenize_words(text: str) -> list[str]:
    """Lower-cased word tokens (letters, digits, underscore and apostrophes)."""
    return _TOKEN_RE.findall(text.lower())


class HashedFeaturizer:
    """Hashed bag of word n-grams and per-word character n-grams (see module docstring)."""

    input_names: tuple[str, ...] = ("FEATURES",)

    def __init__(
        self,
        dim: int = 8192,
        word_ngrams: Sequence[int] = (1, 2),
        char_ngrams: Sequence[int] = (3, 5),
        signed: bool = True,
        sublinear_tf: bool = True,
        char_weight: float = 0.5,
    ) -> None:
        if dim < 2:
            raise ValueError(f"hashed featurizer dim must be >= 2, got {dim}")
        self.dim = int(dim)
        self.word_ngrams = (int(word_ngrams[0]), int(word_ngrams[-1]))
        self.char_ngrams = (int(char_ngrams[0]), int(char_ngrams[-1])) if char_ngrams else (0, -1)
        self.signed = bool(signed)
        self.sublinear_tf = bool(sublinear_tf)
        self.char_weight = float(char_weight)
        self._word_cache: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._ngram_cache: dict[str, tuple[int, float]] = {}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> HashedFeaturizer:
        """Build from a manifest ``featurizer`` dict (missing keys take the defaults)."""
        merged = {**DEFAULT_HASHED_CONFIG, **config}
        return cls(
            dim=int(merged["dim"]),
            word_ngrams=list(merged["word_ngrams"]),
            char_ngrams=list(merged["char_ngrams"] or []),
            signed=bool(merged["signed"]),
            sublinear_tf=bool(merged["sublinear_tf"]),
            char_weight=float(merged["char_weight"]),
        )

    def config(self) -> dict[str, Any]:
        """The manifest ``featurizer`` dict that rebuilds this featuriser."""
        lo, hi = self.char_ngrams
        return {
            "kind": "hashed",
            "dim": self.dim,
            "word_ngrams": list(self.word_ngrams),
            "char_ngrams": [lo, hi] if hi >= lo else [],
            "signed": self.signed,
            "sublinear_tf": self.sublinear_tf,
            "char_weight": self.char_weight,
        }

    def _bucket(self, key: str, weight: float) -> tuple[int, float]:
        code = zlib.crc32(key.encode("utf-8"))
        value = -weight if (self.signed and code & _SIGN_BIT) else weight
        return code % self.dim, value

    def _word_features(self, word: str) -> tuple[np.ndarray, np.ndarray]:
        cached = self._word_cache.get(word)
        if cached is not None:
            return cached
        pairs: list[tuple[int, float]] = []
        if self.word_ngrams[0] <= 1 <= self.word_ngrams[1]:
            pairs.append(self._bucket("w " + word, 1.0))
        lo, hi = self.char_ngrams
        if hi >= lo:
            marked = "<" + word + ">"
            for n in range(lo, hi + 1):
                for start in range(max(len(marked) - n, 0) + 1):
                    pairs.append(self._bucket("c " + marked[start : start + n], self.char_weight))
        indices = np.fromiter((p[0] for p in pairs), dtype=np.int64, count=len(pairs))
        values = np.fromiter((p[1] for p in pairs), dtype=np.float32, count=len(pairs))
        if len(self._word_cache) >= _CACHE_LIMIT:
            self._word_cache.clear()
        self._word_cache[word] = (indices, values)
        return indices, values

    def _ngram_feature(self, key: str) -> tuple[int, float]:
        cached = self._ngram_cache.get(key)
        if cached is None:
            cached = self._bucket("n " + key, 1.0)
            if len(self._ngram_cache) >= _CACHE_LIMIT:
                self._ngram_cache.clear()
            self._ngram_cache[key] = cached
        return cached

    def _raw_features(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """Unaggregated (bucket, value) pairs of one text."""
        words = tokenize_words(text)
        parts = [self._word_features(w) for w in words]
        idx_parts = [p[0] for p in parts]
        val_parts = [p[1] for p in parts]
        lo, hi = self.word_ngrams
        extra: list[tuple[int, float]] = []
        for n in range(max(lo, 2), hi + 1):
            for start in range(len(words) - n + 1):
                extra.append(self._ngram_feature(" ".join(words[start : start + n])))
        if extra:
            idx_parts.append(np.fromiter((e[0] for e in extra), dtype=np.int64, count=len(extra)))
            val_parts.append(np.fromiter((e[1] for e in extra), dtype=np.float32, count=len(extra)))
        if not idx_parts:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        return np.concatenate(idx_parts), np.concatenate(val_parts)

    def sparse_batch(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Features as COO parts ``(rows, cols, values)``, sorted by row then column.

        Counts per bucket are summed, log-scaled (``sign(x) * log1p(|x|)``) when ``sublinear_tf``,
        and every row is L2-normalised.
        """
        raw = [self._raw_features(t) for t in texts]
        lengths = [len(r[0]) for r in raw]
        if not texts or not sum(lengths):
            empty_i = np.zeros(0, dtype=np.int64)
            return empty_i, empty_i.copy(), np.zeros(0, dtype=np.float32)
        offsets = np.repeat(np.arange(len(texts), dtype=np.int64) * self.dim, lengths)
        keys = np.concatenate([r[0] for r in raw]) + offsets
        unique_keys, inverse = np.unique(keys, return_inverse=True)
        values = np.bincount(inverse, weights=np.concatenate([r[1] for r in raw]), minlength=len(unique_keys))
        if self.sublinear_tf:
            values = np.sign(values) * np.log1p(np.abs(values))
        rows, cols = np.divmod(unique_keys, self.dim)
        norms = np.sqrt(np.bincount(rows, weights=values * values, minlength=len(texts)))
        norms[norms == 0.0] = 1.0
        return rows, cols, (values / norms[rows]).astype(np.float32)

    def dense(self, texts: Sequence[str]) -> np.ndarray:
        """Features as a dense float32 array [len(texts), dim]."""
        rows, cols, values = self.sparse_batch(texts)
        block = np.zeros((len(texts), self.dim), dtype=np.float32)
        block[rows, cols] = values
        return block

    def csr(self, texts: Sequence[str], chunk: int = 2048) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Features as CSR parts ``(indptr, indices, data)`` for training on large corpora."""
        indptr_parts = [np.zeros(1, dtype=np.int64)]
        indices: list[np.ndarray] = [np.zeros(0, dtype=np.int64)]
        data: list[np.ndarray] = [np.zeros(0, dtype=np.float32)]
        total = 0
        for start in range(0, len(texts), chunk):
            batch = texts[start : start + chunk]
            rows, cols, values = self.sparse_batch(batch)
            counts = np.bincount(rows, minlength=len(batch))
            indptr_parts.append(total + np.cumsum(counts))
            indices.append(cols)
            data.append(values)
            total += int(counts.sum())
        return np.concatenate(indptr_parts), np.concatenate(indices), np.concatenate(data)

    def __call__(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """``{"FEATURES": f32 [N, dim]}``."""
        return {"FEATURES": self.dense(texts)}


class WordPieceFeaturizer:
    """HuggingFace ``tokenizers`` featuriser for transformer IRs (see module docstring)."""

    def __init__(
        self, tokenizer_json: str, max_len: int = 64, input_names: Sequence[str] | None = None
    ) -> None:
        from tokenizers import Tokenizer

        try:
            self._tokenizer = Tokenizer.from_str(tokenizer_json)
        except Exception as exc:  # tokenizers raises a bare Exception on bad JSON
            raise ModelLoadError(f"tokenizer.json cannot be parsed: {exc}") from exc
        self.max_len = int(max_len)
        self._tokenizer.enable_truncation(max_length=self.max_len)
        pad_token = "[PAD]"
        pad_id = self._tokenizer.token_to_id(pad_token)
        if pad_id is None:
            pad_token, pad_id = "<pad>", self._tokenizer.token_to_id("<pad>") or 0
        self._tokenizer.enable_padding(pad_id=pad_id, pad_token=pad_token)
        names = tuple(input_names) if input_names else ("input_ids", "attention_mask")
        self.input_names: tuple[str, ...] = names

    def __call__(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """``input_ids``, ``attention_mask`` (and ``token_type_ids`` if declared) as i64 [N, T]."""
        encodings = self._tokenizer.encode_batch(list(texts))
        arrays = {
            "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
        }
        return {name: arrays[name] for name in self.input_names}


class VectorFeaturizer:
    """Texts that ARE feature vectors: each is a JSON list of ``dim`` numbers (what a router sends
    a model over signals it computed, e.g. a learned escalation policy), fed as FEATURES f32
    [N, dim]. ValueError (INVALID_ARGUMENT) names a text that is not such a list."""

    input_names: tuple[str, ...] = ("FEATURES",)

    def __init__(self, dim: int) -> None:
        if dim < 1:
            raise ModelLoadError(f"vector featurizer: dim must be >= 1, got {dim}")
        self.dim = int(dim)

    def __call__(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """FEATURES f32 [N, dim]."""
        rows = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            try:
                values = json.loads(text)
            except ValueError:
                raise ValueError(f"text {i} is not a JSON list of {self.dim} numbers") from None
            if not isinstance(values, list) or len(values) != self.dim:
                got = len(values) if isinstance(values, list) else type(values).__name__
                raise ValueError(f"text {i} must be a JSON list of {self.dim} numbers, got {got}")
            try:
                rows[i] = np.asarray(values, dtype=np.float32)
            except (TypeError, ValueError):
                raise ValueError(f"text {i} holds values that are not numbers") from None
            if not np.isfinite(rows[i]).all():
                raise ValueError(f"text {i} holds values that are not finite")
        return {"FEATURES": rows}


def make_featurizer(
    config: Mapping[str, Any], files: Mapping[str, bytes], input_names: Sequence[str] | None = None
) -> Featurizer:
    """Build the featuriser a manifest describes; ``files`` are the bundle's file bytes.

    Raises ModelLoadError for an unknown kind, a missing tokenizer file or unknown IR inputs.
    """
    kind = config.get("kind")
    if kind == "hashed":
        if input_names and tuple(input_names) != ("FEATURES",):
            raise ModelLoadError(
                f"hashed featurizer needs the IR input FEATURES, the IR has {list(input_names)}"
            )
        return HashedFeaturizer.from_config(config)
    if kind == "wordpiece":
        filename = str(config.get("tokenizer", "tokenizer.json"))
        if filename not in files:
            raise ModelLoadError(f"wordpiece featurizer: bundle has no tokenizer file {filename!r}")
        names = tuple(input_names) if input_names else ("input_ids", "attention_mask")
        unknown = set(names) - {"input_ids", "attention_mask", "token_type_ids"}
        if unknown:
            raise ModelLoadError(f"wordpiece featurizer cannot feed IR inputs {sorted(unknown)}")
        try:
            text = files[filename].decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ModelLoadError(f"{filename} is not UTF-8 text: {exc}") from exc
        return WordPieceFeaturizer(text, int(config.get("max_len", 64)), names)
    if kind == "vector":
        if input_names and tuple(input_names) != ("FEATURES",):
            raise ModelLoadError(
                f"vector featurizer needs the IR input FEATURES, the IR has {list(input_names)}"
            )
        return VectorFeaturizer(int(config.get("dim", 0)))
    raise ModelLoadError(f"unknown featurizer kind {kind!r} (expected 'hashed', 'wordpiece' or 'vector')")
