"""Shadow traffic of generate routes (``routes[].shadow``): a configurable share of the requests an
edge LLM answered is also sent to the route's hosted fallback, in a background task, after the
user already has the edge answer (the answer never waits for it). The pair goes to the route's
shadow log (:mod:`edgefleet.shadow_log`) with the signals the router had; the agreement of the
edge with the hosted model (token F1 between the answers) is summarised in the fleet snapshot;
the spend is recorded in the durable ledger as shadow spend and bounded per UTC day by
``budget_usd_per_day`` (a request whose worst case would pass it is not shadowed).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from edgefleet.policy.schema import Policy, RouteConfig
from edgefleet.qa_metrics import token_f1
from edgefleet.shadow_log import ShadowEdge, ShadowHosted, ShadowRecord
from router.costs import hosted_call_cost
from router.escalation_writer import EscalationLog
from router.generate_run import GenerateRun
from router.ledger import Ledger, LedgerEntry, day_of

log = logging.getLogger("edgefleet.shadow")


@dataclass
class ShadowStats:
    """Shadow traffic so far (this router's run)."""

    requests: int = 0  # pairs logged
    agreement_sum: float = 0.0
    spend_usd: float = 0.0
    skipped_budget: int = 0
    failed: int = 0

    @property
    def agreement_f1(self) -> float:
        """Mean token F1 of the edge answers against the hosted ones (0 without pairs)."""
        return self.agreement_sum / self.requests if self.requests else 0.0


class ShadowTraffic:
    """Samples edge-answered generations and shadows them to the hosted fallback."""

    def __init__(
        self,
        hosted: Mapping[str, Any],
        ledger: Ledger,
        *,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.hosted = hosted
        self.ledger = ledger
        self.stats = ShadowStats()
        self._rng = rng or random.Random()
        self._clock = clock
        self._logs: dict[str, EscalationLog] = {}
        self._day = ""
        self._day_spend = 0.0
        self._tasks: set[asyncio.Task[None]] = set()

    def _spent_today(self) -> float:
        today = day_of(self._clock())
        if today != self._day:
            self._day = today
            self._day_spend = self.ledger.day("", self._clock()).shadow_usd
        return self._day_spend

    def maybe_shadow(self, run: GenerateRun, policy: Policy) -> bool:
        """Start a shadow call for an edge-answered `run` when the route samples it and the budget
        allows; True when started."""
        route = run.route
        cfg = route.shadow
        final = run.final
        if (
            cfg is None
            or cfg.share <= 0
            or final is None
            or final.served_by.tier != "edge"
            or not route.fallback
        ):
            return False
        client = self.hosted.get(route.fallback)
        if client is None or getattr(client, "chat_stream", None) is None:
            return False
        if self._rng.random() >= cfg.share:
            return False
        endpoint = policy.hosted_endpoint(route.fallback)
        worst = hosted_call_cost(endpoint, run.prompt_tokens, run.params.max_tokens)
        if self._spent_today() + worst > cfg.budget_usd_per_day:
            self.stats.skipped_budget += 1
            return False
        self._day_spend += worst  # reserved now, settled when the answer is in
        task = asyncio.get_running_loop().create_task(self._shadow(run, route, endpoint, client, worst))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    async def _shadow(
        self, run: GenerateRun, route: RouteConfig, endpoint: Any, client: Any, worst: float
    ) -> None:
        assert route.shadow is not None and run.final is not None
        text = ""
        prompt_tokens = completion_tokens = 0
        replay = False
        try:
            stream = client.chat_stream(run.messages("hosted"), run.params, endpoint.timeout_ms / 1000.0)
            async for chunk in stream:
                text += chunk.text
                if chunk.final:
                    prompt_tokens, completion_tokens = chunk.prompt_tokens, chunk.completion_tokens
                    replay = chunk.source == "replay"
        except Exception as exc:  # noqa: BLE001 -- off the critical path: count, never raise
            self.stats.failed += 1
            self._day_spend -= worst
            log.warning("shadow call for %s failed: %s", run.req.request_id, exc)
            return
        cost = hosted_call_cost(endpoint, prompt_tokens or run.prompt_tokens, completion_tokens)
        self._day_spend += cost - worst
        self.ledger.record(
            LedgerEntry(
                request_id=run.req.request_id,
                route=route.name,
                task="generate",
                tier="hosted",
                model=endpoint.model,
                cost_usd=cost,
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
                shadow=True,
            )
        )
        edge_text = run.final.text
        agreement = token_f1(edge_text, [text.strip()])
        signals = run.edge_signals
        record = ShadowRecord(
            unix_ms=self._clock() * 1000.0,
            request_id=run.req.request_id,
            route=route.name,
            text=next((m.content for m in reversed(run.req.messages) if m.role == "user"), ""),
            edge=ShadowEdge(
                model=run.final.served_by.model,
                text=edge_text,
                confidence=run.final.confidence,
                p_good=run.policy_p_good,
                cost_usd=run.final.cost_usd,
                mean_logprob=signals.mean_logprob if signals else None,
                min_logprob=signals.min_logprob if signals else None,
                grounded=signals.grounded if signals else None,
            ),
            hosted=ShadowHosted(
                model=endpoint.model,
                text=text.strip(),
                cost_usd=cost,
                stand_in=endpoint.stand_in is not None,
                replay=replay,
            ),
            agreement_f1=agreement,
        )
        self._log(route.shadow.log).write(record)
        self.stats.requests += 1
        self.stats.agreement_sum += agreement
        self.stats.spend_usd += cost

    def _log(self, path: str) -> EscalationLog:
        writer = self._logs.get(path)
        if writer is None:
            writer = self._logs[path] = EscalationLog(path)
        return writer

    async def drain(self, timeout_s: float = 5.0) -> None:
        """Wait (bounded) for the shadow calls in flight."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout_s)

    def close(self) -> None:
        """Cancel the shadow calls in flight and close the logs."""
        for task in list(self._tasks):
            task.cancel()
        for writer in self._logs.values():
            with contextlib.suppress(OSError):
                writer.close()
