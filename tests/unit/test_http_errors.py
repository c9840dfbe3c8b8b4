"""Router errors in OpenAI's format and status (router/http/errors.py)."""

from __future__ import annotations

import pytest

from router.errors import (
    DeadlineExceeded,
    InvalidRequest,
    Overloaded,
    RouterError,
    TargetError,
    Unauthenticated,
    Unavailable,
)
from router.http.errors import from_router_error, internal, unknown_model


@pytest.mark.parametrize(
    ("error", "status", "kind"),
    [
        (InvalidRequest("x"), 400, "invalid_request_error"),
        (Unauthenticated("x"), 401, "invalid_request_error"),
        (Overloaded("x"), 429, "rate_limit_error"),
        (Unavailable("x"), 503, "server_error"),
        (TargetError("x"), 503, "server_error"),
        (DeadlineExceeded("x"), 504, "timeout_error"),
        (RouterError("x"), 500, "server_error"),
    ],
)
def test_statuses(error: RouterError, status: int, kind: str) -> None:
    mapped = from_router_error(error, param="input")
    assert (mapped.status, mapped.kind) == (status, kind)
    assert mapped.param == ("input" if status == 400 else None)


def test_internal_and_unknown_model() -> None:
    assert "router log" in str(internal()) and internal().status == 500
    missing = unknown_model("gpt", "embed", ["embed"])
    assert missing.status == 404 and missing.param == "model" and "embed, edgefleet/auto" in str(missing)
