"""Fuzzing the policy loader, in process and through ReloadPolicy on the live router: edited
policies, random YAML, alias bombs, recursive aliases, deep nesting, huge texts, traversal names.
The loader may only answer a Policy or a PolicyError, quickly; ReloadPolicy answers ok=false with
the reason and the router keeps routing with the policy it had."""

from __future__ import annotations

import time

import grpc
import pytest
from hypothesis import given

from edgefleet.errors import PolicyError
from edgefleet.policy.loader import parse_policy
from protos.edgefleet.v1 import fleet_pb2, fleet_pb2_grpc
from tests.fuzz import strategies as fz
from tests.fuzz.live import OPS_KEY, POLICY_YAML, LiveServers
from tests.fuzz.tally import CLIENT_TIMEOUT_S, FUZZ_SETTINGS, TALLY

pytestmark = pytest.mark.integration
OPS = (("authorization", f"Bearer {OPS_KEY}"),)


@FUZZ_SETTINGS
@given(text=fz.policy_texts(POLICY_YAML))
def test_policy_loader(text: str) -> None:
    start = time.monotonic()
    error: BaseException | None = None
    try:
        parse_policy(text, "<fuzz>")
    except PolicyError:
        pass
    except Exception as exc:  # noqa: BLE001 -- anything else is a crash, counted
        error = exc
    assert TALLY.local("policy loader", error) == "ok"
    assert time.monotonic() - start < 10


@FUZZ_SETTINGS
@given(text=fz.policy_texts(POLICY_YAML))
def test_reload_policy(live: LiveServers, text: str) -> None:
    with grpc.insecure_channel(
        live.router.address, options=[("grpc.max_send_message_length", 8 << 20)]
    ) as ch:
        stub = fleet_pb2_grpc.FleetStub(ch)
        start = time.monotonic()
        try:
            result = stub.ReloadPolicy(
                fleet_pb2.ReloadPolicyRequest(yaml=text), timeout=CLIENT_TIMEOUT_S, metadata=OPS
            )
            code, details = grpc.StatusCode.OK, result.message
            if result.ok:  # a generated policy that happens to be valid: put the original back
                stub.ReloadPolicy(fleet_pb2.ReloadPolicyRequest(yaml=POLICY_YAML), timeout=30, metadata=OPS)
        except grpc.RpcError as exc:
            code, details = exc.code(), exc.details() or ""
    assert TALLY.grpc("Fleet/ReloadPolicy", code, time.monotonic() - start, details) == "ok"
    assert live.router.api_keys.enabled  # no policy turns authentication off
