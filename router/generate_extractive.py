"""Extractive answering on a generate route (``retrieval.answer: extractive``): once passages are
retrieved, the edge LLMs are sent a plain few-shot prompt over the best-matching sentence(s) and a
span grammar instead of the chat conversation (:mod:`edgefleet.extractive`), as a raw prompt
(no chat template), greedy, ending at the newline the grammar puts after the span. The hosted
fallback keeps the route's template. The few-shot set is read once per file version.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from edgefleet.extractive import (
    ANSWER_END,
    ExtractivePlan,
    FewShot,
    FewShotError,
    load_fewshot,
    plan,
    resolve_fewshot,
)
from edgefleet.generation import ChatMessage, SamplingParams
from edgefleet.kserve_retrieval import Retrieved
from edgefleet.policy.retrieval_options import RetrievalConfig


class FewShotSource:
    """Finds and caches a route's few-shot set: the collection's latest in the registry, or a file."""

    def __init__(self, registry: Path | None, base_dir: Path | None = None) -> None:
        self.registry = registry
        self.base_dir = base_dir
        self._cache: dict[Path, tuple[float, FewShot]] = {}

    def path(self, cfg: RetrievalConfig, collection: str) -> Path | None:
        """The file `cfg` names (None: no few-shot examples). FewShotError when it cannot be found."""
        if cfg.fewshot == "none":
            return None
        if cfg.fewshot == "collection":
            if self.registry is None:
                raise FewShotError("no registry known to the router: set retrieval.fewshot to a file")
            return resolve_fewshot(self.registry, collection)
        path = Path(cfg.fewshot)
        return path if path.is_absolute() or self.base_dir is None else self.base_dir / path

    def get(self, cfg: RetrievalConfig, collection: str) -> FewShot | None:
        """The few-shot set for `cfg` (re-read when its file changes). FewShotError on problems."""
        path = self.path(cfg, collection)
        if path is None:
            return None
        try:
            mtime = path.stat().st_mtime
        except OSError as exc:
            raise FewShotError(f"{path}: {exc}") from exc
        cached = self._cache.get(path)
        if cached is not None and cached[0] == mtime:
            return cached[1]
        shots = load_fewshot(path)
        self._cache[path] = (mtime, shots)
        return shots


def extractive_request(
    cfg: RetrievalConfig,
    fewshot: FewShot | None,
    found: Retrieved,
    question: str,
    params: SamplingParams,
) -> tuple[tuple[ChatMessage, ...], SamplingParams, ExtractivePlan]:
    """The edge conversation (one raw user prompt), its sampling settings (greedy, the grammar, at
    most ``max_answer_tokens``, stopping at the newline) and the plan they came from."""
    texts = [p.text for p in found.passages]
    scores = [p.score for p in found.passages]
    chosen = plan(
        fewshot, texts, question, cfg.sentences, passage_scores=scores, passage_weight=cfg.passage_weight
    )
    edge_params = dataclasses.replace(
        params,
        max_tokens=min(params.max_tokens, cfg.max_answer_tokens),
        temperature=0.0,
        grammar=chosen.grammar,
        chat_template=False,
        stop=(ANSWER_END,),
    )
    return (ChatMessage("user", chosen.prompt),), edge_params, chosen
