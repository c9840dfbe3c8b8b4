"""Calling one target for one text: an edge deployment (replica picked by power of
two choices, KServe v2 call with a deadline) or a hosted endpoint. Turns raw
outputs into :class:`TargetAnswer` with cost, and feeds the estimates."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from edgefleet.policy.schema import HostedConfig, Policy
from router.choose import Candidate, CandidateEstimate, ReplicaLoad, power_of_two_choices
from router.costs import edge_call_cost, estimate_hosted_cost, hosted_call_cost
from router.domain import EdgeCaller, EdgeOutput, HostedCaller, ServedBy, TargetAnswer
from router.errors import TargetBusy, TargetError
from router.estimates import Estimates
from router.hosted.endpoint import url_host
from router.rollout_tracker import RolloutTracker

TOP_SCORES = 5


@dataclass(frozen=True)
class FleetIndex:
    """Fleet state indexed for routing (rebuilt once per state version)."""

    version: int
    deployments: dict[str, Any]  # name -> edgefleet.state.DeploymentState

    @classmethod
    def build(cls, state: Any) -> FleetIndex:
        """Index a edgefleet.state.FleetState."""
        return cls(int(state.version), {d.name: d for d in state.deployments})


class TargetCaller:
    """Calls edge deployments and hosted endpoints; keeps estimates up to date."""

    def __init__(
        self,
        edge: EdgeCaller,
        hosted: Mapping[str, HostedCaller],
        estimates: Estimates,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.edge = edge
        self.hosted = hosted
        self.estimates = estimates
        self.rng = rng or random.Random()
        self._clock = clock
        self.rollouts = RolloutTracker(rng=self.rng)  # canary split, per-version outcomes, shadows

    def estimate(
        self, cand: Candidate, index: FleetIndex, policy: Policy, task: str, text: str, labels: Sequence[str]
    ) -> CandidateEstimate:
        """The estimate for `cand` right now; its ``choice`` is the replica picked (edge) or the
        endpoint's config (hosted)."""
        if cand.tier == "hosted":
            try:
                cfg = policy.hosted_endpoint(cand.name)
            except KeyError:
                return CandidateEstimate(cand, 0.0, 0.0, f"hosted endpoint {cand.name!r} not in policy")
            cost = estimate_hosted_cost(cfg, task, text, labels)
            client = self.hosted.get(cand.name)
            if client is None:
                return CandidateEstimate(cand, 0.0, cost, "hosted unavailable: no client configured", cfg)
            down = hosted_down_reason(client)
            if down is not None:
                return CandidateEstimate(cand, 0.0, cost, f"hosted unavailable: {down}", cfg)
            est_ms = self.estimates.estimate_ms(cand.target, hosted=True)
            return CandidateEstimate(cand, est_ms, cost, choice=cfg)
        dep = index.deployments.get(cand.name)
        if dep is None:
            return CandidateEstimate(cand, 0.0, 0.0, f"deployment {cand.name!r} not in the fleet")
        cost = edge_call_cost(dep.price_per_call_usd)
        loads = _LazyLoads(self.rollouts.pool(dep), self.estimates)
        pick = power_of_two_choices(loads, self.rng)
        if pick is None:
            states = ", ".join(sorted(f"{r.replica_id}={r.state}" for r in dep.replicas)) or "none"
            return CandidateEstimate(cand, 0.0, cost, f"no ready replica ({states})")
        try:
            max_queue = policy.deployment(cand.name).max_queue
        except KeyError:
            max_queue = None
        if max_queue is not None:
            # merged calls (router.coalesce) carry up to max_batch texts each: the replica's queue
            # is max_queue calls deep, however many texts wait for them here
            coalesce = policy.router.coalesce
            per_call = coalesce.max_batch if coalesce.enabled and task in ("classify", "embed") else 1
            if pick.outstanding >= max_queue * per_call:
                return CandidateEstimate(cand, 0.0, cost, f"replica queues full (max_queue={max_queue})")
        replica = loads.replica_of(pick)
        return CandidateEstimate(
            cand, self.estimates.estimate_ms(pick.replica_id), cost, choice=(dep, replica)
        )

    async def call_edge(
        self,
        dep: Any,
        replica: Any,
        text: str,
        task: str,
        timeout_s: float,
        headers: Mapping[str, str] | None = None,
    ) -> TargetAnswer:
        """Ask one replica about one text (`headers`, e.g. ``traceparent``, go as gRPC metadata)."""
        key = replica.replica_id
        version = replica_version(dep, replica)
        self.estimates.begin(key)
        start = self._clock()
        ok: bool | None = None  # None: the outcome says nothing about the replica
        try:
            args = (replica.address, dep.model, version, [text], task, timeout_s)
            if headers:
                outputs = await self.edge.infer(*args, metadata=tuple(headers.items()))
            else:
                outputs = await self.edge.infer(*args)
            ok = True
        except TargetBusy:
            raise  # overloaded, not broken: a full queue does not count against the replica
        except TargetError as exc:
            ok = None if exc.timeout and not self.estimates.timeout_counts(timeout_s) else False
            raise
        except Exception:
            ok = False
            raise
        finally:  # cancelled (the caller went away): ok stays None
            ms = (self._clock() - start) * 1000.0
            if ok is None:
                self.estimates.abandon(key)
            else:
                self.estimates.end(key, ms, ok)
                self.rollouts.observe(dep, version, ok, ms)  # a version's errors and latency (canaries)
        out = outputs[0]
        label, scores, confidence = (
            _classification(out, dep.labels) if task == "classify" else (None, (), 1.0)
        )
        if task == "classify" and label is None:
            raise TargetError(f"{dep.name} returned no PROBS/LABEL for a classify request")
        if task == "embed" and out.embedding is None:
            raise TargetError(f"{dep.name} returned no EMBEDDING for an embed request")
        served = ServedBy(
            model=dep.model,
            version=replica_version(dep, replica),
            replica=out.replica or replica.replica_id,
            node=out.node or replica.node_name,
            device=out.device or replica.device,
            tier="edge",
        )
        answer = TargetAnswer(
            label, scores, confidence, out.embedding, served, edge_call_cost(dep.price_per_call_usd), ms
        )
        if getattr(dep, "canary_version", ""):  # a rollout in progress: maybe compare with the stable version
            ask = lambda d, r: self._ask(d, r, text, task, timeout_s)  # noqa: E731
            self.rollouts.maybe_shadow(dep, version, task, answer, ask)
        return answer

    async def _ask(self, dep: Any, replica: Any, text: str, task: str, timeout_s: float) -> TargetAnswer:
        """A shadow call (rollout agreement): `replica`'s answer, outside the estimates."""
        outputs = await self.edge.infer(
            replica.address, dep.model, replica_version(dep, replica), [text], task, timeout_s
        )
        label, scores, confidence = (
            _classification(outputs[0], dep.labels) if task == "classify" else (None, (), 1.0)
        )
        served = ServedBy(
            dep.model, replica_version(dep, replica), replica.replica_id, replica.node_name, "", "edge"
        )
        return TargetAnswer(label, scores, confidence, outputs[0].embedding, served, 0.0, 0.0)

    async def call_hosted(
        self,
        name: str,
        cfg: HostedConfig,
        text: str,
        task: str,
        labels: Sequence[str],
        timeout_s: float,
        headers: Mapping[str, str] | None = None,
    ) -> TargetAnswer:
        """Ask a hosted endpoint about one text (`headers`, e.g. ``traceparent``, go with it)."""
        client = self.hosted[name]
        key = f"hosted:{name}"
        self.estimates.begin(key)
        start = self._clock()
        ok: bool | None = None  # None: cancelled or refused unsent (rate limited): no sample
        extra = {"headers": headers} if headers else {}
        try:
            if task == "classify":
                answer = await client.classify(text, labels, timeout_s, **extra)
            else:
                answer = (await client.embed([text], timeout_s, **extra))[0]
            ok = True
        except TargetError as exc:
            ok = None if exc.rate_limited else False
            raise
        except Exception:
            ok = False
            raise
        finally:
            ms = (self._clock() - start) * 1000.0
            if ok is None:
                self.estimates.abandon(key)
            else:
                self.estimates.end(key, ms, ok)
        if task == "classify" and answer.label is None:
            raise TargetError(f"hosted:{name} returned no label")
        base_url = getattr(client, "base_url", None) or cfg.base_url or ""
        served = ServedBy(
            model=answer.model or cfg.model,
            version="",
            replica=name,
            node=url_host(base_url),
            device="",
            tier="hosted",
            stand_in=bool(answer.stand_in),
        )
        scores = ((answer.label, float(answer.confidence)),) if answer.label is not None else ()
        embedding = tuple(answer.embedding) if answer.embedding is not None else None
        cost = hosted_call_cost(cfg, answer.input_tokens, answer.output_tokens)
        confidence = float(answer.confidence) if task == "classify" else 1.0
        return TargetAnswer(answer.label, scores, confidence, embedding, served, cost, ms)


