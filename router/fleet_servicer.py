"""The edgefleet.v1.Fleet gRPC servicer: fleet state + policy + hosted endpoints +
accounting -> FleetSnapshot; actions forwarded to the FleetSource.

Roles (router.auth): GetFleet and WatchFleet need a ``viewer`` or ``operator`` key, Scale, Drain
and ReloadPolicy an ``operator`` key. WatchFleet streams are capped (``router.limits.watch_streams``)
and updates come at most every ``router.limits.watch_min_interval_ms``. Hosted base URLs are shown
without credentials or query strings; request texts are left out with ``router.redact_text``."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc

from edgefleet.errors import PolicyError
from protos.edgefleet.v1 import fleet_pb2, fleet_pb2_grpc
from router.auth import ApiKeys, Right
from router.engine import RouterEngine
from router.errors import RouterError
from router.fleet_source import FleetSource
from router.fleet_view import fleet_view_status
from router.hosted.endpoint import display_url
from router.proto_convert import status_of
from router.servicer import result_proto
from router.targets import hosted_down_reason

log = logging.getLogger(__name__)
# what a WatchFleet stream compares: fleet version, traffic version, policy generation, offline state
_WatchKey = tuple[int, int, int, tuple[int, int, bool]]
DEFAULT_WATCH_INTERVAL_MS = 500


class FleetServicer(fleet_pb2_grpc.FleetServicer):
    """GetFleet / WatchFleet / Scale / Drain / ReloadPolicy."""

    def __init__(
        self,
        engine: RouterEngine,
        fleet: FleetSource,
        hosted: dict[str, Any],
        reload: Callable[[str], Awaitable[str]],
        policy_info: Callable[[], tuple[str, str]],
        api_keys: Callable[[], ApiKeys] | None = None,
    ) -> None:
        self.engine = engine
        self.fleet = fleet
        self.hosted = hosted
        self._reload = reload  # yaml text ("" = re-read file) -> message; raises PolicyError
        self._policy_info = policy_info  # () -> (path, sha256)
        self._api_keys = api_keys or (lambda: ApiKeys())
        self.watchers = 0
        self._cache: tuple[_WatchKey, fleet_pb2.FleetSnapshot] | None = None

    async def _authorize(self, context: grpc.aio.ServicerContext, right: Right) -> None:
        """Abort with UNAUTHENTICATED / PERMISSION_DENIED unless the caller's role grants `right`."""
        keys = self._api_keys()
        if not keys.enabled:
            return
        try:
            keys.authorize(context.invocation_metadata(), right)
        except RouterError as exc:
            await context.abort(status_of(exc), str(exc))

    async def snapshot(self) -> fleet_pb2.FleetSnapshot:
        """The current FleetSnapshot."""
        state = await self.fleet.state()
        path, sha = self._policy_info()
        view = fleet_view_status(self.fleet, self.engine.policy.router.fleet_view_max_age_s)
        snap = fleet_pb2.FleetSnapshot(
            version=int(state.version),
            unix_ms=float(state.unix_ms),
            policy_path=path,
            policy_sha256=sha,
            fleet_status=view.status,
            fleet_status_reason=view.reason,
            fleet_view_age_s=round(view.age_s, 1),
            events=list(getattr(state, "events", None) or []),
        )
        for n in state.nodes:
            node = snap.nodes.add(
                node_id=n.node_id,
                name=n.name,
                address=n.address,
                alive=n.alive,
                drained=n.drained,
                cpu_percent=n.cpu_percent,
                memory_percent=n.memory_percent,
                heartbeat_age_s=n.heartbeat_age_s,
                replicas=list(n.replicas),
                health=n.health,
            )
            node.labels.update(n.labels)
            node.resources.update({k: float(v) for k, v in n.resources.items()})
            for dev in n.devices:
                node.devices.add(
                    name=dev.name,
                    full_name=dev.full_name,
                    capabilities=list(dev.capabilities),
                    simulated=dev.simulated,
                )
        est = self.engine.estimates
        for d in state.deployments:
            dep = snap.deployments.add(
                name=d.name,
                model=d.model,
                version=d.version,
                precision=d.precision,
                desired=d.desired,
                ready=d.ready,
                price_per_call_usd=d.price_per_call_usd,
                precision_policy=d.precision_policy,
                task=d.task,
                context_length=d.context_length,
                canary_version=getattr(d, "canary_version", ""),
                canary_share=getattr(d, "canary_share", 0.0),
                rollout=getattr(d, "rollout", ""),
                autoscale=getattr(d, "autoscale", ""),
            )
            if d.collection is not None:
                c = d.collection
                dep.collection.CopyFrom(
                    fleet_pb2.Collection(
                        chunks=c.chunks, documents=c.documents, index=c.index, encoder=c.encoder
                    )
                )
            for r in d.replicas:
                st = est.stats(r.replica_id)
                rps, p50, p95 = est.window(r.replica_id)
                dep.replicas.add(
                    replica_id=r.replica_id,
                    deployment=r.deployment,
                    node_id=r.node_id,
                    node_name=r.node_name,
                    device=r.device,
                    address=r.address,
                    state=r.state,
                    stats=fleet_pb2.ReplicaStats(
                        rps=rps,
                        p50_ms=p50,
                        p95_ms=p95,
                        error_rate=st.error_ewma,
                        queue_depth=st.outstanding,
                        requests=st.requests,
                        tokens_per_s=r.tokens_per_s,
                        ttft_p50_ms=r.ttft_p50_ms,
                        ttft_p95_ms=r.ttft_p95_ms,
                        waiting=r.queue_depth,
                    ),
                    inference_precision=r.inference_precision,
                    isa=list(r.isa),
                    detail=r.detail,
                    metrics_address=r.metrics_address,
                    version=r.version,
                )
        policy = self.engine.policy
        for route in policy.routes:
            names = [route.domain_model] if route.domain_model else []
            names += [f"retrieve:{route.retrieval.deployment}"] if route.retrieval is not None else []
            names += [n for ns in route.specialists.values() for n in ns] + list(route.targets)
            names += [f"hosted:{route.fallback}"] if route.fallback else []
            snap.routes.add(
                name=route.name,
                task=route.task,
                domains=list(route.domains),
                candidates=list(dict.fromkeys(names)),
                min_confidence=route.min_confidence,
            )
        for cfg in policy.hosted:
            client = self.hosted.get(cfg.name)
            url = str(getattr(client, "base_url", None) or cfg.base_url or "")
            snap.hosted.add(
                name=cfg.name,
                base_url=display_url(url) if url else "",
                model=cfg.model,
                stand_in=cfg.stand_in is not None,
                replay=(cfg.stand_in.replay or "") if cfg.stand_in is not None else "",
                circuit=str(getattr(client, "circuit_state", "closed")) if client is not None else "absent",
            )
        t = self.engine.accounting.snapshot()
        snap.traffic.CopyFrom(
            fleet_pb2.Traffic(
                rps=t.rps,
                requests=t.requests,
                edge=t.edge,
                hosted=t.hosted,
                errors=t.errors,
                escalations=t.escalations,
                spend_usd=t.spend_usd,
                hosted_equivalent_usd=t.hosted_equivalent_usd,
                saved_usd=t.saved_usd,
                rps_history=t.rps_history,
                p50_ms=t.p50_ms,
                p95_ms=t.p95_ms,
            )
        )
        g = self.engine.accounting.generate_snapshot()
        snap.traffic.generation.CopyFrom(
            fleet_pb2.Generation(
                requests=g.requests,
                edge=g.edge,
                hosted=g.hosted,
                cancelled=g.cancelled,
                retractions=g.retractions,
                edge_prompt_tokens=g.edge_prompt_tokens,
                edge_completion_tokens=g.edge_completion_tokens,
                hosted_prompt_tokens=g.hosted_prompt_tokens,
                hosted_completion_tokens=g.hosted_completion_tokens,
            )
        )
        shadow = self.engine.generation.shadow.stats
        if shadow.requests or shadow.skipped_budget or shadow.failed:
            snap.traffic.generation.shadow.CopyFrom(
                fleet_pb2.ShadowTraffic(
                    requests=shadow.requests,
                    agreement_f1=shadow.agreement_f1,
                    spend_usd=shadow.spend_usd,
                    skipped_budget=shadow.skipped_budget,
                    failed=shadow.failed,
                )
            )
        off = self.engine.offline.snapshot(self.hosted, self.engine.deferred)
        snap.degraded.CopyFrom(
            fleet_pb2.Degraded(
                active=off.active,
                reason=off.reason,
                answers=off.answers,
                answers_last_minute=off.recent,
                by_reason=off.by_reason,
                deferred_queued=off.deferred_queued,
                deferred_sent=off.deferred_sent,
                deferred_refused=off.deferred_refused,
            )
        )
        redact = policy.router.redact_text
        for rec in reversed(list(self.engine.accounting.recent)[-50:]):  # newest first
            res = rec.result
            proto = result_proto(res)
            snap.recent.add(
                request_id=rec.request_id,
                unix_ms=rec.unix_ms,
                route=res.route,
                domain=res.domain,
                text="" if redact else rec.text,
                label=res.label or "",
                confidence=res.confidence,
                served_by=proto.served_by,
                cost_usd=res.cost_usd,
                latency_ms=res.latency_ms,
                trace=proto.trace,
            )
        accounting = self.engine.accounting
        logs = snap.logs
        if accounting.escalation_log is not None:
            e = accounting.escalation_log
            logs.escalation_log = str(e.path)
            logs.escalation_written = e.written
            logs.escalation_write_errors = e.write_errors
            logs.escalation_last_error = e.last_error
        logs.ledger_write_errors = accounting.ledger.write_errors
        return snap

    async def GetFleet(
        self, request: fleet_pb2.GetFleetRequest, context: grpc.aio.ServicerContext
    ) -> fleet_pb2.FleetSnapshot:
        """The current snapshot."""
        await self._authorize(context, "read")
        return await self.snapshot()

    async def WatchFleet(
        self, request: fleet_pb2.WatchFleetRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[fleet_pb2.FleetEvent]:
        """A snapshot now, then on every change (fleet or traffic), at most every min_interval_ms
        (raised to router.limits.watch_min_interval_ms). Watchers of one change share its snapshot."""
        await self._authorize(context, "read")
        limits = self.engine.policy.router.limits
        if self.watchers >= limits.watch_streams:
            await context.abort(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"{self.watchers} WatchFleet streams are open (router.limits.watch_streams="
                f"{limits.watch_streams}); close one or use GetFleet",
            )
        asked = request.min_interval_ms or DEFAULT_WATCH_INTERVAL_MS
        interval = max(asked, limits.watch_min_interval_ms) / 1000.0
        last: _WatchKey | None = None
        self.watchers += 1
        try:
            while True:
                state = await self.fleet.state()
                key = (
                    int(state.version),
                    self.engine.accounting.version,
                    self.engine.policy_generation,
                    self._offline_key(),
                )
                if key != last:
                    last = key
                    events = list(getattr(state, "events", []) or [])
                    yield fleet_pb2.FleetEvent(
                        snapshot=await self._shared_snapshot(key), message=events[-1] if events else ""
                    )
                    await asyncio.sleep(interval)  # rate limit
                else:
                    await self.fleet.watch(int(state.version), timeout_s=interval)
        finally:
            self.watchers -= 1

    async def _shared_snapshot(self, key: _WatchKey) -> fleet_pb2.FleetSnapshot:
        """The snapshot for `key`, built once for every watcher that asks for it."""
        cached = self._cache
        if cached is not None and cached[0] == key:
            return cached[1]
        snap = await self.snapshot()
        self._cache = (key, snap)
        return snap

    def _offline_key(self) -> tuple[int, int, bool]:
        """What changes the Degraded part of the snapshot: degraded answers, the deferred queue, and
        whether a hosted endpoint is down."""
        deferred = self.engine.deferred
        down = any(hosted_down_reason(client) for client in self.hosted.values())
        return (self.engine.offline.version, deferred.queued if deferred is not None else 0, down)

    async def Scale(
        self, request: fleet_pb2.ScaleRequest, context: grpc.aio.ServicerContext
    ) -> fleet_pb2.ActionResult:
        """Set a deployment's replica count (at most fleet.max_replicas_per_deployment)."""
        await self._authorize(context, "operate")
        cap = self.engine.policy.fleet.max_replicas_per_deployment
        if request.replicas > cap:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"replicas must be <= {cap} (fleet.max_replicas_per_deployment), got {request.replicas}",
            )
        if not request.deployment:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "deployment is empty")
        if request.replicas < 0:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, f"replicas must be >= 0, got {request.replicas}"
            )
        return await self._act(self.fleet.scale(request.deployment, request.replicas))

    async def Drain(
        self, request: fleet_pb2.DrainRequest, context: grpc.aio.ServicerContext
    ) -> fleet_pb2.ActionResult:
        """Drain or undrain a node."""
        await self._authorize(context, "operate")
        if not request.node:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "node is empty")
        return await self._act(self.fleet.drain(request.node, request.undrain))

    async def ReloadPolicy(
        self, request: fleet_pb2.ReloadPolicyRequest, context: grpc.aio.ServicerContext
    ) -> fleet_pb2.ActionResult:
        """Apply new policy text (or re-read the file) in the router and the controller."""
        await self._authorize(context, "operate")
        return await self._act(self._reload(request.yaml))

    async def _act(self, action: Awaitable[str]) -> fleet_pb2.ActionResult:
        try:
            message = await action
            ok = True
        except PolicyError as exc:
            message, ok = str(exc), False
        except Exception as exc:  # noqa: BLE001 -- any controller failure becomes ok=false
            log.warning("fleet action failed: %s", exc)
            message, ok = f"{type(exc).__name__}: {exc}", False
        version = 0
        try:
            version = int((await self.fleet.state()).version)
        except Exception:
            log.debug("no fleet state after action", exc_info=True)
        return fleet_pb2.ActionResult(ok=ok, message=message, snapshot_version=version)
