"""The ``squad-dev`` collection (SQuAD v1.1 dev's 2,067 paragraphs, one document each) and the
recall of a retriever on its questions: a hit at k when one of the top-k passages comes from the
question's gold paragraph (tune and report halves split by article, :mod:`factory.squad`)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from edgefleet.stats import percentiles
from factory.data import DATA_FILES
from factory.rag_build import CollectionOptions, CollectionResult, Progress, build_collection
from factory.rag_chunking import Document
from factory.squad import DEV_FILE, Question, SquadDev, load_squad_dev

SQUAD_COLLECTION = "squad-dev"
RetrieveFn = Callable[[Sequence[str], int], list[list[str]]]  # queries, k -> doc ids per query


def squad_documents(dev: SquadDev) -> list[Document]:
    """One document per paragraph: id ``<article>-<paragraph>`` (the gold id of its questions),
    the article's title."""
    return [Document(p.pid, p.title, (p.text,)) for p in dev.paragraphs]


def build_squad_collection(
    registry: Path, *, options: CollectionOptions | None = None, progress: Progress | None = None
) -> CollectionResult:
    """Build (or find current) ``squad-dev`` in ``registry``."""
    dev = load_squad_dev()
    sha = DATA_FILES[DEV_FILE].sha256
    return build_collection(
        registry,
        SQUAD_COLLECTION,
        squad_documents(dev),
        options=options,
        sources={DEV_FILE: sha},
        progress=progress,
    )


@dataclass
class RecallReport:
    """Recall at each k and per-query latency of one retriever on one split."""

    split: str
    questions: int
    recall: dict[int, float] = field(default_factory=dict)
    latency_ms_p50: float = 0.0
    latency_ms_p95: float = 0.0

    def line(self) -> str:
        """One line: ``tune: 5696 questions, recall@1 0.787 @5 0.952, p50 3.1 ms p95 6.0 ms``."""
        recalls = " ".join(f"@{k} {v:.3f}" for k, v in sorted(self.recall.items()))
        return (
            f"{self.split}: {self.questions} questions, recall {recalls}, per query p50 "
            f"{self.latency_ms_p50:.2f} ms p95 {self.latency_ms_p95:.2f} ms"
        )


def recall_report(
    retrieve: RetrieveFn,
    questions: Sequence[Question],
    split: str,
    ks: Sequence[int] = (1, 5),
    batch: int = 1,
) -> RecallReport:
    """Ask ``retrieve`` every question (``batch`` at a time, timed per call) and count gold hits."""
    k_max = max(ks)
    hits = dict.fromkeys(ks, 0)
    per_query_ms: list[float] = []
    for start in range(0, len(questions), batch):
        group = questions[start : start + batch]
        t = time.perf_counter()
        found = retrieve([q.text for q in group], k_max)
        per_query_ms.append((time.perf_counter() - t) * 1000.0 / len(group))
        for question, docs in zip(group, found, strict=True):
            for k in ks:
                hits[k] += question.pid in docs[:k]
    p50, p95 = percentiles(per_query_ms, (50, 95)) if per_query_ms else (0.0, 0.0)
    n = max(len(questions), 1)
    return RecallReport(split, len(questions), {k: hits[k] / n for k in ks}, p50, p95)
