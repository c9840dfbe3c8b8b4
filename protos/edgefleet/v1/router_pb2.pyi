from protos.edgefleet.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Constraints(_message.Message):
    __slots__ = ("max_latency_ms", "max_cost_usd", "min_confidence")
    MAX_LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    MAX_COST_USD_FIELD_NUMBER: _ClassVar[int]
    MIN_CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    max_latency_ms: float
    max_cost_usd: float
    min_confidence: float
    def __init__(self, max_latency_ms: _Optional[float] = ..., max_cost_usd: _Optional[float] = ..., min_confidence: _Optional[float] = ...) -> None: ...

class InferRequest(_message.Message):
    __slots__ = ("request_id", "task", "text", "texts", "domain", "constraints", "route")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    TEXTS_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    CONSTRAINTS_FIELD_NUMBER: _ClassVar[int]
    ROUTE_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    task: str
    text: str
    texts: _containers.RepeatedScalarFieldContainer[str]
    domain: str
    constraints: Constraints
    route: str
    def __init__(self, request_id: _Optional[str] = ..., task: _Optional[str] = ..., text: _Optional[str] = ..., texts: _Optional[_Iterable[str]] = ..., domain: _Optional[str] = ..., constraints: _Optional[_Union[Constraints, _Mapping]] = ..., route: _Optional[str] = ...) -> None: ...

class LabelScore(_message.Message):
    __slots__ = ("label", "score")
    LABEL_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    label: str
    score: float
    def __init__(self, label: _Optional[str] = ..., score: _Optional[float] = ...) -> None: ...

class Classification(_message.Message):
    __slots__ = ("label", "scores")
    LABEL_FIELD_NUMBER: _ClassVar[int]
    SCORES_FIELD_NUMBER: _ClassVar[int]
    label: str
    scores: _containers.RepeatedCompositeFieldContainer[LabelScore]
    def __init__(self, label: _Optional[str] = ..., scores: _Optional[_Iterable[_Union[LabelScore, _Mapping]]] = ...) -> None: ...

class Embedding(_message.Message):
    __slots__ = ("values",)
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, values: _Optional[_Iterable[float]] = ...) -> None: ...

class Result(_message.Message):
    __slots__ = ("classification", "embedding", "confidence", "served_by", "cost_usd", "latency_ms", "trace", "domain", "route", "trace_id", "degraded", "degraded_reason")
    CLASSIFICATION_FIELD_NUMBER: _ClassVar[int]
    EMBEDDING_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    SERVED_BY_FIELD_NUMBER: _ClassVar[int]
    COST_USD_FIELD_NUMBER: _ClassVar[int]
    LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    TRACE_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    ROUTE_FIELD_NUMBER: _ClassVar[int]
    TRACE_ID_FIELD_NUMBER: _ClassVar[int]
    DEGRADED_FIELD_NUMBER: _ClassVar[int]
    DEGRADED_REASON_FIELD_NUMBER: _ClassVar[int]
    classification: Classification
    embedding: Embedding
    confidence: float
    served_by: _common_pb2.ServedBy
    cost_usd: float
    latency_ms: float
    trace: _containers.RepeatedCompositeFieldContainer[_common_pb2.TraceStep]
    domain: str
    route: str
    trace_id: str
    degraded: bool
    degraded_reason: str
    def __init__(self, classification: _Optional[_Union[Classification, _Mapping]] = ..., embedding: _Optional[_Union[Embedding, _Mapping]] = ..., confidence: _Optional[float] = ..., served_by: _Optional[_Union[_common_pb2.ServedBy, _Mapping]] = ..., cost_usd: _Optional[float] = ..., latency_ms: _Optional[float] = ..., trace: _Optional[_Iterable[_Union[_common_pb2.TraceStep, _Mapping]]] = ..., domain: _Optional[str] = ..., route: _Optional[str] = ..., trace_id: _Optional[str] = ..., degraded: bool = ..., degraded_reason: _Optional[str] = ...) -> None: ...

