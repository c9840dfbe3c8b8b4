"""A collection read from its version folder, ready to search (see
:mod:`fleet.models.collection_manifest` for the files), and the chunk records' on-disk format.

:meth:`Collection.open` checks that the chunks, vectors and BM25 postings agree with each other and
with the manifest, and opens the HNSW graph when the collection has one (falling back to exact
search, with the reason in :attr:`Collection.note`, when usearch is missing or the graph is
unusable). Problems are :class:`fleet.errors.ModelLoadError` naming the file.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from fleet.errors import ModelLoadError
from fleet.models.collection_manifest import ANN_FILE, BM25_FILE, CHUNKS_FILE, VECTORS_FILE, RetrievalSpec
from fleet.retrieval.dense import BruteForceIndex, DenseIndex, HnswIndex
from fleet.retrieval.hybrid import Hit, hybrid_search
from fleet.retrieval.lexical import BM25Index


@dataclass(frozen=True)
class Chunk:
    """One passage: its document id, its index within the document, the title and the text."""

    doc: str
    chunk: int
    title: str
    text: str


def chunks_jsonl(chunks: Iterable[Chunk]) -> bytes:
    """The ``chunks.jsonl`` bytes of ``chunks`` (one JSON object per line)."""
    return "".join(json.dumps(asdict(c), ensure_ascii=False) + "\n" for c in chunks).encode("utf-8")


def read_chunks_jsonl(data: bytes, *, source: str = CHUNKS_FILE) -> list[Chunk]:
    """Parse ``chunks.jsonl``; ModelLoadError naming the line on a bad record."""
    out: list[Chunk] = []
    for number, line in enumerate(data.decode("utf-8").splitlines(), start=1):
        try:
            raw = json.loads(line)
            out.append(Chunk(str(raw["doc"]), int(raw["chunk"]), str(raw.get("title", "")), str(raw["text"])))
        except (ValueError, KeyError, TypeError) as exc:
            raise ModelLoadError(f"{source} line {number}: not a chunk record ({exc})") from exc
    return out


class Collection:
    """Chunks, vectors, BM25 and the dense index of one collection version."""

    def __init__(
        self,
        name: str,
        version: str,
        spec: RetrievalSpec,
        chunks: Sequence[Chunk],
        vectors: np.ndarray,
        bm25: BM25Index,
        dense: DenseIndex,
        note: str = "",
    ) -> None:
        self.name, self.version, self.spec = name, version, spec
        self.chunks = list(chunks)
        self.vectors = vectors
        self.bm25 = bm25
        self.dense = dense
        self.note = note

    @classmethod
    def open(cls, folder: Path, name: str, version: str, spec: RetrievalSpec) -> Collection:
        """Read a verified collection folder (see the module docstring)."""
        folder = Path(folder)
        where = f"collection {name}:{version}"
        chunks = read_chunks_jsonl((folder / CHUNKS_FILE).read_bytes(), source=f"{where}: {CHUNKS_FILE}")
        try:
            vectors = np.load(folder / VECTORS_FILE, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"{where}: {VECTORS_FILE} cannot be read: {exc}") from exc
        expected = (spec.chunks, spec.encoder.dim)
        if vectors.dtype != np.float32 or vectors.shape != expected or len(chunks) != spec.chunks:
            raise ModelLoadError(
                f"{where}: {VECTORS_FILE} is {vectors.dtype} {list(vectors.shape)} and {CHUNKS_FILE} has "
                f"{len(chunks)} chunks; the manifest says float32 {list(expected)}"
            )
        hybrid = spec.hybrid
        try:
            with np.load(folder / BM25_FILE, allow_pickle=False) as arrays:
                bm25 = BM25Index.from_arrays(dict(arrays), k1=hybrid.k1, b=hybrid.b, stem=hybrid.stem)
        except (OSError, ValueError, KeyError) as exc:
            raise ModelLoadError(f"{where}: {BM25_FILE} cannot be read: {exc}") from exc
        if bm25.size != spec.chunks:
            raise ModelLoadError(
                f"{where}: {BM25_FILE} indexes {bm25.size} chunks, the manifest {spec.chunks}"
            )
        dense: DenseIndex = BruteForceIndex(vectors)
        note = ""
        if spec.index == "hnsw":
            expansion = spec.ann.expansion_search if spec.ann is not None else 128
            try:
                dense = HnswIndex.open(folder / ANN_FILE, vectors, expansion)
            except ImportError:
                note = "usearch is not installed: exact search instead of the HNSW index (slower)"
            except (OSError, ValueError, RuntimeError) as exc:
                note = f"{ANN_FILE} unusable ({exc}): exact search instead (slower)"
        return cls(name, version, spec, chunks, vectors, bm25, dense, note)

    @property
    def documents(self) -> int:
        """Distinct documents."""
        return len({c.doc for c in self.chunks})

    def search(
        self, query_vector: np.ndarray, query_text: str, k: int, *, weight: float | None = None
    ) -> list[Hit]:
        """The ``k`` best chunks, hybrid (``weight``: the BM25 weight, default the manifest's)."""
        w = self.spec.hybrid.bm25_weight if weight is None else weight
        return hybrid_search(self.dense, self.vectors, self.bm25, query_vector, query_text, k, weight=w)
