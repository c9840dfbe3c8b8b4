from protos.edgefleet.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GetFleetRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class WatchFleetRequest(_message.Message):
    __slots__ = ("min_interval_ms",)
    MIN_INTERVAL_MS_FIELD_NUMBER: _ClassVar[int]
    min_interval_ms: int
    def __init__(self, min_interval_ms: _Optional[int] = ...) -> None: ...

class Device(_message.Message):
    __slots__ = ("name", "full_name", "capabilities", "simulated")
    NAME_FIELD_NUMBER: _ClassVar[int]
    FULL_NAME_FIELD_NUMBER: _ClassVar[int]
    CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    SIMULATED_FIELD_NUMBER: _ClassVar[int]
    name: str
    full_name: str
    capabilities: _containers.RepeatedScalarFieldContainer[str]
    simulated: bool
    def __init__(self, name: _Optional[str] = ..., full_name: _Optional[str] = ..., capabilities: _Optional[_Iterable[str]] = ..., simulated: bool = ...) -> None: ...

class Node(_message.Message):
    __slots__ = ("node_id", "name", "address", "devices", "labels", "resources", "alive", "drained", "cpu_percent", "memory_percent", "heartbeat_age_s", "replicas", "health")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class ResourcesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    DEVICES_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    RESOURCES_FIELD_NUMBER: _ClassVar[int]
    ALIVE_FIELD_NUMBER: _ClassVar[int]
    DRAINED_FIELD_NUMBER: _ClassVar[int]
    CPU_PERCENT_FIELD_NUMBER: _ClassVar[int]
    MEMORY_PERCENT_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_AGE_S_FIELD_NUMBER: _ClassVar[int]
    REPLICAS_FIELD_NUMBER: _ClassVar[int]
    HEALTH_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    name: str
    address: str
    devices: _containers.RepeatedCompositeFieldContainer[Device]
    labels: _containers.ScalarMap[str, str]
    resources: _containers.ScalarMap[str, float]
    alive: bool
    drained: bool
    cpu_percent: float
    memory_percent: float
    heartbeat_age_s: float
    replicas: _containers.RepeatedScalarFieldContainer[str]
    health: str
    def __init__(self, node_id: _Optional[str] = ..., name: _Optional[str] = ..., address: _Optional[str] = ..., devices: _Optional[_Iterable[_Union[Device, _Mapping]]] = ..., labels: _Optional[_Mapping[str, str]] = ..., resources: _Optional[_Mapping[str, float]] = ..., alive: bool = ..., drained: bool = ..., cpu_percent: _Optional[float] = ..., memory_percent: _Optional[float] = ..., heartbeat_age_s: _Optional[float] = ..., replicas: _Optional[_Iterable[str]] = ..., health: _Optional[str] = ...) -> None: ...

class ReplicaStats(_message.Message):
    __slots__ = ("rps", "p50_ms", "p95_ms", "error_rate", "queue_depth", "requests", "tokens_per_s", "ttft_p50_ms", "ttft_p95_ms", "waiting")
    RPS_FIELD_NUMBER: _ClassVar[int]
    P50_MS_FIELD_NUMBER: _ClassVar[int]
    P95_MS_FIELD_NUMBER: _ClassVar[int]
    ERROR_RATE_FIELD_NUMBER: _ClassVar[int]
    QUEUE_DEPTH_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    TOKENS_PER_S_FIELD_NUMBER: _ClassVar[int]
    TTFT_P50_MS_FIELD_NUMBER: _ClassVar[int]
    TTFT_P95_MS_FIELD_NUMBER: _ClassVar[int]
    WAITING_FIELD_NUMBER: _ClassVar[int]
    rps: float
    p50_ms: float
    p95_ms: float
    error_rate: float
    queue_depth: int
    requests: int
    tokens_per_s: float
    ttft_p50_ms: float
    ttft_p95_ms: float
    waiting: int
    def __init__(self, rps: _Optional[float] = ..., p50_ms: _Optional[float] = ..., p95_ms: _Optional[float] = ..., error_rate: _Optional[float] = ..., queue_depth: _Optional[int] = ..., requests: _Optional[int] = ..., tokens_per_s: _Optional[float] = ..., ttft_p50_ms: _Optional[float] = ..., ttft_p95_ms: _Optional[float] = ..., waiting: _Optional[int] = ...) -> None: ...

