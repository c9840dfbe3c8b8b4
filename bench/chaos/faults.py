"""A hosted tier that misbehaves on demand: an HTTP proxy in front of the real (stand-in) hosted
endpoint, for the chaos suite. The policy's hosted ``base_url`` points at the proxy, so the router
sees exactly what it would see from a real provider.

Modes (:meth:`HostedFaults.set_mode`): ``pass`` (forward), ``slow`` (wait `delay_s`, then forward),
``error`` (HTTP 503), ``ratelimit`` (HTTP 429 with ``Retry-After``) and ``down`` (the port is
closed: connection refused, as when the uplink is gone; :meth:`HostedFaults.set_mode` back to
another mode listens on the same port again). Counts requests per mode and the ``Idempotency-Key``
header values seen (retried attempts of one call must repeat theirs).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

MODES = ("pass", "slow", "error", "ratelimit", "down")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], faults: HostedFaults) -> None:
        super().__init__(address, _Handler)
        self.faults = faults


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        self._handle(b"")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self._handle(self.rfile.read(length) if length else b"")

    def _handle(self, body: bytes) -> None:
        faults = self.server.faults
        mode, delay_s, retry_after_s = faults.note(self.headers.get("Idempotency-Key"))
        if mode == "down":  # the listener is closed; a kept-alive connection is cut as well
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        if mode == "slow" and faults.stopping.wait(delay_s):
            return  # shutting down
        if mode == "error":
            self._reply(503, {"error": {"message": "chaos: upstream unavailable", "type": "server_error"}})
            return
        if mode == "ratelimit":
            extra = {"Retry-After": f"{retry_after_s:g}"}
            self._reply(429, {"error": {"message": "chaos: rate limited", "type": "rate_limit"}}, extra)
            return
        try:
            status, headers, payload = faults.forward(self.command, self.path, dict(self.headers), body)
        except OSError as exc:
            self._reply(502, {"error": {"message": f"chaos proxy: upstream failed: {exc}"}})
            return
        self.send_response(status)
        for name, value in headers:
            if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _reply(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


class HostedFaults:
    """The proxy: `base_url` for the policy; `set_mode` injects and heals faults."""

    def __init__(self, upstream: str, host: str = "127.0.0.1", port: int = 0) -> None:
        """`upstream`: the real endpoint's base URL (``http://HOST:PORT/v1``)."""
        parts = urlsplit(upstream)
        self._upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self._prefix = parts.path.rstrip("/")
        self.mode = "pass"
        self.delay_s = 4.0
        self.retry_after_s = 2.0
        self.requests: Counter[str] = Counter()
        self.keys: Counter[str] = Counter()  # Idempotency-Key values seen (repeats: retried attempts)
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._listen(host, port)

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT/v1`` (the same after ``down``)."""
        return f"http://{self.host}:{self.port}{self._prefix}"

    def set_mode(
        self, mode: str, *, delay_s: float | None = None, retry_after_s: float | None = None
    ) -> None:
        """Switch to `mode` (see the module doc)."""
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; known: {', '.join(MODES)}")
        with self._lock:
            self.delay_s = self.delay_s if delay_s is None else delay_s
            self.retry_after_s = self.retry_after_s if retry_after_s is None else retry_after_s
            self.mode = mode
        if mode == "down":
            self._close()
        elif self._server is None:
            self._listen(self.host, self.port)

    def note(self, key: str | None) -> tuple[str, float, float]:
        """Count one request; the mode it meets."""
        with self._lock:
            self.requests[self.mode] += 1
            if key:
                self.keys[key] += 1
            return self.mode, self.delay_s, self.retry_after_s

    def forward(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        """Send the request upstream; its status, headers and whole body."""
        conn = http.client.HTTPConnection(*self._upstream, timeout=30)
        try:
            keep = {k: v for k, v in headers.items() if k.lower() not in ("host", "connection")}
            conn.request(method, path, body=body or None, headers=keep)
            response = conn.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            conn.close()

    def stop(self) -> None:
        """Stop serving (idempotent)."""
        self.stopping.set()
        self._close()

    def _listen(self, host: str, port: int) -> None:
        server = _Server((host, port), self)
        self.host, self.port = str(server.server_address[0]), int(server.server_address[1])
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        self._server, self._thread = server, thread

    def _close(self) -> None:
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=10)
