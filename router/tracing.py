"""OpenTelemetry traces of routed requests (``router.tracing`` in the policy; off by default).

A request's root span (``edgefleet.v1.Router/Infer``, ``.../Generate``, or the front door's
``POST /v1/...``) continues the caller's W3C ``traceparent`` (gRPC metadata or HTTP header) when
there is one. Its children are the route's steps: ``validate``, ``domain_detection``, one
``edge_call`` / ``hosted_call`` per target tried (whose own ``traceparent`` goes to the replica as
gRPC metadata and to the hosted endpoint as an HTTP header) and ``escalate`` (instant, with the
reason). Spans are started with an explicit parent and never made "current", so they may stay
open across the yields of a streamed generation.

When tracing is off, :data:`NO_TRACE` stands in for a request's trace: its methods do nothing and
no span object is ever created (one attribute check per step).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from edgefleet.policy.schema import TracingConfig

log = logging.getLogger(__name__)

TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"
_PROPAGATOR = TraceContextTextMapPropagator()


class _NullStep:
    """The step of a request that is not traced: a reusable no-op context manager."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


_NULL_STEP = _NullStep()


class NullTrace:
    """A request that is not traced."""

    enabled = False
    trace_id = ""

    def step(self, name: str, attributes: Mapping[str, Any] | None = None) -> _NullStep:
        """No span."""
        return _NULL_STEP

    def mark(self, name: str, attributes: Mapping[str, Any]) -> None:
        """No span."""

    def headers(self, span: Any) -> None:
        """Nothing to propagate."""
        return

    def end(self, error: BaseException | None = None, attributes: Mapping[str, Any] | None = None) -> None:
        """Nothing to end."""


NO_TRACE = NullTrace()


class _Step:
    """One child span of a request, started on ``__enter__`` with the request's root as parent and
    ended on ``__exit__`` (errors recorded on it)."""

    __slots__ = ("_attributes", "_name", "_trace", "span")

    def __init__(self, trace: RequestTrace, name: str, attributes: Mapping[str, Any] | None) -> None:
        self._trace = trace
        self._name = name
        self._attributes = attributes
        self.span: Any = None

    def __enter__(self) -> Any:
        t = self._trace
        self.span = t.tracer.start_span(self._name, context=t.context, attributes=self._attributes)
        return self.span

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is not None:
            _record_error(self.span, exc)
        self.span.end()


class RequestTrace:
    """The spans of one traced request: the root and its steps."""

    enabled = True

    def __init__(self, tracer: Any, span: Any) -> None:
        self.tracer = tracer
        self.span = span
        self.context = trace.set_span_in_context(span)
        self.trace_id = format(span.get_span_context().trace_id, "032x")

    def step(self, name: str, attributes: Mapping[str, Any] | None = None) -> _Step:
        """A child span around one step (``with trace.step("edge_call", {...}) as span:``)."""
        return _Step(self, name, attributes)

    def mark(self, name: str, attributes: Mapping[str, Any]) -> None:
        """An instant step (a decision, e.g. ``escalate`` with its reason)."""
        self.tracer.start_span(name, context=self.context, attributes=attributes).end()

    def headers(self, span: Any) -> dict[str, str] | None:
        """The W3C ``traceparent`` (and ``tracestate``) of `span`, for the next hop."""
        if span is None:
            return None
        carrier: dict[str, str] = {}
        _PROPAGATOR.inject(carrier, trace.set_span_in_context(span))
        return carrier

    def end(self, error: BaseException | None = None, attributes: Mapping[str, Any] | None = None) -> None:
        """End the root span (with the request's outcome)."""
        if attributes:
            self.span.set_attributes(attributes)
        if error is not None:
            _record_error(self.span, error)
        self.span.end()


Trace = RequestTrace | NullTrace


def _record_error(span: Any, exc: BaseException) -> None:
    code = getattr(exc, "code", None)
    span.set_attribute("edgefleet.error_code", code if isinstance(code, str) else type(exc).__name__)
    span.set_status(Status(StatusCode.ERROR, str(exc)[:200]))


class Tracing:
    """The router's tracer provider (its own, not OpenTelemetry's global one) and exporter.
    ``Tracing(config)`` from the policy, or ``Tracing(exporter=...)`` in tests (the SDK's
    ``InMemorySpanExporter``, exported synchronously)."""

    def __init__(
        self,
        config: TracingConfig | None = None,
        *,
        exporter: Any = None,
        batch: bool = False,
        service_name: str = "edgefleet-router",
    ) -> None:
        """`exporter` (a SpanExporter) overrides the policy's, exported synchronously unless
        `batch` (as the policy's exporters are)."""
        self.enabled = False
        self._provider: Any = None
        self._tracer: Any = None
        config = config or TracingConfig()
        if exporter is None and config.exporter == "none":
            return
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
        from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

        sampler = ParentBased(TraceIdRatioBased(config.sample_ratio))
        resource = Resource.create({"service.name": config.service_name or service_name})
        self._provider = TracerProvider(resource=resource, sampler=sampler)
        if exporter is not None:
            processor = BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter)
            self._provider.add_span_processor(processor)
        else:
            self._provider.add_span_processor(BatchSpanProcessor(_exporter_of(config)))
        self._tracer = self._provider.get_tracer("edgefleet.router")
        self.enabled = True

    def start(
        self, name: str, traceparent: str | None = None, attributes: Mapping[str, Any] | None = None
    ) -> Trace:
        """The trace of a new request, continuing `traceparent` when it is valid (NO_TRACE when
        tracing is off)."""
        if not self.enabled:
            return NO_TRACE
        parent = _PROPAGATOR.extract({TRACEPARENT: traceparent}) if traceparent else None
        span = self._tracer.start_span(name, context=parent, kind=SpanKind.SERVER, attributes=attributes)
        return RequestTrace(self._tracer, span)

    def shutdown(self) -> None:
        """Export what is buffered and stop the exporter."""
        if self._provider is not None:
            self._provider.shutdown()
            self._provider = None
            self.enabled = False


def traceparent_of(pairs: Sequence[tuple[str, Any]] | None) -> str | None:
    """The ``traceparent`` value among gRPC metadata or HTTP header pairs (None when absent)."""
    for key, value in pairs or ():
        if key.lower() == TRACEPARENT:
            return value.decode("latin-1") if isinstance(value, bytes) else str(value)
    return None


def _exporter_of(config: TracingConfig) -> Any:
    """The span exporter the policy names (console, or OTLP over HTTP when installed)."""
    if config.exporter == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError as exc:
        raise RuntimeError(
            "router.tracing.exporter is 'otlp' but the OTLP exporter is not installed: "
            "pip install 'edgefleet[otlp]' (opentelemetry-exporter-otlp-proto-http)"
        ) from exc
    return OTLPSpanExporter(endpoint=config.endpoint) if config.endpoint else OTLPSpanExporter()