class Replica(_message.Message):
    __slots__ = ("replica_id", "deployment", "node_id", "node_name", "device", "address", "state", "stats", "inference_precision", "isa", "detail", "metrics_address", "version")
    REPLICA_ID_FIELD_NUMBER: _ClassVar[int]
    DEPLOYMENT_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    NODE_NAME_FIELD_NUMBER: _ClassVar[int]
    DEVICE_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    STATS_FIELD_NUMBER: _ClassVar[int]
    INFERENCE_PRECISION_FIELD_NUMBER: _ClassVar[int]
    ISA_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    METRICS_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    replica_id: str
    deployment: str
    node_id: str
    node_name: str
    device: str
    address: str
    state: str
    stats: ReplicaStats
    inference_precision: str
    isa: _containers.RepeatedScalarFieldContainer[str]
    detail: str
    metrics_address: str
    version: str
    def __init__(self, replica_id: _Optional[str] = ..., deployment: _Optional[str] = ..., node_id: _Optional[str] = ..., node_name: _Optional[str] = ..., device: _Optional[str] = ..., address: _Optional[str] = ..., state: _Optional[str] = ..., stats: _Optional[_Union[ReplicaStats, _Mapping]] = ..., inference_precision: _Optional[str] = ..., isa: _Optional[_Iterable[str]] = ..., detail: _Optional[str] = ..., metrics_address: _Optional[str] = ..., version: _Optional[str] = ...) -> None: ...

class Deployment(_message.Message):
    __slots__ = ("name", "model", "version", "precision", "desired", "ready", "replicas", "price_per_call_usd", "precision_policy", "task", "context_length", "collection", "canary_version", "canary_share", "rollout", "autoscale")
    NAME_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    PRECISION_FIELD_NUMBER: _ClassVar[int]
    DESIRED_FIELD_NUMBER: _ClassVar[int]
    READY_FIELD_NUMBER: _ClassVar[int]
    REPLICAS_FIELD_NUMBER: _ClassVar[int]
    PRICE_PER_CALL_USD_FIELD_NUMBER: _ClassVar[int]
    PRECISION_POLICY_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_LENGTH_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    CANARY_VERSION_FIELD_NUMBER: _ClassVar[int]
    CANARY_SHARE_FIELD_NUMBER: _ClassVar[int]
    ROLLOUT_FIELD_NUMBER: _ClassVar[int]
    AUTOSCALE_FIELD_NUMBER: _ClassVar[int]
    name: str
    model: str
    version: str
    precision: str
    desired: int
    ready: int
    replicas: _containers.RepeatedCompositeFieldContainer[Replica]
    price_per_call_usd: float
    precision_policy: str
    task: str
    context_length: int
    collection: Collection
    canary_version: str
    canary_share: float
    rollout: str
    autoscale: str
    def __init__(self, name: _Optional[str] = ..., model: _Optional[str] = ..., version: _Optional[str] = ..., precision: _Optional[str] = ..., desired: _Optional[int] = ..., ready: _Optional[int] = ..., replicas: _Optional[_Iterable[_Union[Replica, _Mapping]]] = ..., price_per_call_usd: _Optional[float] = ..., precision_policy: _Optional[str] = ..., task: _Optional[str] = ..., context_length: _Optional[int] = ..., collection: _Optional[_Union[Collection, _Mapping]] = ..., canary_version: _Optional[str] = ..., canary_share: _Optional[float] = ..., rollout: _Optional[str] = ..., autoscale: _Optional[str] = ...) -> None: ...

class Collection(_message.Message):
    __slots__ = ("chunks", "documents", "index", "encoder")
    CHUNKS_FIELD_NUMBER: _ClassVar[int]
    DOCUMENTS_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    ENCODER_FIELD_NUMBER: _ClassVar[int]
    chunks: int
    documents: int
    index: str
    encoder: str
    def __init__(self, chunks: _Optional[int] = ..., documents: _Optional[int] = ..., index: _Optional[str] = ..., encoder: _Optional[str] = ...) -> None: ...

class Route(_message.Message):
    __slots__ = ("name", "task", "domains", "candidates", "min_confidence")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    DOMAINS_FIELD_NUMBER: _ClassVar[int]
    CANDIDATES_FIELD_NUMBER: _ClassVar[int]
    MIN_CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    name: str
    task: str
    domains: _containers.RepeatedScalarFieldContainer[str]
    candidates: _containers.RepeatedScalarFieldContainer[str]
    min_confidence: float
    def __init__(self, name: _Optional[str] = ..., task: _Optional[str] = ..., domains: _Optional[_Iterable[str]] = ..., candidates: _Optional[_Iterable[str]] = ..., min_confidence: _Optional[float] = ...) -> None: ...

