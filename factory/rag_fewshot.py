"""Few-shot examples for extractive answering (:mod:`edgefleet.extractive`), chosen from SQuAD's
TUNE split only, and stored versioned in the registry beside the collection they serve:
``REGISTRY/<collection>/fewshot/<version>.json`` with a ``latest`` file naming the current one
(the registry lists only folders with a manifest, so the sidecar folder is not taken for a model
version).

Per question type: the first ``per_type`` questions (in a fixed shuffle of the split) whose answer
is short (at most 4 words; 8 for why/how questions) and lies in the paragraph's sentence that
shares most words with the question, that sentence being at most 300 characters. The example's
passage is that sentence: what the router will show the edge model for a real question.
"""

from __future__ import annotations

import os
import random
from collections.abc import Sequence
from pathlib import Path

from edgefleet.extractive import (
    LATEST,
    Example,
    FewShot,
    fewshot_dir,
    load_fewshot,
    resolve_fewshot,
    select_context,
)
from edgefleet.qa_text import QUESTION_TYPES, question_type
from factory.squad import Question, Split, SquadDev, load_squad_dev

DEFAULT_PER_TYPE = 16
SEED = 123
MAX_PASSAGE_CHARS = 300


def choose_examples(
    dev: SquadDev, questions: Sequence[Question], per_type: int = DEFAULT_PER_TYPE, seed: int = SEED
) -> dict[str, tuple[Example, ...]]:
    """The examples per question type (see the module docstring)."""
    order = list(questions)
    random.Random(seed).shuffle(order)
    pools: dict[str, list[Example]] = {t: [] for t in QUESTION_TYPES}
    for q in order:
        qtype = question_type(q.text)
        if len(pools[qtype]) >= per_type:
            continue
        answer = q.answers[0]
        if len(answer.split()) > (8 if qtype in ("reason", "manner") else 4):
            continue
        passage, _ = select_context([dev.paragraph(q.pid).text], q.text, 1)
        if answer not in passage or len(passage) > MAX_PASSAGE_CHARS:
            continue
        pools[qtype].append(Example(passage, q.text, answer, q.qid))
    return {t: tuple(v) for t, v in pools.items()}


def build_fewshot(
    split: Split = "tune", per_type: int = DEFAULT_PER_TYPE, dev: SquadDev | None = None
) -> FewShot:
    """The few-shot set from `split` (only ``tune`` should be used: the report split is for
    measuring)."""
    dev = dev or load_squad_dev()
    examples = choose_examples(dev, dev.split(split), per_type)
    return FewShot(
        examples, split=split, source=f"SQuAD v1.1 dev, {split} split, {per_type} per question type"
    )


def save_fewshot(registry: Path, collection: str, fewshot: FewShot) -> Path:
    """Write `fewshot` as a new version (skipped when the same content exists) and point
    ``latest`` at it; returns the file. Crash-safe (temporary file, then rename)."""
    folder = fewshot_dir(registry, collection)
    folder.mkdir(parents=True, exist_ok=True)
    version = fewshot.version()
    path = folder / f"{version}.json"
    if not path.is_file():
        tmp = folder / f".{version}.json.tmp"
        tmp.write_text(fewshot.to_json(), encoding="utf-8")
        os.replace(tmp, path)
    latest_tmp = folder / f".{LATEST}.tmp"
    latest_tmp.write_text(version + "\n", encoding="utf-8")
    os.replace(latest_tmp, folder / LATEST)
    return path


def read_fewshot(registry: Path, collection: str, version: str = LATEST) -> FewShot:
    """The few-shot set of a collection."""
    return load_fewshot(resolve_fewshot(registry, collection, version))
