"""The learned escalation policy step of a generate route (``escalation_policy``): after retrieval
and before any edge model is asked, the signals available so far (:func:`edgefleet.
escalation_features.features`: the query embedding and retrieval scores from the retriever, the
best sentence's overlap) go to the policy deployment, a classify model over that vector. When its
probability of a good edge answer is under the route's ``threshold``, the request skips the edge
candidates (escalation reason ``policy``) and goes straight to the hosted fallback.

The step is one entry of the route trace (``policy:<deployment> ok p(good) 0.31 < 0.42: hosted``).
A policy that fails, times out or has no ready replica never fails the request: the route then
walks its candidates as usual (``error``/``timeout``/``skip`` in the trace). Without retrieval
there are no features, and the step is skipped.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from edgefleet.escalation_features import RetrievalView, encode_vector, features, sentence_view
from edgefleet.policy.escalation_options import EscalationPolicyConfig
from edgefleet.policy.schema import Policy
from edgefleet.rag_prompt import last_user_text
from router.choose import Candidate
from router.domain import Step
from router.errors import TargetError
from router.generate_run import GenerateRun
from router.targets import FleetIndex, TargetCaller

POLICY = "policy"  # escalation reason: the learned policy sent the request to the hosted model


def run_features(run: GenerateRun) -> list[float] | None:
    """The policy's input for this request (None without retrieval)."""
    found = run.retrieved
    if found is None:
        return None
    view = RetrievalView(
        scores=[p.score for p in found.passages],
        dense=[p.dense for p in found.passages],
        lexical=[p.lexical for p in found.passages],
        embedding=found.embedding,
    )
    return features(view, last_user_text(run.req.messages), sentence_view(run.extractive))


class PolicyStep:
    """Asks a route's escalation policy about a request (see the module docstring)."""

    def __init__(self, targets: TargetCaller, clock: Callable[[], float] = time.perf_counter) -> None:
        self.targets = targets
        self._clock = clock

    async def run(self, run: GenerateRun, policy: Policy, index: FleetIndex) -> None:
        """Score `run`; sets ``run.policy_p_good`` and, under the threshold, ``run.policy_hosted``."""
        cfg = run.route.escalation_policy
        if cfg is None:
            return
        target = f"policy:{cfg.deployment}"
        vector = run_features(run)
        if vector is None:
            run.steps.append(Step(target, "skip", "no retrieval signals; edge first", 0.0))
            return
        est = self.targets.estimate(Candidate(cfg.deployment, "edge"), index, policy, "classify", "", ())
        problem = est.unavailable
        if problem is None and est.choice[0].task not in ("", "classify"):
            problem = f"deployment {cfg.deployment!r} serves task {est.choice[0].task!r}, not 'classify'"
        if problem is None and run.remaining_ms() <= 0:
            problem = "no time left"
        if problem is not None:
            run.steps.append(Step(target, "skip", f"{problem}; edge first", 0.0))
            return
        dep, replica = est.choice
        timeout_s = min(cfg.timeout_ms, run.remaining_ms()) / 1000.0
        started = self._clock()
        try:
            answer = await self.targets.call_edge(dep, replica, encode_vector(vector), "classify", timeout_s)
        except TargetError as exc:
            ms = (self._clock() - started) * 1000.0
            run.steps.append(Step(target, "timeout" if exc.timeout else "error", f"{exc}; edge first", ms))
            return
        ms = (self._clock() - started) * 1000.0
        run.charge(answer.cost_usd)
        self._decide(run, cfg, dict(answer.scores), target, ms)

    def _decide(
        self, run: GenerateRun, cfg: EscalationPolicyConfig, scores: dict[str, float], target: str, ms: float
    ) -> None:
        if cfg.good_label not in scores:
            run.steps.append(
                Step(target, "error", f"no {cfg.good_label!r} score in {sorted(scores)}; edge first", ms)
            )
            return
        p_good = float(scores[cfg.good_label])
        run.policy_p_good = p_good
        if p_good < cfg.threshold:
            run.policy_hosted = True
            reason = f"p(good edge answer) {p_good:.2f} < {cfg.threshold:.2f}: straight to the hosted model"
            run.steps.append(Step(target, "escalate", reason, ms))
        else:
            run.steps.append(
                Step(target, "ok", f"p(good edge answer) {p_good:.2f} >= {cfg.threshold:.2f}: edge", ms)
            )
