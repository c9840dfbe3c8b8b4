"""Opening a collection folder: chunk records, agreement of chunks, vectors and BM25 with the
manifest, and the fallback to exact search when the HNSW graph cannot be used."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
import pytest

from fleet.errors import ModelLoadError
from fleet.models import collection_manifest as cm
from fleet.models.manifest import load_bundle
from fleet.retrieval.collection import Chunk, Collection, chunks_jsonl, read_chunks_jsonl
from fleet.retrieval.dense import BruteForceIndex
from tests.fixtures.collections import TINY_DOCS, TinyCollection


def _copy(tiny: TinyCollection, tmp_path: Path) -> tuple[Path, cm.RetrievalSpec]:
    folder = tmp_path / "copy"
    shutil.copytree(tiny.folder.resolve(), folder)
    spec = load_bundle(tiny.folder).manifest.retrieval
    assert spec is not None
    return folder, spec


def test_chunk_records_round_trip_and_bad_lines_are_named() -> None:
    chunks = [Chunk("d", 0, "T", "ü text"), Chunk("e", 2, "", "x")]
    assert read_chunks_jsonl(chunks_jsonl(chunks)) == chunks
    with pytest.raises(ModelLoadError, match="line 2: not a chunk record"):
        read_chunks_jsonl(b'{"doc": "d", "chunk": 0, "text": "x"}\n{"doc": "e"}\n')


def test_open_and_search(tiny_collection: TinyCollection) -> None:
    spec = load_bundle(tiny_collection.folder).manifest.retrieval
    assert spec is not None
    collection = Collection.open(tiny_collection.folder, "tiny", tiny_collection.version, spec)
    assert isinstance(collection.dense, BruteForceIndex) and collection.note == ""
    assert collection.documents == len(TINY_DOCS)
    hits = collection.search(collection.vectors[3], "Amazon river water", 2)
    assert collection.chunks[hits[0].chunk].doc == "amazon"
    dense_only = collection.search(collection.vectors[3], "Amazon river water", 2, weight=0.0)
    assert dense_only[0].lexical == 0.0


def test_vectors_that_disagree_with_the_manifest_are_refused(
    tiny_collection: TinyCollection, tmp_path: Path
) -> None:
    folder, spec = _copy(tiny_collection, tmp_path)
    buffer = io.BytesIO()
    np.save(buffer, np.zeros((3, 384), dtype=np.float32))
    (folder / cm.VECTORS_FILE).write_bytes(buffer.getvalue())
    with pytest.raises(ModelLoadError, match=r"vectors\.npy is float32 \[3, 384\]"):
        Collection.open(folder, "tiny", "v", spec)


def test_an_unusable_hnsw_graph_falls_back_to_exact_search(
    tiny_collection: TinyCollection, tmp_path: Path
) -> None:
    folder, spec = _copy(tiny_collection, tmp_path)
    (folder / cm.ANN_FILE).write_bytes(b"not a graph")
    hnsw = spec.model_copy(update={"index": "hnsw", "ann": cm.AnnSpec()})
    collection = Collection.open(folder, "tiny", "v", hnsw)
    assert isinstance(collection.dense, BruteForceIndex)
    assert "exact search" in collection.note