def replica_version(dep: Any, replica: Any) -> str:
    """The model version `replica` serves (its own, from the snapshot; the deployment's when the
    snapshot does not say). During a rollout old and new versions serve side by side, and a
    replica answers NOT_FOUND for a version it does not have, so every call names the replica's."""
    return str(getattr(replica, "version", "") or dep.version)


def hosted_down_reason(client: Any) -> str | None:
    """Why a hosted client would refuse a call now (circuit open, rate limited), None when it would
    try: its ``unavailable_reason`` (router.hosted.HostedClient), else its circuit state."""
    reason = getattr(client, "unavailable_reason", None)
    if isinstance(reason, str) and reason:
        return reason
    return "circuit open" if getattr(client, "circuit_state", "closed") == "open" else None


def _classification(
    out: EdgeOutput, labels: Sequence[str]
) -> tuple[str | None, tuple[tuple[str, float], ...], float]:
    """(label, top scores, confidence) from PROBS (+ the deployment's label names)."""
    if out.probs is None:
        return out.label, ((out.label, 1.0),) if out.label else (), 1.0 if out.label else 0.0
    probs = out.probs
    names = labels if len(labels) == len(probs) else [str(i) for i in range(len(probs))]
    order = sorted(range(len(probs)), key=probs.__getitem__, reverse=True)
    best = order[0] if order else None
    if best is None:
        return None, (), 0.0
    label = out.label or names[best]
    scores = tuple((names[i], float(probs[i])) for i in order[:TOP_SCORES])
    return label, scores, float(probs[best])


class _LazyLoads(Sequence[ReplicaLoad]):
    """The replicas' loads, built only for the replicas power-of-two-choices samples, so a
    decision costs O(1) in the number of replicas instead of O(n)."""

    def __init__(self, replicas: Sequence[Any], estimates: Any) -> None:
        self._replicas = replicas
        self._estimates = estimates
        self._by_id: dict[str, Any] = {}

    def __len__(self) -> int:
        return len(self._replicas)

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        replica = self._replicas[i]
        self._by_id[replica.replica_id] = replica
        return self._estimates.replica_load(replica.replica_id, replica.state)

    def replica_of(self, load: ReplicaLoad) -> Any:
        """The replica a sampled load belongs to."""
        return self._by_id[load.replica_id]
