"""StandInServer: an OFFLINE STAND-IN for a large hosted model (OpenAI-compatible HTTP).

This is NOT a hosted model. It lets EdgeFleet run its hosted tier with no
internet: a local OpenAI-compatible server on 127.0.0.1 answers
``POST /v1/chat/completions`` (structured-output classification),
``POST /v1/embeddings`` and ``GET /v1/models`` with a local OpenVINO model
(by default the 150-intent ``generalist``), after an optional added latency
that simulates a slow remote model. Every answer says it comes from the
stand-in: ``system_fingerprint: "edgefleet-stand-in"``, the header
``X-EdgeFleet-Stand-In: 1`` and an ``edgefleet`` block; its logs say STAND-IN.

The HTTP layer is the standard library's ThreadingHTTPServer (HTTP/1.1
keep-alive, one thread per connection) running in a background thread;
request handling itself lives in :mod:`standin.handlers`.

Run it alone: ``python -m standin.server --registry DIR --port N --latency-ms X``.
"""

from __future__ import annotations

import argparse
import contextlib
import hmac
import json
import logging
import os
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType
from typing import Any, Self

from edgefleet.openai_wire import STAND_IN_HEADER
from edgefleet.policy.schema import StandInConfig
from standin import handlers
from standin.handlers import LabelModel, StandInIdentity, StandInRequestError

log = logging.getLogger("edgefleet.hosted.standin")

MAX_BODY_BYTES = 4 * 1024 * 1024


class _Server(ThreadingHTTPServer):
    """ThreadingHTTPServer that remembers open connections so stop() can close them."""

    daemon_threads = False  # server_close() joins handler threads: stop() is clean
    block_on_close = True

    def __init__(self, address: tuple[str, int], app: StandInServer) -> None:
        self.app = app
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Wake every handler blocked on a keep-alive connection by shutting its socket."""
        with self._connections_lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    """HTTP front of the stand-in; JSON in, JSON out."""

    protocol_version = "HTTP/1.1"
    server_version = "EdgeFleetStandIn/0.1"
    disable_nagle_algorithm = True
    timeout = 60  # idle keep-alive connections are closed after this many seconds
    server: _Server

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

    def _send(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header(STAND_IN_HEADER, "1")
        self.send_header("X-EdgeFleet-Backing-Model", self.server.app.identity.backing_model)
        self.end_headers()
        self.wfile.write(data)


def _backing_name(model: LabelModel) -> str:
    manifest = getattr(model, "manifest", None)
    if manifest is not None and hasattr(manifest, "name"):
        return f"{manifest.name}:{getattr(manifest, 'version', '?')}"
    return type(model).__name__


def parse_listen(listen: str) -> tuple[str, int]:
    """("host", port) from "host:port" (port 0 = any free port)."""
    host, sep, port = listen.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"listen address must look like HOST:PORT, got {listen!r}")
    return host, int(port)


class StandInServer:
    """OFFLINE STAND-IN for a hosted model: OpenAI-compatible HTTP backed by a local model."""

    def __init__(
        self,
        model: LabelModel,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        latency_ms: float = 0.0,
        api_key: str | None = None,
        model_id: str = handlers.STAND_IN_MODEL_ID,
    ) -> None:
        """`model`: anything with .labels/.classify/.embed (fleet.serving.runtime.TextModel);
        `api_key`: when set, requests must send ``Authorization: Bearer <key>``."""
        if latency_ms < 0:
            raise ValueError(f"latency_ms must be >= 0, got {latency_ms}")
        self.model = model
        self.host = host
        self.port = port
        self.latency_ms = latency_ms
        self.api_key = api_key
        self.identity = StandInIdentity(model_id=model_id, backing_model=_backing_name(model))
        self.created_unix = time.time()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @classmethod
    def from_registry(
        cls, registry: Path, cfg: StandInConfig, *, api_key: str | None = None
    ) -> StandInServer:
        """Load `cfg.model` (latest version) from the model `registry` and wrap it in a stand-in."""
        from fleet.models.manifest import load_bundle, resolve_model_dir
        from fleet.serving.runtime import TextModel

        model = TextModel.load(load_bundle(resolve_model_dir(Path(registry), cfg.model)))
        host, port = parse_listen(cfg.listen)
        return cls(model, host=host, port=port, latency_ms=cfg.latency_ms, api_key=api_key)

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT/v1`` of the running server."""
        if self._server is None:
            raise RuntimeError("the stand-in server is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def start(self) -> str:
        """Bind and serve in a background thread; returns the base URL."""
        if self._server is not None:
            return self.base_url
        self._stopping.clear()
        self._server = _Server((self.host, self.port), self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="edgefleet-stand-in",
            daemon=True,
        )
        self._thread.start()
        log.info(
            "STAND-IN hosted model %r (local model %s, +%.0f ms) listening on %s",
            self.identity.model_id,
            self.identity.backing_model,
            self.latency_ms,
            self.base_url,
        )
        return self.base_url

    def stop(self) -> None:
        """Stop serving, close every connection and join all threads (idempotent)."""
        server, thread = self._server, self._thread
        if server is None:
            return
        self._stopping.set()  # wakes handlers in their simulated latency
        server.shutdown()
        server.close_connections()
        server.server_close()  # joins handler threads
        if thread is not None:
            thread.join(timeout=10)
        self._server = self._thread = None
        log.info("STAND-IN hosted model stopped")

    def simulate_latency(self) -> None:
        """Wait latency_ms (simulates a remote model; cut short when the server stops)."""
        if self.latency_ms > 0:
            self._stopping.wait(self.latency_ms / 1000.0)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = self.base_url if self._server is not None else "stopped"
        return f"StandInServer(STAND-IN, model={self.identity.backing_model}, {state})"


def main(argv: list[str] | None = None) -> int:
    """``python -m standin.server``: serve the stand-in until Ctrl-C / SIGTERM."""
    from fleet.models.registry import default_registry

    parser = argparse.ArgumentParser(description="EdgeFleet offline STAND-IN for a hosted model")
    parser.add_argument("--registry", type=Path, default=None, help="model registry folder")
    parser.add_argument("--model", default="generalist", help="registry model that answers")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency-ms", type=float, default=0.0, help="added latency per call")
    parser.add_argument("--api-key-env", default=None, help="env var holding the key clients must send")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    api_key = os.environ.get(args.api_key_env) if args.api_key_env else None
    if args.api_key_env and not api_key:
        parser.error(f"environment variable {args.api_key_env} is not set")
    cfg = StandInConfig(model=args.model, latency_ms=args.latency_ms, listen=f"{args.host}:{args.port}")
    server = StandInServer.from_registry(args.registry or default_registry(), cfg, api_key=api_key)
    done = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    print(server.start(), flush=True)
    try:
        done.wait()
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
