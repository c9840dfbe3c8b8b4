"""The stand-in's HTTP layer: a ThreadingHTTPServer that can close its open connections on stop,
and the request handler (JSON in, JSON or server-sent events out). What the answers say is decided
in :mod:`standin.handlers` (classify, embed) and :mod:`standin.chat` (generation); the server
itself, its configuration and life cycle are :mod:`standin.server`."""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import socket
import ssl
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

from edgefleet.openai_wire import STAND_IN_HEADER
from standin import handlers
from standin.chat import Generator, answer_chat, wants_generation
from standin.handlers import LabelModel, StandInIdentity, StandInRequestError
from standin.replay import REPLAY_HEADER, RecordedAnswers

log = logging.getLogger("edgefleet.hosted.standin")


class StandInApp(Protocol):
    """What the handler reads from the server (standin.server.StandInServer)."""

    model: LabelModel
    identity: StandInIdentity
    created_unix: float
    api_key: str | None
    llm: Generator | None
    stopping: threading.Event
    replay: RecordedAnswers | None

    def local_llm(self) -> Generator:
        """The LLM, loaded on first use."""
        ...

    def simulate_latency(self) -> bool:
        """Wait the added latency; False when stopping."""
        ...


MAX_BODY_BYTES = 4 * 1024 * 1024


class StandInHTTPServer(ThreadingHTTPServer):
    """ThreadingHTTPServer that remembers open connections so stop() can close them."""

    daemon_threads = False  # server_close() joins handler threads: stop() is clean
    block_on_close = True

    def __init__(self, address: tuple[str, int], app: StandInApp) -> None:
        self.app = app
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, StandInHandler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A failed TLS handshake (no or bad client certificate) is logged, not printed."""
        exc = sys.exc_info()[1]
        if isinstance(exc, ssl.SSLError | ConnectionError):
            log.info("stand-in: connection from %s refused: %s", client_address[0], exc)
            return
        super().handle_error(request, client_address)

    def close_connections(self) -> None:
        """Wake every handler blocked on a keep-alive connection by shutting its socket."""
        with self._connections_lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class StandInHandler(BaseHTTPRequestHandler):
    """HTTP front of the stand-in; JSON in, JSON out."""

    protocol_version = "HTTP/1.1"
    server_version = "EdgeFleetStandIn/0.1"
    disable_nagle_algorithm = True
    timeout = 60  # idle keep-alive connections are closed after this many seconds
    server: StandInHTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("STAND-IN %s %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        app = self.server.app
        if self._read_body() is None or not self._authorised():
            return
        if self.path.rstrip("/") == "/v1/models":
            self._send(200, handlers.models_list(app.identity, app.created_unix))
        else:
            self._send_error(StandInRequestError(404, f"unknown path GET {self.path}", kind="not_found"))

    def do_POST(self) -> None:
        app = self.server.app
        route = {"/v1/chat/completions": handlers.chat_completion, "/v1/embeddings": handlers.embeddings}
        handler = route.get(self.path.rstrip("/"))
        body = self._read_body()
        if body is None or not self._authorised():
            return
        if handler is None:
            self._send_error(StandInRequestError(404, f"unknown path POST {self.path}", kind="not_found"))
            return
        try:
            payload = json.loads(body) if body else None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            self._send_error(StandInRequestError(400, f"request body is not valid JSON: {exc}"))
            return
        if handler is handlers.chat_completion and wants_generation(payload):
            self._generate(payload)
            return
        try:
            answer = handler(payload, app.model, app.identity)
        except StandInRequestError as exc:
            self._send_error(exc)
            return
        except Exception as exc:  # a model failure must not kill the server thread
            log.exception("STAND-IN failed answering POST %s", self.path)
            self._send_error(StandInRequestError(500, f"stand-in model failed: {exc}", kind="server_error"))
            return
        app.simulate_latency()
        self._send(200, answer)

    def _generate(self, payload: Any) -> None:
        app = self.server.app
        self._streaming = False
        self._replay_source = ""
        try:
            answer_chat(
                payload,
                app.local_llm,
                app.identity,
                self,
                wait=app.simulate_latency,
                cancelled=app.stopping.is_set,
                replay=app.replay,
            )
        except StandInRequestError as exc:
            self._send_error(exc)
        except Exception as exc:  # a model failure must not kill the server thread
            log.exception("STAND-IN failed generating")
            if self._streaming:
                self.close_connection = True
            else:
                self._send_error(StandInRequestError(500, f"stand-in LLM failed: {exc}", kind="server_error"))

    # -- standin.chat.ChatOutput: whole answers and event streams (chunked transfer encoding)

    def mark_replay(self, source: str) -> None:
        """This answer is a replay of recorded answers: say so in a header."""
        self._replay_source = source

    def json(self, status: int, payload: dict[str, Any]) -> None:
        """Send one JSON answer labelled with the LLM as backing model."""
        self._send(status, payload, backing=str(payload.get("edgefleet", {}).get("backing_model", "")))

    def open_stream(self) -> None:
        """Send the headers of an event stream."""
        self._streaming = True
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header(STAND_IN_HEADER, "1")
        self._replay_headers()
        llm = self.server.app.llm
        self.send_header("X-EdgeFleet-Backing-Model", llm.name if llm is not None else "")
        self.end_headers()

    def event(self, data: bytes) -> bool:
        """Send one event as one HTTP chunk, flushed; False when the client has gone."""
        try:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()
        except OSError:
            self.close_connection = True
            return False
        return True

    def close_stream(self) -> None:
        """The last (empty) chunk."""
        try:
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except OSError:
            self.close_connection = True

    def _method_not_allowed(self) -> None:
        if self._read_body() is not None:
            self._send_error(StandInRequestError(405, f"method {self.command} not allowed on {self.path}"))

    do_PUT = do_DELETE = do_PATCH = _method_not_allowed

    def _read_body(self) -> bytes | None:
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY_BYTES:
            self.close_connection = True
            self._send_error(
                StandInRequestError(413 if length > 0 else 400, "bad or too large Content-Length")
            )
            return None
        return self.rfile.read(length) if length else b""

    def _authorised(self) -> bool:
        expected = self.server.app.api_key
        if expected is None:
            return True
        given = self.headers.get("Authorization", "")
        if hmac.compare_digest(given.encode(), f"Bearer {expected}".encode()):
            return True
        self._send_error(StandInRequestError(401, "missing or wrong API key", kind="authentication_error"))
        return False

    def _send_error(self, error: StandInRequestError) -> None:
        self._send(error.status, error.body())

    def _send(self, status: int, payload: dict[str, Any], backing: str = "") -> None:
        data = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header(STAND_IN_HEADER, "1")
        self.send_header("X-EdgeFleet-Backing-Model", backing or self.server.app.identity.backing_model)
        self._replay_headers()
        self.end_headers()
        self.wfile.write(data)

    def _replay_headers(self) -> None:
        source = getattr(self, "_replay_source", "")
        if source:
            self.send_header(REPLAY_HEADER, source)
            self._replay_source = ""