class HostedEndpoint(_message.Message):
    __slots__ = ("name", "base_url", "model", "stand_in", "circuit", "replay")
    NAME_FIELD_NUMBER: _ClassVar[int]
    BASE_URL_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    STAND_IN_FIELD_NUMBER: _ClassVar[int]
    CIRCUIT_FIELD_NUMBER: _ClassVar[int]
    REPLAY_FIELD_NUMBER: _ClassVar[int]
    name: str
    base_url: str
    model: str
    stand_in: bool
    circuit: str
    replay: str
    def __init__(self, name: _Optional[str] = ..., base_url: _Optional[str] = ..., model: _Optional[str] = ..., stand_in: bool = ..., circuit: _Optional[str] = ..., replay: _Optional[str] = ...) -> None: ...

class Traffic(_message.Message):
    __slots__ = ("rps", "requests", "edge", "hosted", "errors", "escalations", "spend_usd", "hosted_equivalent_usd", "saved_usd", "rps_history", "p50_ms", "p95_ms", "generation")
    class EscalationsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    RPS_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    EDGE_FIELD_NUMBER: _ClassVar[int]
    HOSTED_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    ESCALATIONS_FIELD_NUMBER: _ClassVar[int]
    SPEND_USD_FIELD_NUMBER: _ClassVar[int]
    HOSTED_EQUIVALENT_USD_FIELD_NUMBER: _ClassVar[int]
    SAVED_USD_FIELD_NUMBER: _ClassVar[int]
    RPS_HISTORY_FIELD_NUMBER: _ClassVar[int]
    P50_MS_FIELD_NUMBER: _ClassVar[int]
    P95_MS_FIELD_NUMBER: _ClassVar[int]
    GENERATION_FIELD_NUMBER: _ClassVar[int]
    rps: float
    requests: int
    edge: int
    hosted: int
    errors: int
    escalations: _containers.ScalarMap[str, int]
    spend_usd: float
    hosted_equivalent_usd: float
    saved_usd: float
    rps_history: _containers.RepeatedScalarFieldContainer[float]
    p50_ms: float
    p95_ms: float
    generation: Generation
    def __init__(self, rps: _Optional[float] = ..., requests: _Optional[int] = ..., edge: _Optional[int] = ..., hosted: _Optional[int] = ..., errors: _Optional[int] = ..., escalations: _Optional[_Mapping[str, int]] = ..., spend_usd: _Optional[float] = ..., hosted_equivalent_usd: _Optional[float] = ..., saved_usd: _Optional[float] = ..., rps_history: _Optional[_Iterable[float]] = ..., p50_ms: _Optional[float] = ..., p95_ms: _Optional[float] = ..., generation: _Optional[_Union[Generation, _Mapping]] = ...) -> None: ...

class Generation(_message.Message):
    __slots__ = ("requests", "edge", "hosted", "cancelled", "retractions", "edge_prompt_tokens", "edge_completion_tokens", "hosted_prompt_tokens", "hosted_completion_tokens", "shadow")
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    EDGE_FIELD_NUMBER: _ClassVar[int]
    HOSTED_FIELD_NUMBER: _ClassVar[int]
    CANCELLED_FIELD_NUMBER: _ClassVar[int]
    RETRACTIONS_FIELD_NUMBER: _ClassVar[int]
    EDGE_PROMPT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    EDGE_COMPLETION_TOKENS_FIELD_NUMBER: _ClassVar[int]
    HOSTED_PROMPT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    HOSTED_COMPLETION_TOKENS_FIELD_NUMBER: _ClassVar[int]
    SHADOW_FIELD_NUMBER: _ClassVar[int]
    requests: int
    edge: int
    hosted: int
    cancelled: int
    retractions: int
    edge_prompt_tokens: int
    edge_completion_tokens: int
    hosted_prompt_tokens: int
    hosted_completion_tokens: int
    shadow: ShadowTraffic
    def __init__(self, requests: _Optional[int] = ..., edge: _Optional[int] = ..., hosted: _Optional[int] = ..., cancelled: _Optional[int] = ..., retractions: _Optional[int] = ..., edge_prompt_tokens: _Optional[int] = ..., edge_completion_tokens: _Optional[int] = ..., hosted_prompt_tokens: _Optional[int] = ..., hosted_completion_tokens: _Optional[int] = ..., shadow: _Optional[_Union[ShadowTraffic, _Mapping]] = ...) -> None: ...

