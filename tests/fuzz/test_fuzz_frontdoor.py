"""Fuzzing the router's OpenAI-compatible front door over HTTP: chat completions (whole and
streamed) and embeddings with plausible, random, deeply nested, NaN and non-UTF-8 bodies, odd
headers and random keys. Every request must get a response that is not a server error (503/504
are the router's "no target"/"deadline" answers) within the deadline."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz import strategies as fz
from tests.fuzz.live import APP_KEY, OPS_KEY, POOR_KEY, LiveServers
from tests.fuzz.tally import CLIENT_TIMEOUT_S, FUZZ_SETTINGS, TALLY

pytestmark = pytest.mark.integration
KEYS = st.sampled_from([APP_KEY] * 6 + [OPS_KEY, POOR_KEY, "wrong", None])
PATHS = st.sampled_from(
    ["/v1/chat/completions"] * 4 + ["/v1/embeddings", "/v1/models", "/v1/../v1/models", "/x"]
)


@pytest.fixture(scope="module")
def http(live: LiveServers) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live.router.http_url.removesuffix("/v1"), timeout=CLIENT_TIMEOUT_S) as client:
        yield client


def _headers(key: str | None, request_id: str | None) -> dict[str, str]:
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    if request_id is not None:
        headers["X-Request-Id"] = request_id
    return headers


@FUZZ_SETTINGS
@given(
    body=fz.chat_bodies(),
    path=PATHS,
    key=KEYS,
    request_id=st.none() | st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_", max_size=300),
)
def test_front_door(
    http: httpx.Client, body: bytes, path: str, key: str | None, request_id: str | None
) -> None:
    start = time.monotonic()
    status: int | None = None
    details = ""
    try:
        with http.stream("POST", path, content=body, headers=_headers(key, request_id)) as response:
            status = response.status_code
            for _ in response.iter_bytes():  # a stream ends (with [DONE] or an error event)
                pass
            details = "" if status < 500 else response.read().decode("utf-8", "replace")
    except httpx.HTTPError as exc:
        details = f"{type(exc).__name__}: {exc}"
    assert TALLY.http("OpenAI/front door", status, time.monotonic() - start, details) == "ok"


def test_front_door_still_answers(http: httpx.Client) -> None:
    body = {"model": "chat", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 8}
    response = http.post("/v1/chat/completions", json=body, headers=_headers(APP_KEY, None))
    assert response.status_code == 200 and response.json()["choices"][0]["message"]["content"]
