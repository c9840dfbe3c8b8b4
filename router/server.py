"""The router's servers: gRPC (Router + Fleet services, grpc health checking, server reflection)
and, when asked, the OpenAI-compatible HTTP front door (:mod:`router.http`) in the same process
and event loop; the deferred-escalation sender (:mod:`router.deferred`); graceful shutdown of all
of it (:meth:`RouterServer.stop`, see :mod:`router.drain`)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import logging
import time
from collections.abc import Mapping
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from edgefleet.errors import PolicyError, PolicyIssue
from edgefleet.policy.loader import parse_policy
from edgefleet.policy.schema import Policy
from edgefleet.policy.security_options import TlsServerConfig, auth_settings
from protos.aio_guard import MalformedRequestInterceptor
from protos.edgefleet.v1 import fleet_pb2, fleet_pb2_grpc, router_pb2, router_pb2_grpc
from router.auth import ApiKeys
from router.deferred import DeferredEscalations
from router.domain import EdgeCaller, EdgeGenerator, HostedCaller
from router.drain import SHUTDOWN_MARGIN_S
from router.edge_client import EdgeClient
from router.engine import RouterEngine
from router.fleet_servicer import FleetServicer
from router.fleet_source import FleetSource
from router.fleet_view import FleetViewWatch
from router.http.metrics_route import metrics_route
from router.http.port import EnginePort
from router.http.server import HttpFrontDoor
from router.metrics import RouterMetrics, RouterStateCollector
from router.rollout_tracker import report_loop
from router.servicer import RouterServicer
from router.tls import check_exposure, server_credentials
from router.tracing import Tracing

log = logging.getLogger(__name__)
ROUTER_SERVICE = router_pb2.DESCRIPTOR.services_by_name["Router"].full_name
FLEET_SERVICE = fleet_pb2.DESCRIPTOR.services_by_name["Fleet"].full_name


class RouterServer:
    """A running router: `port`, `engine`, `http` (the front door, when started), `reload_policy()`,
    `stop()`."""

    def __init__(
        self,
        policy: Policy,
        fleet: FleetSource,
        hosted: Mapping[str, HostedCaller],
        *,
        edge: EdgeCaller | None = None,
        policy_path: str | Path | None = None,
        generator: EdgeGenerator | None = None,
        tracing: Tracing | None = None,
        tls: TlsServerConfig | None = None,
        defer_accounting: bool = True,
    ) -> None:
        """`tls` overrides ``router.tls`` (``edgefleet up --tls dev``; a reload keeps it).
        `edge` calls replicas (default: an EdgeClient, which also streams generations unless
        `generator` is given). Prometheus metrics (``router.metrics``) are served at ``/metrics``
        on the front door; traces follow ``router.tracing`` (or `tracing`, e.g. a test's
        in-memory exporter)."""
        self.fleet = fleet
        self.hosted = dict(hosted)
        self.edge = edge or EdgeClient(coalesce=policy.router.coalesce)
        self.policy_path = Path(policy_path) if policy_path else None
        self._policy_sha = _sha_of(self.policy_path)
        self.metrics = RouterMetrics() if policy.router.metrics else None
        self.tracing = tracing or Tracing(policy.router.tracing)
        self.engine = RouterEngine(
            policy,
            fleet,
            self.edge,
            self.hosted,
            generator=generator,
            metrics=self.metrics,
            tracing=self.tracing,
            defer_accounting=defer_accounting,
            registry=_registry(policy, self.policy_path),
            policy_dir=self.policy_path.resolve().parent if self.policy_path else None,
        )
        self.metrics_state: RouterStateCollector | None = None
        if self.metrics is not None:
            self.metrics_state = RouterStateCollector(self.engine, self.hosted)
            self.metrics.registry.register(self.metrics_state)
        self.tls = tls or policy.router.tls
        self.api_keys = load_keys(policy, self.policy_path)
        self.accounting_text(policy)
        self._reload_lock = asyncio.Lock()
        self.health = health.aio.HealthServicer()
        self.fleet_view = FleetViewWatch(fleet, policy.router.fleet_view_max_age_s, self._set_serving)
        self._reporter: asyncio.Task[None] | None = None  # rollout outcomes -> the controller
        self.server = grpc.aio.server(
            options=[("grpc.so_reuseport", 0)], interceptors=[MalformedRequestInterceptor()]
        )
        self.port = 0
        self.address = ""
        self.http: HttpFrontDoor | None = None
        if policy.router.deferred_queue:
            self.engine.deferred = DeferredEscalations(
                policy.router.deferred_queue,
                self.hosted,
                {h.name: h for h in policy.hosted},
                self.engine.accounting,
                max_items=policy.router.deferred_max,
            )
        self._deferred_task: asyncio.Task[None] | None = None
        self._stopped = False
        self.fleet_servicer: FleetServicer | None = None

    async def _set_serving(self, serving: bool) -> None:
        """Overall and Router health follow the fleet view's freshness (router.fleet_view); the
        Fleet service stays SERVING so operators can see why."""
        status = (
            health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for name in ("", ROUTER_SERVICE):
            await self.health.set(name, status)

    @property
    def policy(self) -> Policy:
        """The policy in force."""
        return self.engine.policy

    def accounting_text(self, policy: Policy) -> None:
        """Keep request texts for the dashboard unless ``router.redact_text``."""
        self.engine.accounting.keep_text = not policy.router.redact_text

    def reload_policy(self, policy: Policy) -> None:
        """Route with `policy` from now on. Authentication and TLS settings stay as the router
        started with them (ReloadPolicy refuses a policy that changes them: see
        :meth:`_reload_from_text`); the keys are not re-read."""
        self.engine.reload_policy(policy)
        self.accounting_text(policy)

    async def _reload_from_text(self, yaml_text: str) -> str:
        """ReloadPolicy: parse text (or re-read the file) off the event loop, with the size cap;
        refuse a policy that changes authentication; apply here and in the controller."""
        max_bytes = self.policy.router.limits.policy_max_bytes
        async with self._reload_lock:  # one reload at a time: parsing is CPU work in a thread
            if yaml_text.strip():
                policy = await asyncio.to_thread(
                    parse_policy, yaml_text, "<ReloadPolicy>", max_bytes=max_bytes
                )
                text = yaml_text
            elif self.policy_path is not None:
                text = await asyncio.to_thread(_read_capped, self.policy_path, max_bytes)
                policy = await asyncio.to_thread(
                    parse_policy, text, str(self.policy_path), max_bytes=max_bytes
                )
                self._policy_sha = _sha_of(self.policy_path)
            else:
                raise ValueError("no policy text given and the router was started without a policy file")
            changed = [
                k
                for k, v in auth_settings(policy.router).items()
                if auth_settings(self.policy.router)[k] != v
            ]
            if changed:
                keys = ", ".join(f"router.{k}" for k in changed)
                raise PolicyError(
                    "<ReloadPolicy>",
                    [
                        PolicyIssue(
                            "router", None, f"{keys} cannot be changed by ReloadPolicy: restart the router"
                        )
                    ],
                )
            self.reload_policy(policy)
        try:
            controller = await self.fleet.apply_policy(text)
        except Exception as exc:
            raise RuntimeError(f"router reloaded the policy, but the controller refused it: {exc}") from exc
        return f"policy reloaded ({len(policy.routes)} routes, {len(policy.deployments)} deployments); {controller}"

    def _policy_info(self) -> tuple[str, str]:
        return (str(self.policy_path) if self.policy_path else "", self._policy_sha)

    @property
    def http_address(self) -> str:
        """ "host:port" of the OpenAI-compatible front door ("" when it is off)."""
        return self.http.address if self.http is not None else ""

    @property
    def http_url(self) -> str:
        """The front door's base URL for OpenAI clients, ``http://HOST:PORT/v1`` ("" when off)."""
        return self.http.base_url if self.http is not None else ""

    async def start_http(self, listen: str) -> str:
        """Start the OpenAI-compatible front door on `listen`; returns its bound "host:port"."""
        routes = []
        if self.metrics is not None and self.metrics_state is not None:
            routes.append(metrics_route(self.metrics, self.metrics_state))
        front_door = HttpFrontDoor(
            EnginePort(self.engine),
            lambda: self.api_keys,
            routes=routes,
            tracing=self.tracing,
            metrics=self.metrics,
            tls=self.tls,
        )
        check_exposure(listen, self.api_keys.enabled, "router.http_listen")
        address = await front_door.start(listen)
        self.http = front_door
        return address

    async def start(self, listen: str) -> int:
        """Bind `listen` ("host:port", port 0 = any) and start serving; returns the port."""
        router_pb2_grpc.add_RouterServicer_to_server(
            RouterServicer(self.engine, lambda: self.api_keys), self.server
        )
        fleet_servicer = FleetServicer(
            self.engine,
            self.fleet,
            self.hosted,
            self._reload_from_text,
            self._policy_info,
            lambda: self.api_keys,
        )
        fleet_pb2_grpc.add_FleetServicer_to_server(fleet_servicer, self.server)
        self.fleet_servicer = fleet_servicer
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        reflection.enable_server_reflection(
            (ROUTER_SERVICE, FLEET_SERVICE, health.SERVICE_NAME, reflection.SERVICE_NAME), self.server
        )
        check_exposure(listen, self.api_keys.enabled, "router.listen")
        tls = self.tls
        if tls is None:
            self.port = self.server.add_insecure_port(listen)
        else:
            self.port = self.server.add_secure_port(listen, server_credentials(tls))
        if self.port == 0:
            raise OSError(f"cannot listen on {listen}")
        host = listen.rsplit(":", 1)[0]
        self.address = f"{host}:{self.port}"
        await self.server.start()
        for name in ("", ROUTER_SERVICE, FLEET_SERVICE):
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        self.fleet_view.start()
        self._reporter = asyncio.create_task(report_loop(self.engine.targets.rollouts, self.fleet))
        if self.engine.deferred is not None:
            self._deferred_task = asyncio.create_task(self.engine.deferred.run(), name="edgefleet-deferred")
        log.info("router listening on %s%s", self.address, " (TLS)" if tls is not None else "")
        if not self.api_keys.enabled:
            log.warning(
                "AUTHENTICATION IS OFF: anyone who reaches %s can route requests, read the fleet and "
                "Scale/Drain/ReloadPolicy (set router.api_keys_env or router.api_keys_file; README 'Security')",
                self.address,
            )
        return self.port

    def drain_grace_s(self) -> float:
        """How long a graceful stop may wait: until the latest deadline of the requests in flight,
        and at least a default Infer deadline (a call accepted but not yet routed has one)."""
        default_s = self.policy.router.default_timeout_ms / 1000.0
        return max(self.engine.requests.latest_deadline_s(), default_s) + SHUTDOWN_MARGIN_S

    async def stop(self, grace: float | None = None) -> None:
        """Graceful shutdown, in this order: health NOT_SERVING first (load balancers and clients
        watching it stop sending); stop accepting on both doors; let the requests in flight finish,
        up to the latest of their deadlines (`grace`: at most that many seconds instead; 0 cancels
        them at once); then close the deferred sender, edge channels, ledger, logs and tracing.
        Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        started = time.monotonic()
        await self.health.enter_graceful_shutdown()
        await self.fleet_view.stop()
        if self._reporter is not None:
            self._reporter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reporter
            self._reporter = None
        wait_s = self.drain_grace_s() if grace is None else grace
        inflight = len(self.engine.requests)
        doors = [self.server.stop(wait_s)]
        if self.http is not None:
            doors.append(self.http.stop(wait_s))
        await asyncio.gather(*doors)
        self.http = None
        if inflight:
            log.info("router stopped after %d request(s) in flight finished in %.2fs", inflight,
                     time.monotonic() - started)  # fmt: skip
        if self._deferred_task is not None:
            self._deferred_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._deferred_task
        if self.engine.deferred is not None:
            self.engine.deferred.close()
        await self.engine.targets.rollouts.aclose()
        await self.edge.aclose()
        await self.engine.generation.shadow.drain(min(5.0 if grace is None else grace, 5.0))
        self.engine.generation.shadow.close()
        self.engine.accounting.close()
        self.tracing.shutdown()

    async def wait_for_termination(self) -> None:
        """Block until the server stops."""
        await self.server.wait_for_termination()


async def serve(
    policy: Policy,
    fleet: FleetSource,
    hosted: Mapping[str, HostedCaller],
    listen: str,
    *,
    edge: EdgeCaller | None = None,
    policy_path: str | Path | None = None,
    generator: EdgeGenerator | None = None,
    http_listen: str | None = None,
    tracing: Tracing | None = None,
    tls: TlsServerConfig | None = None,
    freeze_gc: bool = True,
    defer_accounting: bool = True,
) -> RouterServer:
    """Start a router on `listen`, and its OpenAI-compatible front door on `http_listen` (None: no
    front door; `edgefleet up` passes the policy's ``router.http_listen``); the returned server's
    `port` is the bound gRPC port, `http_address` the front door's. The caller owns `fleet` and the
    hosted clients (close them after `stop()`). With `freeze_gc`, the objects alive after start-up
    (modules, protos, the policy) move to the garbage collector's permanent generation
    (:func:`gc.freeze`), so its full collections no longer walk them."""
    server = RouterServer(
        policy,
        fleet,
        hosted,
        edge=edge,
        policy_path=policy_path,
        generator=generator,
        tracing=tracing,
        tls=tls,
        defer_accounting=defer_accounting,
    )
    await server.start(listen)
    if http_listen is not None:
        try:
            await server.start_http(http_listen)
        except BaseException:
            await server.stop(0)
            raise
    if freeze_gc:
        gc.collect()
        gc.freeze()
    return server


def load_keys(policy: Policy, policy_path: Path | None) -> ApiKeys:
    """The router's API keys (env var and keys file; a relative file is relative to the policy
    file's folder). A broken keys file stops the router with the reason."""
    cfg = policy.router
    key_file: Path | None = None
    if cfg.api_keys_file is not None:
        key_file = Path(cfg.api_keys_file)
        if not key_file.is_absolute() and policy_path is not None:
            key_file = policy_path.resolve().parent / key_file
    return ApiKeys.load(cfg.api_keys_env, key_file, cfg.key_defaults)


def _read_capped(path: Path, max_bytes: int) -> str:
    """A policy file's text, refused over `max_bytes`."""
    with path.open("rb") as fh:
        raw = fh.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise PolicyError(str(path), [PolicyIssue("", None, f"larger than {max_bytes} bytes")])
    return raw.decode("utf-8", "replace")


def _sha_of(path: Path | None) -> str:
    if path is None or not path.exists():
        return ""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _registry(policy: Policy, policy_path: Path | None) -> Path:
    """The model registry folder, relative to the policy file when it is known."""
    base = policy_path.resolve().parent if policy_path else Path.cwd()
    return (base / policy.registry).resolve()
