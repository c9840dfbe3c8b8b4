"""The retrieval part of a manifest (task ``retrieve``): a versioned collection of passages.

A collection version folder holds, next to ``manifest.yaml``: the chunks (``chunks.jsonl``: one
``{"doc", "chunk", "title", "text"}`` object per line, in row order), their MiniLM vectors
(``vectors.npy``, float32 ``[chunks, 384]``, unit length), the BM25 postings (``bm25.npz``, see
:class:`fleet.retrieval.lexical.BM25Index`), optionally an HNSW graph (``ann.usearch``, large
collections only), and the query encoder that must embed queries for these vectors (``model.xml``,
``model.bin``, ``tokenizer.json``), so a retriever needs nothing but the folder. The manifest's
:class:`RetrievalSpec` records how it was built. Like an LLM, a collection stays on disk: replicas
read the folder on their node after :func:`fleet.models.llm_manifest.verify_folder`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

RETRIEVE_TASK = "retrieve"
CHUNKS_FILE = "chunks.jsonl"
VECTORS_FILE = "vectors.npy"
BM25_FILE = "bm25.npz"
ANN_FILE = "ann.usearch"
ENCODER_XML = "model.xml"
ENCODER_BIN = "model.bin"
TOKENIZER_FILE = "tokenizer.json"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ChunkingSpec(_Section):
    """How documents were cut into chunks."""

    max_wordpieces: int = Field(256, ge=8, description="a paragraph up to this many wordpieces is one chunk")
    window_words: int = Field(128, ge=8, description="longer paragraphs: windows of this many words")
    stride_words: int = Field(
        64, ge=1, description="... starting every this many words (last one aligned to the end)"
    )
    merge_under_words: int = Field(
        0, ge=0, description="paragraphs shorter than this are joined to the next one of the document"
    )


class EncoderSpec(_Section):
    """The sentence encoder that embedded the passages (and embeds queries)."""

    name: str = "all-MiniLM-L6-v2"
    graph: str = Field(description="version of the OpenVINO graph builder (factory.build.GRAPH_VERSION)")
    weights_sha256: str = Field(description="sha256 of the source model.safetensors")
    passage_precision: Literal["FP32", "INT8"] = "FP32"
    query_precision: Literal["FP32", "INT8"] = "FP32"
    passage_max_len: int = Field(256, ge=8, le=512)
    query_max_len: int = Field(256, ge=8, le=512)
    dim: int = Field(384, ge=1)


class HybridSpec(_Section):
    """The hybrid score: cosine + bm25_weight * BM25 / max BM25 of the query."""

    bm25_weight: float = Field(0.45, ge=0)
    k1: float = Field(0.9, gt=0)
    b: float = Field(0.9, ge=0, le=1)
    stem: bool = True


class AnnSpec(_Section):
    """The HNSW graph of a large collection (usearch, inner product)."""

    library: str = "usearch"
    connectivity: int = Field(16, ge=2)
    expansion_add: int = Field(128, ge=1)
    expansion_search: int = Field(128, ge=1)


class RetrievalSpec(_Section):
    """What serving a collection needs beyond the common manifest fields."""

    chunks: int = Field(ge=1, description="rows of chunks.jsonl and vectors.npy")
    documents: int = Field(ge=1)
    chunking: ChunkingSpec = Field(default_factory=ChunkingSpec)
    encoder: EncoderSpec
    hybrid: HybridSpec = Field(default_factory=HybridSpec)
    index: Literal["brute", "hnsw"] = "brute"
    ann: AnnSpec | None = None
    sources: dict[str, str] = Field(default_factory=dict, description="source file -> sha256")

    def required_files(self) -> list[str]:
        """The files every collection version folder must hold."""
        files = [CHUNKS_FILE, VECTORS_FILE, BM25_FILE, ENCODER_XML, ENCODER_BIN, TOKENIZER_FILE]
        return files + ([ANN_FILE] if self.index == "hnsw" else [])