class ShadowTraffic(_message.Message):
    __slots__ = ("requests", "agreement_f1", "spend_usd", "skipped_budget", "failed")
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    AGREEMENT_F1_FIELD_NUMBER: _ClassVar[int]
    SPEND_USD_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_BUDGET_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    requests: int
    agreement_f1: float
    spend_usd: float
    skipped_budget: int
    failed: int
    def __init__(self, requests: _Optional[int] = ..., agreement_f1: _Optional[float] = ..., spend_usd: _Optional[float] = ..., skipped_budget: _Optional[int] = ..., failed: _Optional[int] = ...) -> None: ...

class RequestTrace(_message.Message):
    __slots__ = ("request_id", "unix_ms", "route", "domain", "text", "label", "confidence", "served_by", "cost_usd", "latency_ms", "trace")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    ROUTE_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    SERVED_BY_FIELD_NUMBER: _ClassVar[int]
    COST_USD_FIELD_NUMBER: _ClassVar[int]
    LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    TRACE_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    unix_ms: float
    route: str
    domain: str
    text: str
    label: str
    confidence: float
    served_by: _common_pb2.ServedBy
    cost_usd: float
    latency_ms: float
    trace: _containers.RepeatedCompositeFieldContainer[_common_pb2.TraceStep]
    def __init__(self, request_id: _Optional[str] = ..., unix_ms: _Optional[float] = ..., route: _Optional[str] = ..., domain: _Optional[str] = ..., text: _Optional[str] = ..., label: _Optional[str] = ..., confidence: _Optional[float] = ..., served_by: _Optional[_Union[_common_pb2.ServedBy, _Mapping]] = ..., cost_usd: _Optional[float] = ..., latency_ms: _Optional[float] = ..., trace: _Optional[_Iterable[_Union[_common_pb2.TraceStep, _Mapping]]] = ...) -> None: ...

class FleetSnapshot(_message.Message):
    __slots__ = ("version", "unix_ms", "nodes", "deployments", "routes", "hosted", "traffic", "recent", "policy_path", "policy_sha256", "logs", "fleet_status", "fleet_status_reason", "fleet_view_age_s", "events", "degraded")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    NODES_FIELD_NUMBER: _ClassVar[int]
    DEPLOYMENTS_FIELD_NUMBER: _ClassVar[int]
    ROUTES_FIELD_NUMBER: _ClassVar[int]
    HOSTED_FIELD_NUMBER: _ClassVar[int]
    TRAFFIC_FIELD_NUMBER: _ClassVar[int]
    RECENT_FIELD_NUMBER: _ClassVar[int]
    POLICY_PATH_FIELD_NUMBER: _ClassVar[int]
    POLICY_SHA256_FIELD_NUMBER: _ClassVar[int]
    LOGS_FIELD_NUMBER: _ClassVar[int]
    FLEET_STATUS_FIELD_NUMBER: _ClassVar[int]
    FLEET_STATUS_REASON_FIELD_NUMBER: _ClassVar[int]
    FLEET_VIEW_AGE_S_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    DEGRADED_FIELD_NUMBER: _ClassVar[int]
    version: int
    unix_ms: float
    nodes: _containers.RepeatedCompositeFieldContainer[Node]
    deployments: _containers.RepeatedCompositeFieldContainer[Deployment]
    routes: _containers.RepeatedCompositeFieldContainer[Route]
    hosted: _containers.RepeatedCompositeFieldContainer[HostedEndpoint]
    traffic: Traffic
    recent: _containers.RepeatedCompositeFieldContainer[RequestTrace]
    policy_path: str
    policy_sha256: str
    logs: RouterLogs
    fleet_status: str
    fleet_status_reason: str
    fleet_view_age_s: float
    events: _containers.RepeatedScalarFieldContainer[str]
    degraded: Degraded
    def __init__(self, version: _Optional[int] = ..., unix_ms: _Optional[float] = ..., nodes: _Optional[_Iterable[_Union[Node, _Mapping]]] = ..., deployments: _Optional[_Iterable[_Union[Deployment, _Mapping]]] = ..., routes: _Optional[_Iterable[_Union[Route, _Mapping]]] = ..., hosted: _Optional[_Iterable[_Union[HostedEndpoint, _Mapping]]] = ..., traffic: _Optional[_Union[Traffic, _Mapping]] = ..., recent: _Optional[_Iterable[_Union[RequestTrace, _Mapping]]] = ..., policy_path: _Optional[str] = ..., policy_sha256: _Optional[str] = ..., logs: _Optional[_Union[RouterLogs, _Mapping]] = ..., fleet_status: _Optional[str] = ..., fleet_status_reason: _Optional[str] = ..., fleet_view_age_s: _Optional[float] = ..., events: _Optional[_Iterable[str]] = ..., degraded: _Optional[_Union[Degraded, _Mapping]] = ...) -> None: ...