class Error(_message.Message):
    __slots__ = ("code", "message")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    code: str
    message: str
    def __init__(self, code: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class InferResponse(_message.Message):
    __slots__ = ("request_id", "results", "cost_usd", "latency_ms", "error")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    COST_USD_FIELD_NUMBER: _ClassVar[int]
    LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    results: _containers.RepeatedCompositeFieldContainer[Result]
    cost_usd: float
    latency_ms: float
    error: Error
    def __init__(self, request_id: _Optional[str] = ..., results: _Optional[_Iterable[_Union[Result, _Mapping]]] = ..., cost_usd: _Optional[float] = ..., latency_ms: _Optional[float] = ..., error: _Optional[_Union[Error, _Mapping]] = ...) -> None: ...

class ChatMessage(_message.Message):
    __slots__ = ("role", "content")
    ROLE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    role: str
    content: str
    def __init__(self, role: _Optional[str] = ..., content: _Optional[str] = ...) -> None: ...

class GenerateConstraints(_message.Message):
    __slots__ = ("max_time_to_first_token_ms", "max_latency_ms", "max_cost_usd", "min_confidence")
    MAX_TIME_TO_FIRST_TOKEN_MS_FIELD_NUMBER: _ClassVar[int]
    MAX_LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    MAX_COST_USD_FIELD_NUMBER: _ClassVar[int]
    MIN_CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    max_time_to_first_token_ms: float
    max_latency_ms: float
    max_cost_usd: float
    min_confidence: float
    def __init__(self, max_time_to_first_token_ms: _Optional[float] = ..., max_latency_ms: _Optional[float] = ..., max_cost_usd: _Optional[float] = ..., min_confidence: _Optional[float] = ...) -> None: ...

class GenerateRequest(_message.Message):
    __slots__ = ("request_id", "messages", "max_tokens", "temperature", "top_p", "stop", "seed", "constraints", "route", "domain", "allow_retraction")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_FIELD_NUMBER: _ClassVar[int]
    MAX_TOKENS_FIELD_NUMBER: _ClassVar[int]
    TEMPERATURE_FIELD_NUMBER: _ClassVar[int]
    TOP_P_FIELD_NUMBER: _ClassVar[int]
    STOP_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    CONSTRAINTS_FIELD_NUMBER: _ClassVar[int]
    ROUTE_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    ALLOW_RETRACTION_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    messages: _containers.RepeatedCompositeFieldContainer[ChatMessage]
    max_tokens: int
    temperature: float
    top_p: float
    stop: _containers.RepeatedScalarFieldContainer[str]
    seed: int
    constraints: GenerateConstraints
    route: str
    domain: str
    allow_retraction: bool
    def __init__(self, request_id: _Optional[str] = ..., messages: _Optional[_Iterable[_Union[ChatMessage, _Mapping]]] = ..., max_tokens: _Optional[int] = ..., temperature: _Optional[float] = ..., top_p: _Optional[float] = ..., stop: _Optional[_Iterable[str]] = ..., seed: _Optional[int] = ..., constraints: _Optional[_Union[GenerateConstraints, _Mapping]] = ..., route: _Optional[str] = ..., domain: _Optional[str] = ..., allow_retraction: bool = ...) -> None: ...

class TextDelta(_message.Message):
    __slots__ = ("text",)
    TEXT_FIELD_NUMBER: _ClassVar[int]
    text: str
    def __init__(self, text: _Optional[str] = ...) -> None: ...

class Retraction(_message.Message):
    __slots__ = ("chars", "reason")
    CHARS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    chars: int
    reason: str
    def __init__(self, chars: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class GenerateResult(_message.Message):
    __slots__ = ("text", "served_by", "prompt_tokens", "completion_tokens", "cost_usd", "confidence", "finish_reason", "latency_ms", "time_to_first_token_ms", "trace", "route", "domain", "trace_id", "citations", "degraded", "degraded_reason")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    SERVED_BY_FIELD_NUMBER: _ClassVar[int]
    PROMPT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COMPLETION_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COST_USD_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    FINISH_REASON_FIELD_NUMBER: _ClassVar[int]
    LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    TIME_TO_FIRST_TOKEN_MS_FIELD_NUMBER: _ClassVar[int]
    TRACE_FIELD_NUMBER: _ClassVar[int]
    ROUTE_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    TRACE_ID_FIELD_NUMBER: _ClassVar[int]
    CITATIONS_FIELD_NUMBER: _ClassVar[int]
    DEGRADED_FIELD_NUMBER: _ClassVar[int]
    DEGRADED_REASON_FIELD_NUMBER: _ClassVar[int]
    text: str
    served_by: _common_pb2.ServedBy
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    confidence: float
    finish_reason: str
    latency_ms: float
    time_to_first_token_ms: float
    trace: _containers.RepeatedCompositeFieldContainer[_common_pb2.TraceStep]
    route: str
    domain: str
    trace_id: str
    citations: _containers.RepeatedCompositeFieldContainer[Citation]
    degraded: bool
    degraded_reason: str
    def __init__(self, text: _Optional[str] = ..., served_by: _Optional[_Union[_common_pb2.ServedBy, _Mapping]] = ..., prompt_tokens: _Optional[int] = ..., completion_tokens: _Optional[int] = ..., cost_usd: _Optional[float] = ..., confidence: _Optional[float] = ..., finish_reason: _Optional[str] = ..., latency_ms: _Optional[float] = ..., time_to_first_token_ms: _Optional[float] = ..., trace: _Optional[_Iterable[_Union[_common_pb2.TraceStep, _Mapping]]] = ..., route: _Optional[str] = ..., domain: _Optional[str] = ..., trace_id: _Optional[str] = ..., citations: _Optional[_Iterable[_Union[Citation, _Mapping]]] = ..., degraded: bool = ..., degraded_reason: _Optional[str] = ...) -> None: ...

class Citation(_message.Message):
    __slots__ = ("index", "collection", "version", "document", "chunk", "title", "score")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    index: int
    collection: str
    version: str
    document: str
    chunk: int
    title: str
    score: float
    def __init__(self, index: _Optional[int] = ..., collection: _Optional[str] = ..., version: _Optional[str] = ..., document: _Optional[str] = ..., chunk: _Optional[int] = ..., title: _Optional[str] = ..., score: _Optional[float] = ...) -> None: ...

class GenerateResponse(_message.Message):
    __slots__ = ("request_id", "delta", "retraction", "final")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    DELTA_FIELD_NUMBER: _ClassVar[int]
    RETRACTION_FIELD_NUMBER: _ClassVar[int]
    FINAL_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    delta: TextDelta
    retraction: Retraction
    final: GenerateResult
    def __init__(self, request_id: _Optional[str] = ..., delta: _Optional[_Union[TextDelta, _Mapping]] = ..., retraction: _Optional[_Union[Retraction, _Mapping]] = ..., final: _Optional[_Union[GenerateResult, _Mapping]] = ...) -> None: ...
