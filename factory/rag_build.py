"""Build a retrieval collection into the model registry: chunk, embed, index, write.

A collection is a registry model with task ``retrieve`` (:mod:`fleet.models.collection_manifest`).
Its version is derived from everything it is built from (the documents, the recipe, the encoder's
graph and weights), so building the same documents again finds the version current and skips it
(``latest`` is re-pointed at it). Versions are written with the registry's crash-safe writer.
"""

from __future__ import annotations

import dataclasses
import io
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from factory import artifacts as art
from factory.build import GRAPH_VERSION
from factory.rag_chunking import Document, chunk_documents, unique_ids
from factory.rag_encoder import RagEncoder, calibration_sentences
from fleet.errors import ModelLoadError
from fleet.models import collection_manifest as cm
from fleet.models.manifest import Manifest, TensorSpec, check_name, load_bundle, sha256_bytes
from fleet.models.registry import write_latest, write_manifest_version
from fleet.retrieval.collection import chunks_jsonl
from fleet.retrieval.dense import build_hnsw
from fleet.retrieval.lexical import BM25Index

RAG_GENERATION = "1"
ANN_MIN_CHUNKS = 20_000  # above this, also build an HNSW graph (see README "Retrieval")
Progress = Callable[[str, int, int], None]  # (stage, done, total)


@dataclass(frozen=True)
class CollectionOptions:
    """How a collection is built (the recipe measured on SQuAD by default)."""

    chunking: cm.ChunkingSpec = field(default_factory=cm.ChunkingSpec)
    hybrid: cm.HybridSpec = field(default_factory=cm.HybridSpec)
    passage_precision: str = "INT8"  # same recall as FP32 on SQuAD, about half the embedding time
    query_precision: str = "INT8"
    ann_min_chunks: int = ANN_MIN_CHUNKS
    ann: cm.AnnSpec = field(default_factory=cm.AnnSpec)


@dataclass
class CollectionResult:
    """What a build did."""

    name: str
    version: str
    folder: Path
    chunks: int
    documents: int
    skipped: bool
    bytes_on_disk: int = 0
    index: str = "brute"
    timings: dict[str, float] = field(default_factory=dict)


def content_sha256(docs: Sequence[Document]) -> str:
    """Hash of the documents' ids, titles and paragraphs, in order."""
    return art.content_key([(d.id, d.title, list(d.paragraphs)) for d in docs])


def collection_version(docs: Sequence[Document], options: CollectionOptions, weights_sha256: str) -> str:
    """The version a build of ``docs`` gets: ``<generation>-<hash of inputs and recipe>``."""
    key = art.content_key(
        RAG_GENERATION, GRAPH_VERSION, weights_sha256, content_sha256(docs), dataclasses.asdict(options)
    )
    return f"{RAG_GENERATION}-{key[:12]}"


def output_specs(dim: int) -> tuple[list[TensorSpec], list[TensorSpec]]:
    """Manifest inputs and outputs of a retriever (see :mod:`edgefleet.kserve_retrieval`)."""
    inputs = [TensorSpec(name="TEXT", datatype="BYTES", shape=[-1])]
    outputs = [TensorSpec(name="PASSAGES", datatype="BYTES", shape=[-1, -1])]
    outputs += [
        TensorSpec(name=n, datatype="FP32", shape=[-1, -1])
        for n in ("SCORES", "DENSE_SCORES", "LEXICAL_SCORES")
    ]
    outputs.append(TensorSpec(name="EMBEDDING", datatype="FP32", shape=[-1, dim]))
    return inputs, outputs