class RouterLogs(_message.Message):
    __slots__ = ("escalation_log", "escalation_written", "escalation_write_errors", "escalation_last_error", "ledger_write_errors")
    ESCALATION_LOG_FIELD_NUMBER: _ClassVar[int]
    ESCALATION_WRITTEN_FIELD_NUMBER: _ClassVar[int]
    ESCALATION_WRITE_ERRORS_FIELD_NUMBER: _ClassVar[int]
    ESCALATION_LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    LEDGER_WRITE_ERRORS_FIELD_NUMBER: _ClassVar[int]
    escalation_log: str
    escalation_written: int
    escalation_write_errors: int
    escalation_last_error: str
    ledger_write_errors: int
    def __init__(self, escalation_log: _Optional[str] = ..., escalation_written: _Optional[int] = ..., escalation_write_errors: _Optional[int] = ..., escalation_last_error: _Optional[str] = ..., ledger_write_errors: _Optional[int] = ...) -> None: ...

class Degraded(_message.Message):
    __slots__ = ("active", "reason", "answers", "answers_last_minute", "by_reason", "deferred_queued", "deferred_sent", "deferred_refused")
    class ByReasonEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ANSWERS_FIELD_NUMBER: _ClassVar[int]
    ANSWERS_LAST_MINUTE_FIELD_NUMBER: _ClassVar[int]
    BY_REASON_FIELD_NUMBER: _ClassVar[int]
    DEFERRED_QUEUED_FIELD_NUMBER: _ClassVar[int]
    DEFERRED_SENT_FIELD_NUMBER: _ClassVar[int]
    DEFERRED_REFUSED_FIELD_NUMBER: _ClassVar[int]
    active: bool
    reason: str
    answers: int
    answers_last_minute: int
    by_reason: _containers.ScalarMap[str, int]
    deferred_queued: int
    deferred_sent: int
    deferred_refused: int
    def __init__(self, active: bool = ..., reason: _Optional[str] = ..., answers: _Optional[int] = ..., answers_last_minute: _Optional[int] = ..., by_reason: _Optional[_Mapping[str, int]] = ..., deferred_queued: _Optional[int] = ..., deferred_sent: _Optional[int] = ..., deferred_refused: _Optional[int] = ...) -> None: ...

class FleetEvent(_message.Message):
    __slots__ = ("snapshot", "message")
    SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    snapshot: FleetSnapshot
    message: str
    def __init__(self, snapshot: _Optional[_Union[FleetSnapshot, _Mapping]] = ..., message: _Optional[str] = ...) -> None: ...

class ScaleRequest(_message.Message):
    __slots__ = ("deployment", "replicas")
    DEPLOYMENT_FIELD_NUMBER: _ClassVar[int]
    REPLICAS_FIELD_NUMBER: _ClassVar[int]
    deployment: str
    replicas: int
    def __init__(self, deployment: _Optional[str] = ..., replicas: _Optional[int] = ...) -> None: ...

class DrainRequest(_message.Message):
    __slots__ = ("node", "undrain")
    NODE_FIELD_NUMBER: _ClassVar[int]
    UNDRAIN_FIELD_NUMBER: _ClassVar[int]
    node: str
    undrain: bool
    def __init__(self, node: _Optional[str] = ..., undrain: bool = ...) -> None: ...

class ReloadPolicyRequest(_message.Message):
    __slots__ = ("yaml",)
    YAML_FIELD_NUMBER: _ClassVar[int]
    yaml: str
    def __init__(self, yaml: _Optional[str] = ...) -> None: ...

class ActionResult(_message.Message):
    __slots__ = ("ok", "message", "snapshot_version")
    OK_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_VERSION_FIELD_NUMBER: _ClassVar[int]
    ok: bool
    message: str
    snapshot_version: int
    def __init__(self, ok: bool = ..., message: _Optional[str] = ..., snapshot_version: _Optional[int] = ...) -> None: ...
