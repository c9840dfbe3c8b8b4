"""Traces of routed requests with the OpenTelemetry SDK's in-memory exporter: the caller's
traceparent is continued, every route step is a span, each target call's traceparent goes to the
target, the trace id comes back in the result; off, no span is ever created."""

from __future__ import annotations

import random

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from edgefleet.policy.schema import TracingConfig
from protos.edgefleet.v1 import router_pb2
from router.accounting import Accounting
from router.auth import ApiKeys
from router.domain import InferInput
from router.engine import RouterEngine
from router.fleet_source import StaticFleet
from router.servicer import RouterServicer
from router.tracing import NO_TRACE, Tracing, traceparent_of
from tests.unit.generate_fakes import gen_engine, gen_input
from tests.unit.router_fakes import FakeEdge, FakeHosted, make_policy, make_state
from tests.unit.test_servicer import FakeContext

CALLER_TRACE = "0af7651916cd43dd8448eb211c80319c"
CALLER_PARENT = f"00-{CALLER_TRACE}-b7ad6b7169203331-01"


def _servicer(tracing: Tracing) -> tuple[RouterServicer, FakeEdge, FakeHosted]:
    edge, hosted = FakeEdge(), FakeHosted()
    engine = RouterEngine(
        make_policy(),
        StaticFleet(make_state()),
        edge,
        {"big": hosted},
        accounting=Accounting(None),
        rng=random.Random(0),
        tracing=tracing,
    )
    return RouterServicer(engine, lambda: ApiKeys()), edge, hosted


def _parent_of(headers: dict[str, str] | None) -> str:
    assert headers is not None
    version, trace_id, span_id, flags = headers["traceparent"].split("-")
    assert (version, trace_id, flags) == ("00", CALLER_TRACE, "01")
    return span_id


async def test_infer_continues_the_callers_trace_with_a_span_per_step() -> None:
    exporter = InMemorySpanExporter()
    servicer, edge, hosted = _servicer(Tracing(exporter=exporter))
    msg = router_pb2.InferRequest(request_id="r1", task="classify", text="please transfer money, unsure")
    response = await servicer.Infer(msg, FakeContext([("traceparent", CALLER_PARENT)]))  # type: ignore[arg-type]
    assert response.results[0].trace_id == CALLER_TRACE
    spans = {s.name: s for s in exporter.get_finished_spans()}
    root = spans["edgefleet.v1.Router/Infer"]
    assert format(root.parent.span_id, "016x") == "b7ad6b7169203331"  # the caller's span
    assert {"validate", "domain_detection", "edge_call", "escalate", "hosted_call"} <= set(spans)
    for span in exporter.get_finished_spans():
        assert format(span.context.trace_id, "032x") == CALLER_TRACE
        if span is not root:
            assert span.parent.span_id == root.context.span_id
    calls = [s for s in exporter.get_finished_spans() if s.name == "edge_call"]
    sent = [_parent_of(dict(md) if md else None) for md in edge.metadata]
    assert sent == [format(s.context.span_id, "016x") for s in calls]  # each call its own span
    hosted_span = spans["hosted_call"]
    assert _parent_of(dict(hosted.headers[0] or {})) == format(hosted_span.context.span_id, "016x")
    assert hosted_span.attributes["edgefleet.target"] == "hosted:big"
    assert spans["escalate"].attributes["edgefleet.reason"]


async def test_a_request_without_traceparent_starts_a_new_trace() -> None:
    exporter = InMemorySpanExporter()
    servicer, _, _ = _servicer(Tracing(exporter=exporter))
    msg = router_pb2.InferRequest(request_id="r1", task="classify", text="what is my balance")
    response = await servicer.Infer(msg, FakeContext())  # type: ignore[arg-type]
    root = next(s for s in exporter.get_finished_spans() if s.name == "edgefleet.v1.Router/Infer")
    assert root.parent is None and response.results[0].trace_id == format(root.context.trace_id, "032x")


async def test_validation_failure_ends_the_trace_with_an_error() -> None:
    exporter = InMemorySpanExporter()
    servicer, _, _ = _servicer(Tracing(exporter=exporter))
    msg = router_pb2.InferRequest(request_id="r1", task="classify", text="")
    with pytest.raises(Exception, match="text"):
        await servicer.Infer(msg, FakeContext())  # type: ignore[arg-type]
    spans = {s.name: s for s in exporter.get_finished_spans()}
    assert not spans["validate"].status.is_ok and not spans["edgefleet.v1.Router/Infer"].status.is_ok
    assert spans["validate"].attributes["edgefleet.error_code"] == "INVALID_ARGUMENT"


async def test_tracing_off_creates_no_span_and_sends_no_traceparent(monkeypatch: pytest.MonkeyPatch) -> None:
    tracing = Tracing(TracingConfig())  # exporter: none, the default
    assert not tracing.enabled and tracing.start("x", CALLER_PARENT) is NO_TRACE

    def no_spans(*args: object, **kwargs: object) -> None:
        raise AssertionError("a span was created with tracing off")

    monkeypatch.setattr("opentelemetry.sdk.trace.Tracer.start_span", no_spans)
    servicer, edge, hosted = _servicer(tracing)
    msg = router_pb2.InferRequest(request_id="r1", task="classify", text="please transfer money, unsure")
    response = await servicer.Infer(msg, FakeContext([("traceparent", CALLER_PARENT)]))  # type: ignore[arg-type]
    assert response.results[0].trace_id == ""
    assert edge.metadata and all(md is None for md in edge.metadata)
    assert hosted.headers == [None]


async def test_generation_spans_and_the_trace_id_in_the_final_event() -> None:
    exporter = InMemorySpanExporter()
    tracing = Tracing(exporter=exporter)
    engine, edge, _ = gen_engine()
    trace = tracing.start("edgefleet.v1.Router/Generate", CALLER_PARENT)
    req = gen_input()
    req = type(req)(**{**req.__dict__, "trace": trace})
    events = [e async for e in engine.generate(req)]
    trace.end()
    assert events[-1].trace_id == CALLER_TRACE  # type: ignore[union-attr]
    call = next(s for s in exporter.get_finished_spans() if s.name == "edge_call")
    assert call.attributes["edgefleet.outcome"] == "ok"
    assert _parent_of(dict(edge.metadata[0] or {})) == format(call.context.span_id, "016x")


def test_traceparent_of_reads_grpc_metadata_and_http_headers() -> None:
    assert traceparent_of([("x", "1"), ("TraceParent", CALLER_PARENT)]) == CALLER_PARENT
    assert traceparent_of([("traceparent", CALLER_PARENT.encode())]) == CALLER_PARENT
    assert traceparent_of(None) is None and traceparent_of([]) is None


def test_an_otlp_exporter_without_its_package_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def fake_import(name: str, *args: object, **kwargs: object) -> object:
        if name.startswith("opentelemetry.exporter.otlp"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(RuntimeError, match="opentelemetry-exporter-otlp-proto-http"):
        Tracing(TracingConfig(exporter="otlp"))


def test_unused_input_keeps_its_trace_out_of_equality() -> None:
    a = InferInput("r", "classify", ("x",))
    b = InferInput("r", "classify", ("x",), trace=NO_TRACE)
    assert a == b
