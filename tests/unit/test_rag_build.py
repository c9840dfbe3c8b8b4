"""Building a collection on a tiny corpus: the version folder and its manifest, idempotence, a new
version for new documents, and searching it in process."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from factory.rag_build import CollectionOptions, build_collection, collection_version
from factory.rag_chunking import Document
from fleet.errors import ModelLoadError
from fleet.models import collection_manifest as cm
from fleet.models.manifest import load_bundle
from fleet.serving.retriever import load_retriever
from tests.fixtures.collections import TINY_DOCS, TinyCollection, tiny_documents


def test_the_version_folder_holds_everything_a_retriever_needs(tiny_collection: TinyCollection) -> None:
    bundle = load_bundle(tiny_collection.folder)
    manifest = bundle.manifest
    spec = manifest.retrieval
    assert bundle.folder and not bundle.files  # stays on disk
    assert manifest.task == "retrieve" and spec is not None and manifest.precision == "FP32"
    assert (spec.chunks, spec.documents, spec.index) == (len(TINY_DOCS), len(TINY_DOCS), "brute")
    assert spec.encoder.passage_max_len == 256 and spec.hybrid.bm25_weight == pytest.approx(0.45)
    assert set(manifest.files) == set(spec.required_files())
    assert [o.name for o in manifest.outputs] == [
        "PASSAGES",
        "SCORES",
        "DENSE_SCORES",
        "LEXICAL_SCORES",
        "EMBEDDING",
    ]
    vectors = np.load(tiny_collection.folder / cm.VECTORS_FILE)
    assert vectors.shape == (len(TINY_DOCS), 384)
    assert np.linalg.norm(vectors, axis=1) == pytest.approx(np.ones(len(TINY_DOCS)), abs=1e-5)
    first = json.loads((tiny_collection.folder / cm.CHUNKS_FILE).read_text(encoding="utf-8").splitlines()[0])
    assert first == {"doc": "eiffel", "chunk": 0, "title": "Eiffel Tower", "text": TINY_DOCS["eiffel"][1]}
    assert (tiny_collection.registry / "tiny" / "latest").read_text().strip() == tiny_collection.version


def test_building_the_same_documents_again_is_skipped(tiny_collection: TinyCollection) -> None:
    again = build_collection(
        tiny_collection.registry,
        "tiny",
        tiny_documents(),
        options=CollectionOptions(passage_precision="FP32", query_precision="FP32"),
    )
    assert again.skipped and again.version == tiny_collection.version and again.chunks == len(TINY_DOCS)


def test_the_version_follows_the_documents_and_the_recipe() -> None:
    docs = tiny_documents()
    base = collection_version(docs, CollectionOptions(), "w")
    assert collection_version(docs, CollectionOptions(), "w") == base
    assert collection_version(docs[:-1], CollectionOptions(), "w") != base
    assert (
        collection_version(docs, CollectionOptions(passage_precision="FP32", query_precision="FP32"), "w")
        != base
    )
    assert collection_version(docs, CollectionOptions(), "other weights") != base


def test_the_retriever_finds_each_document_by_a_question(tiny_collection: TinyCollection) -> None:
    model = load_retriever(load_bundle(tiny_collection.folder), precision="f32")
    questions = {
        "When was the Eiffel Tower finished?": "eiffel",
        "who invented the piano": "piano",
        "what do bees store honey in": "bees",
        "tallest mountain in the world": "everest",
    }
    results = model.retrieve(list(questions), 3)
    for (question, doc), result in zip(questions.items(), results, strict=True):
        hit, chunk = result.hits[0]
        assert chunk.doc == doc, question
        assert hit.score == pytest.approx(hit.dense + 0.45 * hit.lexical, abs=1e-5)
        assert [h.score for h, _ in result.hits] == sorted((h.score for h, _ in result.hits), reverse=True)
        assert np.linalg.norm(result.embedding) == pytest.approx(1.0, abs=1e-5)


def test_a_corrupt_collection_is_refused_naming_the_file(
    tiny_collection: TinyCollection, tmp_path: Path
) -> None:
    copy = tmp_path / "tiny" / tiny_collection.version
    shutil.copytree(tiny_collection.folder.resolve(), copy)
    with (copy / cm.VECTORS_FILE).open("r+b") as fh:
        fh.seek(200)
        fh.write(b"\x00\x01\x02")
    with pytest.raises(ModelLoadError, match=r"vectors\.npy"):
        load_bundle(copy)


def test_empty_documents_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no text to index"):
        build_collection(tmp_path, "empty", [Document("d", "", ())])


@pytest.mark.parametrize("name", ["../escape", "a/b", "..", "/etc", ".hidden", "x" * 200, "[link=x]a[/]"])
def test_collection_names_cannot_leave_the_registry(tmp_path: Path, name: str) -> None:
    """A collection's name becomes a registry folder: refused before anything is built or written."""
    with pytest.raises(ModelLoadError, match=r"collection name .* is not allowed"):
        build_collection(tmp_path / "reg", name, tiny_documents())
    assert not (tmp_path / "reg").exists() or not any((tmp_path / "reg").iterdir())