def build_collection(
    registry: Path,
    name: str,
    docs: Sequence[Document],
    *,
    options: CollectionOptions | None = None,
    sources: Mapping[str, str] | None = None,
    progress: Progress | None = None,
    encoder: RagEncoder | None = None,
) -> CollectionResult:
    """Build collection ``name`` from ``docs`` into ``registry`` (skipped when current)."""
    check_name(name, "collection name")
    options = options or CollectionOptions()
    for precision in (options.passage_precision, options.query_precision):
        if precision not in ("FP32", "INT8"):
            raise ValueError(f"encoder precision must be FP32 or INT8, got {precision!r}")
    docs = unique_ids([d for d in docs if d.paragraphs])
    if not docs:
        raise ValueError(f"collection {name}: no text to index (every document is empty)")
    started = time.perf_counter()
    encoder = encoder or RagEncoder(options.chunking.max_wordpieces)
    version = collection_version(docs, options, encoder.weights_sha256)
    folder = Path(registry) / name / version
    if _is_current(folder):
        write_latest(registry, name, version)
        manifest = load_bundle(folder).manifest
        assert manifest.retrieval is not None
        spec = manifest.retrieval
        return CollectionResult(
            name, version, folder, spec.chunks, spec.documents, True, _size(folder), spec.index
        )
    timings: dict[str, float] = {}
    t = time.perf_counter()
    chunks = chunk_documents(docs, encoder.count_wordpieces, options.chunking)
    timings["chunk_s"] = time.perf_counter() - t
    texts = [c.text for c in chunks]
    calibration = (
        calibration_sentences(texts) if "INT8" in (options.passage_precision, options.query_precision) else []
    )
    t = time.perf_counter()
    encoder.runner(options.passage_precision, calibration)
    xml, weights = encoder.serialized(options.query_precision, calibration)
    timings["encoder_s"] = time.perf_counter() - t
    t = time.perf_counter()
    done = [0]

    def advance(n: int) -> None:
        done[0] += n
        if progress is not None:
            progress("embedding passages", done[0], len(texts))

    vectors = encoder.embed(texts, options.passage_precision, advance)
    timings["embed_s"] = time.perf_counter() - t
    t = time.perf_counter()
    bm25 = BM25Index.build(texts, k1=options.hybrid.k1, b=options.hybrid.b, stem=options.hybrid.stem)
    timings["bm25_s"] = time.perf_counter() - t
    files = {
        cm.CHUNKS_FILE: chunks_jsonl(chunks),
        cm.VECTORS_FILE: _npy(vectors),
        cm.BM25_FILE: _npz(bm25.arrays()),
        cm.ENCODER_XML: xml,
        cm.ENCODER_BIN: weights,
        cm.TOKENIZER_FILE: encoder.tokenizer_json,
    }
    index = "brute"
    if len(chunks) >= options.ann_min_chunks:
        t = time.perf_counter()
        files[cm.ANN_FILE] = _hnsw_bytes(vectors, options.ann)
        timings["ann_s"] = time.perf_counter() - t
        index = "hnsw"
    spec = cm.RetrievalSpec(
        chunks=len(chunks),
        documents=len({c.doc for c in chunks}),
        chunking=options.chunking,
        encoder=cm.EncoderSpec(
            graph=GRAPH_VERSION,
            weights_sha256=encoder.weights_sha256,
            passage_precision=options.passage_precision,
            query_precision=options.query_precision,
            passage_max_len=encoder.max_len,
            query_max_len=encoder.max_len,
            dim=int(vectors.shape[1]),
        ),
        hybrid=options.hybrid,
        index=index,
        ann=options.ann if index == "hnsw" else None,
        sources=dict(sources or {}),
    )
    timings["total_s"] = time.perf_counter() - started
    inputs, outputs = output_specs(spec.encoder.dim)
    manifest = Manifest(
        name=name,
        version=version,
        task="retrieve",
        labels=[],
        precision=options.query_precision,
        featurizer={"kind": "wordpiece", "tokenizer": cm.TOKENIZER_FILE, "max_len": encoder.max_len},
        inputs=inputs,
        outputs=outputs,
        files={n: sha256_bytes(data) for n, data in files.items()},
        data_sha256=content_sha256(docs),
        metrics={k: round(v, 3) for k, v in timings.items()},
        created_unix=time.time(),
        retrieval=spec,
    )
    folder = write_manifest_version(registry, manifest, files)
    return CollectionResult(
        name, version, folder, spec.chunks, spec.documents, False, _size(folder), index, timings
    )


def _is_current(folder: Path) -> bool:
    if not folder.is_dir():
        return False
    try:
        return load_bundle(folder).manifest.task == "retrieve"
    except ModelLoadError:
        return False


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in Path(folder).resolve().iterdir() if p.is_file())


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def _npz(arrays: Mapping[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # type: ignore[arg-type]
    return buffer.getvalue()


def _hnsw_bytes(vectors: np.ndarray, ann: cm.AnnSpec) -> bytes:
    import tempfile

    with tempfile.TemporaryDirectory(prefix="edgefleet-ann-") as tmp:
        path = Path(tmp) / cm.ANN_FILE
        build_hnsw(vectors, path, connectivity=ann.connectivity, expansion_add=ann.expansion_add)
        return path.read_bytes()
