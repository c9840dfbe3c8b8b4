"""HostedClient.chat_stream over real sockets against a tiny misbehaving server: some SSE events,
then the connection drops (or ends without [DONE], or stalls). Never a silent truncation: a
TargetError that says how much text had arrived, and no retry once text was delivered."""

from __future__ import annotations

import socket
import threading

import pytest

from edgefleet.generation import ChatMessage, SamplingParams
from edgefleet.policy.schema import CircuitConfig, HostedConfig
from edgefleet.sse import encode_data, encode_json
from router.errors import TargetError
from router.hosted.client import HostedClient

pytestmark = pytest.mark.integration

MESSAGES = [ChatMessage("user", "hi")]


def event(text: str) -> bytes:
    return encode_json(
        {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": text}}]}
    )


def _read_request(conn: socket.socket) -> None:
    """Read one HTTP/1.1 request (head, then Content-Length bytes of body)."""
    data = b""
    while b"\r\n\r\n" not in data:
        part = conn.recv(65536)
        if not part:
            return
        data += part
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        (
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        ),
        0,
    )
    while len(body) < length:
        part = conn.recv(65536)
        if not part:
            return
        body += part


class RawServer:
    """Answers every connection with an HTTP/1.1 head and `body`, then (per `mode`) closes the socket
    at once ("drop"), after a clean end of a Connection: close body ("eof"), or waits until stopped
    ("stall")."""

    def __init__(self, body: bytes, mode: str) -> None:
        self.body, self.mode = body, mode
        self.hits = 0
        self._stop = threading.Event()
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.2)
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}/v1"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            self.hits += 1
            with conn:
                conn.settimeout(5)
                _read_request(conn)  # all of it: unread bytes would turn the close into a reset
                head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                if self.mode == "drop":  # a chunked body cut off mid-way: a protocol error
                    chunk = b"%x\r\n%s\r\n" % (len(self.body), self.body)
                    conn.sendall(head + b"Transfer-Encoding: chunked\r\n\r\n" + chunk)
                else:
                    conn.sendall(head + b"Connection: close\r\n\r\n" + self.body)
                if self.mode == "stall":
                    self._stop.wait(10)

    def __enter__(self) -> RawServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self._sock.close()


@pytest.fixture
def config() -> HostedConfig:
    return HostedConfig(
        name="flaky",
        base_url="http://unused/v1",
        timeout_ms=1000,
        retries=2,
        backoff_ms=1,
        circuit=CircuitConfig(failures=1, reset_s=60),
    )


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        ("drop", "RemoteProtocolError"),
        ("eof", r"the stream ended without \[DONE\]"),
        ("stall", r"no data for 1\.0s"),
    ],
)
async def test_broken_stream_says_how_much_text_arrived(config: HostedConfig, mode: str, reason: str) -> None:
    body = event("Hello, ") + event("this is thirty-seven chars") + event(".....")
    assert len("Hello, this is thirty-seven chars.....") == 38
    with RawServer(body, mode) as server:
        client = HostedClient(config, base_url=server.url)
        received: list[str] = []

        async def consume() -> None:
            async for chunk in client.chat_stream(MESSAGES, SamplingParams(max_tokens=8), timeout_s=5):
                received.append(chunk.text)

        try:
            with pytest.raises(
                TargetError, match=rf"'flaky' .*hosted stream broke after 38 characters: {reason}"
            ):
                await consume()
        finally:
            await client.aclose()
        assert "".join(received) == "Hello, this is thirty-seven chars....."
        assert server.hits == 1  # text was delivered: no retry
        assert client.circuit_state == "open"


async def test_complete_stream_over_a_closing_connection(config: HostedConfig) -> None:
    body = event("Paris") + encode_data("[DONE]")
    with RawServer(body, "eof") as server:
        client = HostedClient(config, base_url=server.url)
        try:
            chunks = [
                c async for c in client.chat_stream(MESSAGES, SamplingParams(max_tokens=8), timeout_s=5)
            ]
        finally:
            await client.aclose()
    assert (
        [c.text for c in chunks] == ["Paris", ""] and chunks[-1].final and chunks[-1].completion_tokens == 2
    )
