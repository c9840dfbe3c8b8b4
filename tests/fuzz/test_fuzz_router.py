"""Fuzzing the live router's edgefleet.v1.Router service over gRPC: Infer, InferStream and Generate
with generated messages and their broken wire bytes, under random keys. Every input must get a
well-formed status within the deadline, and the router must keep answering."""

from __future__ import annotations

import time

import grpc
import pytest
from hypothesis import given
from hypothesis import strategies as st

from protos.edgefleet.v1 import router_pb2
from tests.fuzz import strategies as fz
from tests.fuzz.live import APP_KEY, OPS_KEY, POOR_KEY, LiveServers
from tests.fuzz.tally import CLIENT_TIMEOUT_S, FUZZ_SETTINGS, TALLY

pytestmark = pytest.mark.integration
KEYS = st.sampled_from([APP_KEY] * 6 + [OPS_KEY, POOR_KEY, "wrong-key", None])
IDENTITY = {"request_serializer": lambda b: b, "response_deserializer": lambda b: b}


@pytest.fixture(scope="module")
def channel(live: LiveServers) -> grpc.Channel:
    options = [("grpc.max_send_message_length", 8 << 20)]
    with grpc.insecure_channel(live.router.address, options=options) as ch:
        yield ch


def _metadata(key: str | None) -> tuple[tuple[str, str], ...]:
    return () if key is None else (("authorization", f"Bearer {key}"),)


def _unary(channel: grpc.Channel, surface: str, method: str, payload: bytes, key: str | None) -> str:
    call = channel.unary_unary(method, **IDENTITY)
    start = time.monotonic()
    try:
        call(payload, timeout=CLIENT_TIMEOUT_S, metadata=_metadata(key))
        code, details = grpc.StatusCode.OK, ""
    except grpc.RpcError as exc:
        code, details = exc.code(), exc.details() or ""
    return TALLY.grpc(surface, code, time.monotonic() - start, details)


def _alive(channel: grpc.Channel) -> None:
    stub = channel.unary_unary("/edgefleet.v1.Router/Infer", **IDENTITY)
    ok = router_pb2.InferRequest(task="classify", text="what is my balance").SerializeToString()
    stub(ok, timeout=10, metadata=_metadata(APP_KEY))


@FUZZ_SETTINGS
@given(payload=fz.mutated(fz.infer_requests()), key=KEYS)
def test_infer(channel: grpc.Channel, payload: bytes, key: str | None) -> None:
    assert _unary(channel, "Router/Infer", "/edgefleet.v1.Router/Infer", payload, key) == "ok"


@FUZZ_SETTINGS
@given(payload=fz.mutated(fz.generate_requests()), key=KEYS)
def test_generate(channel: grpc.Channel, payload: bytes, key: str | None) -> None:
    call = channel.unary_stream("/edgefleet.v1.Router/Generate", **IDENTITY)
    start = time.monotonic()
    try:
        for _ in call(payload, timeout=CLIENT_TIMEOUT_S, metadata=_metadata(key)):
            pass
        code, details = grpc.StatusCode.OK, ""
    except grpc.RpcError as exc:
        code, details = exc.code(), exc.details() or ""
    assert TALLY.grpc("Router/Generate", code, time.monotonic() - start, details) == "ok"


@FUZZ_SETTINGS
@given(payloads=st.lists(fz.mutated(fz.infer_requests()), max_size=12), key=KEYS)
def test_infer_stream(channel: grpc.Channel, payloads: list[bytes], key: str | None) -> None:
    call = channel.stream_stream("/edgefleet.v1.Router/InferStream", **IDENTITY)
    start = time.monotonic()
    try:
        for _ in call(iter(payloads), timeout=CLIENT_TIMEOUT_S, metadata=_metadata(key)):
            pass
        code, details = grpc.StatusCode.OK, ""
    except grpc.RpcError as exc:
        code, details = exc.code(), exc.details() or ""
    assert TALLY.grpc("Router/InferStream", code, time.monotonic() - start, details) == "ok"


@FUZZ_SETTINGS
@given(message=fz.plausible_infer_requests(), key=st.sampled_from([APP_KEY, OPS_KEY]))
def test_infer_plausible(channel: grpc.Channel, message: router_pb2.InferRequest, key: str) -> None:
    """Well-formed batches under random budgets: they route (or are refused for a limit)."""
    payload = message.SerializeToString()
    assert _unary(channel, "Router/Infer", "/edgefleet.v1.Router/Infer", payload, key) == "ok"


def test_router_still_answers(channel: grpc.Channel, live: LiveServers) -> None:
    """After the fuzzing above: a plain request is answered and nothing is left in flight."""
    _alive(channel)
    assert live.router.engine.inflight == 0
