"""The retrieval step of a generate route with ``retrieval``: before any model is asked, the last
user message goes to a replica of the route's retriever deployment (picked by power of two choices
like any edge target, with the route's ``timeout_ms`` within the request's deadline), and the
passages it returns are put into the prompt (:mod:`edgefleet.rag_prompt`).

The step is one entry of the route trace: ``retrieve:<deployment>`` with outcome ``ok`` (passages
used, collection, top score), ``error``/``timeout`` or ``skip`` (no ready replica, wrong task, no
time). A failed retrieval never fails the request: the route then generates from the conversation
as it came. The passages used become the answer's citations.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from edgefleet.extractive import FewShotError
from edgefleet.kserve_retrieval import Passage, Retrieved
from edgefleet.policy.retrieval_options import RetrievalConfig
from edgefleet.policy.schema import Policy
from edgefleet.rag_prompt import augment_messages, last_user_text
from router.choose import Candidate
from router.domain import Citation, EdgeRetriever, Outcome, Step
from router.errors import TargetError
from router.generate_extractive import FewShotSource, extractive_request
from router.generate_run import GenerateRun
from router.targets import FleetIndex, TargetCaller, replica_version


def citations(passages: list[Passage], retrieved: Retrieved, deployment: str) -> tuple[Citation, ...]:
    """The citations of the passages put into the prompt, numbered as in the prompt."""
    collection = retrieved.collection or deployment
    return tuple(
        Citation(n, collection, retrieved.version, p.doc, p.chunk, p.title, p.score)
        for n, p in enumerate(passages, start=1)
    )


class RetrievalStep:
    """Runs the retrieval step of generations (see the module docstring)."""

    def __init__(
        self,
        targets: TargetCaller,
        retriever: EdgeRetriever | None,
        clock: Callable[[], float] = time.perf_counter,
        fewshot: FewShotSource | None = None,
    ) -> None:
        self.targets = targets
        self.retriever = retriever
        self.fewshot = fewshot or FewShotSource(None)
        self._clock = clock

    async def run(self, run: GenerateRun, policy: Policy, index: FleetIndex) -> None:
        """Retrieve for ``run`` and put the passages into its messages (a no-op without retrieval)."""
        cfg = run.route.retrieval
        if cfg is None:
            return
        target = f"retrieve:{cfg.deployment}"
        query = last_user_text(run.req.messages)
        problem = self._problem(run, cfg, query)
        est = None
        if problem is None:
            est = self.targets.estimate(
                Candidate(cfg.deployment, "edge"), index, policy, "retrieve", query, ()
            )
            problem = est.unavailable
        if problem is None and est is not None and est.choice[0].task not in ("", "retrieve"):
            problem = f"deployment {cfg.deployment!r} serves task {est.choice[0].task!r}, not 'retrieve'"
        if problem is not None or est is None:
            run.steps.append(Step(target, "skip", f"{problem}; generating without passages", 0.0))
            return
        dep, replica = est.choice
        timeout_s = min(cfg.timeout_ms / 1000.0, run.remaining_ms() / 1000.0)
        estimates = self.targets.estimates
        key = replica.replica_id
        started = self._clock()
        estimates.begin(key)
        try:
            assert self.retriever is not None
            found = await self.retriever.retrieve(
                replica.address, dep.model, replica_version(dep, replica), [query], cfg.top_k, timeout_s
            )
            if len(found) != 1:
                raise TargetError(f"{dep.name} answered {len(found)} results for 1 query")
        except TargetError as exc:
            ms = (self._clock() - started) * 1000.0
            estimates.end(key, ms, False)
            outcome: Outcome = "timeout" if exc.timeout else "error"
            run.steps.append(Step(target, outcome, f"{exc}; generating without passages", ms))
            return
        except BaseException:  # cancelled: the caller went away
            estimates.abandon(key)
            raise
        ms = (self._clock() - started) * 1000.0
        estimates.end(key, ms, True)
        run.charge(dep.price_per_call_usd)
        self._apply(run, cfg, found[0], target, ms, dep.model)

    def _problem(self, run: GenerateRun, cfg: RetrievalConfig, query: str) -> str | None:
        if self.retriever is None:
            return "no retrieval client configured"
        if not query.strip():
            return "no user message to retrieve for"
        if run.remaining_ms() <= 0:
            return "no time left"
        return None

    def _apply(
        self, run: GenerateRun, cfg: RetrievalConfig, found: Retrieved, target: str, ms: float, model: str
    ) -> None:
        run.retrieved = found
        messages, used = augment_messages(run.req.messages, found.passages, cfg)
        if not used:
            run.steps.append(Step(target, "ok", "no passages found; generating without passages", ms))
            return
        run.edge_messages = messages
        if cfg.send_to_hosted:
            run.hosted_messages = messages
        run.citations = citations(used, found, cfg.deployment)
        top = used[0]
        where = f"{found.collection}:{found.version}" if found.collection else cfg.deployment
        reason = (
            f"{len(used)} passages from {where}, top score {top.score:.3f} "
            f"(dense {top.dense:.3f}, lexical {top.lexical:.3f}): {top.doc}#{top.chunk}"
        )
        if cfg.answer == "extractive":
            reason += self._extractive(run, cfg, found, model)
        run.steps.append(Step(target, "ok", reason, ms))

    def _extractive(self, run: GenerateRun, cfg: RetrievalConfig, found: Retrieved, model: str) -> str:
        """Switch the edge request to extractive answering; the trace note saying how."""
        collection = found.collection or model
        try:
            shots = self.fewshot.get(cfg, collection)
        except FewShotError as exc:
            return f"; extractive answering off ({exc})"
        question = last_user_text(run.req.messages)
        messages, params, chosen = extractive_request(cfg, shots, found, question, run.params)
        run.edge_messages, run.edge_params, run.extractive = messages, params, chosen
        n_shots = len(shots.for_question(question)) if shots is not None else 0
        return (
            f"; extractive: {chosen.question_type} question, sentence from [{chosen.passage + 1}] "
            f"(overlap {chosen.overlap:.2f}), {n_shots} examples"
        )
