"""A retrieval collection loaded on a replica's node: the folder looked up and verified like an
LLM's, the query encoder compiled with :class:`fleet.serving.runtime.TextModel`, the collection
opened for hybrid search (:class:`fleet.retrieval.collection.Collection`).

:meth:`RetrieverModel.retrieve` embeds a batch of queries and searches each; it is thread-safe
(the encoder has its own request pool, the search only reads).

Loading a retriever limits numpy's BLAS to one thread in this process: the search is one
matrix-vector product per query, and BLAS threads spinning next to OpenVINO's made it 20x slower on
a busy 2-core node (p50 11.8 ms instead of 0.55 ms at 2,464 chunks).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fleet.errors import ModelLoadError
from fleet.models import collection_manifest as cm
from fleet.models.llm_manifest import verify_folder
from fleet.models.manifest import Manifest, ModelBundle, TensorSpec
from fleet.retrieval.collection import Chunk, Collection
from fleet.retrieval.hybrid import Hit
from fleet.serving.llm_model import model_folder
from fleet.serving.runtime import TextModel


@dataclass(frozen=True)
class QueryResult:
    """The hits of one query (best first) with their chunks, and the query's unit embedding."""

    hits: list[tuple[Hit, Chunk]]
    embedding: np.ndarray


class RetrieverModel:
    """A collection plus its query encoder; build with :func:`load_retriever`."""

    def __init__(
        self, manifest: Manifest, encoder: TextModel, collection: Collection, folder: Path, load_s: float
    ) -> None:
        self.manifest = manifest
        self.encoder = encoder
        self.collection = collection
        self.folder = folder
        self.load_s = load_s
        self.device = encoder.device
        self.fallback_reason = encoder.fallback_reason
        self.inference_precision = encoder.inference_precision
        notes = [n for n in (encoder.precision_note, collection.note) if n]
        self.precision_note = "; ".join(notes)

    @property
    def spec(self) -> cm.RetrievalSpec:
        """The manifest's retrieval section."""
        assert self.manifest.retrieval is not None
        return self.manifest.retrieval

    def retrieve(self, queries: Sequence[str], k: int) -> list[QueryResult]:
        """The ``k`` best chunks of each query. ValueError on bad input (see TextModel.embed)."""
        vectors = self.encoder.embed(queries)
        chunks = self.collection.chunks
        out: list[QueryResult] = []
        for query, vector in zip(queries, vectors, strict=True):
            hits = self.collection.search(vector, query, k)
            out.append(QueryResult([(h, chunks[h.chunk]) for h in hits], vector))
        return out


def single_threaded_blas() -> None:
    """Limit numpy's BLAS to one thread for the rest of the process (see the module docstring)."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")


def encoder_bundle(manifest: Manifest, folder: Path) -> ModelBundle:
    """The collection's query encoder as an in-memory embed model bundle (files read from ``folder``)."""
    spec = manifest.retrieval
    assert spec is not None
    names = (cm.ENCODER_XML, cm.ENCODER_BIN, cm.TOKENIZER_FILE)
    files = {n: (folder / n).read_bytes() for n in names}
    encoder = Manifest(
        name=manifest.name,
        version=manifest.version,
        task="embed",
        labels=[],
        precision=spec.encoder.query_precision,
        featurizer={
            "kind": "wordpiece",
            "tokenizer": cm.TOKENIZER_FILE,
            "max_len": spec.encoder.query_max_len,
        },
        inputs=[
            TensorSpec(name=n, datatype="INT64", shape=[-1, -1]) for n in ("input_ids", "attention_mask")
        ],
        outputs=[TensorSpec(name="EMBEDDING", datatype="FP32", shape=[-1, spec.encoder.dim])],
        files={n: manifest.files[n] for n in names},
        created_unix=manifest.created_unix,
    )
    return ModelBundle(manifest=encoder, files=files)


def load_retriever(
    bundle: ModelBundle, device_prefs: Sequence[str] = ("CPU",), *, precision: str = "auto"
) -> RetrieverModel:
    """Verify the collection folder on this node and load it. Raises ModelLoadError."""
    manifest = bundle.manifest
    where = f"collection {manifest.name}:{manifest.version}"
    if manifest.task != cm.RETRIEVE_TASK or manifest.retrieval is None:
        raise ModelLoadError(f"{where} is not a retrieval collection (task {manifest.task!r})")
    started = time.perf_counter()
    single_threaded_blas()
    folder = model_folder(bundle)
    verify_folder(folder, manifest.files, manifest.required_files(), where=where)
    encoder = TextModel.load(encoder_bundle(manifest, folder), device_prefs, precision=precision)
    collection = Collection.open(folder, manifest.name, manifest.version, manifest.retrieval)
    return RetrieverModel(manifest, encoder, collection, folder, time.perf_counter() - started)
