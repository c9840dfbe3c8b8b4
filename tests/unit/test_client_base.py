"""client.base: a client's settings and its default deadlines."""

from __future__ import annotations

from client.base import DEFAULT_GENERATE_TIMEOUT_S, DEFAULT_TIMEOUT_S, ClientSettings
from client.retry import RetryPolicy
from edgefleet.constants import DEFAULT_ROUTER_ADDRESS


def test_defaults() -> None:
    s = ClientSettings()
    assert s.address == DEFAULT_ROUTER_ADDRESS and s.metadata == () and s.tls is None
    assert s.retry == RetryPolicy() and s.channel_options == ()
    assert s.unary_timeout(None) == DEFAULT_TIMEOUT_S and s.stream_timeout(None) == DEFAULT_GENERATE_TIMEOUT_S


def test_call_deadlines_override_the_clients() -> None:
    s = ClientSettings(
        "10.0.0.1:1", api_key="k", timeout_s=None, generate_timeout_s=9.0, retry=RetryPolicy.never()
    )
    assert s.metadata == (("authorization", "Bearer k"),) and s.retry.max_attempts == 1
    assert s.unary_timeout(None) is None and s.unary_timeout(2.0) == 2.0
    assert s.stream_timeout(None) == 9.0 and s.stream_timeout(1.0) == 1.0
