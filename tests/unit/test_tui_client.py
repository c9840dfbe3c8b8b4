"""tui.client: the SDK's errors as the dashboard's, and the key its client sends."""

from __future__ import annotations

import pytest

from client import errors
from edgefleet.constants import API_KEY_ENV
from tui.client import FleetClient, FleetClientError, GrpcFleetClient, RouterUnavailable, translate_error


@pytest.mark.parametrize(
    "error", [errors.Unavailable("down"), errors.DeadlineExceeded("slow"), errors.Cancelled("closed")]
)
def test_unreachable_codes_become_router_unavailable(error: errors.EdgeFleetError) -> None:
    translated = translate_error(error)
    assert isinstance(translated, RouterUnavailable) and str(translated) == str(error)


def test_other_codes_are_fleet_client_errors_for_the_banner() -> None:
    translated = translate_error(errors.NotFound("no deployment 'x'"))
    assert type(translated) is FleetClientError and str(translated) == "NOT_FOUND: no deployment 'x'"


async def test_the_client_sends_the_key_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(API_KEY_ENV, "dash-key")
    client = GrpcFleetClient("127.0.0.1:1")
    assert isinstance(client, FleetClient)
    sdk = client._sdk()
    assert sdk.settings.metadata == (("authorization", "Bearer dash-key"),)
    assert sdk.settings.retry.max_attempts == 1  # the app's backoff retries, not the SDK
    await client.close()
    assert (
        GrpcFleetClient("127.0.0.1:1", api_key="explicit")._sdk().settings.metadata[0][1] == "Bearer explicit"
    )
