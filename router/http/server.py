"""HttpFrontDoor: the OpenAI-compatible API served by uvicorn inside the router's event loop.

The socket is bound here (port 0 = any free port, the bound address is known at once) and handed
to uvicorn; uvicorn's own signal handling is turned off, because the router process (the
supervisor behind ``edgefleet up``, or a test) owns SIGINT/SIGTERM. ``stop()`` shuts down
gracefully: no new connections, in-flight requests get ``grace`` seconds, then are cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import socket
import ssl
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.routing import BaseRoute

from edgefleet.policy.security_options import TlsServerConfig
from router.auth import ApiKeys
from router.http.openai_api import OpenAIApi
from router.http.port import RoutingPort
from router.metrics import RouterMetrics
from router.tracing import Tracing

log = logging.getLogger("edgefleet.router.http")

START_TIMEOUT_S = 30.0


class _Uvicorn(uvicorn.Server):
    """uvicorn without its signal handlers (the process that embeds it handles signals)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def parse_listen(listen: str) -> tuple[str, int]:
    """("host", port) from "host:port" or "[v6]:port"."""
    host, sep, port = listen.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"router.http_listen must look like HOST:PORT, got {listen!r}")
    return host.strip("[]"), int(port)


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto IPPROTO_TCP (not 0): asyncio then sets TCP_NODELAY on accepted connections; without it
    # every small response waits ~40 ms for a delayed ACK
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(256)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        raise OSError(f"the HTTP front door cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


def _uvicorn_tls(tls: TlsServerConfig) -> dict[str, Any]:
    """uvicorn's TLS settings: certificate and key, and for mutual TLS the client CA (required)."""
    for what, path in (("cert", tls.cert), ("key", tls.key), ("client_ca", tls.client_ca)):
        if path is not None and not Path(path).is_file():
            raise OSError(f"router.tls.{what}: {path} does not exist")
    options: dict[str, Any] = {"ssl_certfile": tls.cert, "ssl_keyfile": tls.key}
    if tls.client_ca:
        options.update(ssl_ca_certs=tls.client_ca, ssl_cert_reqs=ssl.CERT_REQUIRED)
    return options


class HttpFrontDoor:
    """The OpenAI-compatible HTTP API of one router: `address`, `base_url`, `stop()`."""

    def __init__(
        self,
        port: RoutingPort,
        api_keys: Callable[[], ApiKeys],
        *,
        routes: Sequence[BaseRoute] = (),
        tracing: Tracing | None = None,
        metrics: RouterMetrics | None = None,
        tls: TlsServerConfig | None = None,
    ) -> None:
        """`routes` are served beside the OpenAI API (``/metrics``); `tracing` and `metrics`
        (default: none) trace and count the front door's requests; `tls` serves HTTPS (mutual TLS
        with a client CA)."""
        self.api = OpenAIApi(port, api_keys, tracing=tracing, metrics=metrics)
        self.tls = tls
        self._routes = list(routes)
        self.address = ""
        self._server: _Uvicorn | None = None
        self._task: asyncio.Task[None] | None = None
        self._socket: socket.socket | None = None

    @property
    def base_url(self) -> str:
        """``http(s)://HOST:PORT/v1``, what OpenAI clients take as base URL."""
        host, _, port = self.address.rpartition(":")
        shown = f"[{host}]" if ":" in host else host
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://{shown}:{port}/v1"

    async def start(self, listen: str, *, grace_s: float = 2.0) -> str:
        """Bind `listen` and serve; returns the bound "host:port"."""
        host, port = parse_listen(listen)
        tls_options = _uvicorn_tls(self.tls) if self.tls is not None else {}
        sock = _bind(host, port)
        self._socket = sock
        self.address = f"{host}:{sock.getsockname()[1]}"
        ready = asyncio.Event()

        @contextlib.asynccontextmanager
        async def lifespan(app: Starlette) -> AsyncIterator[None]:
            ready.set()
            yield

        config = uvicorn.Config(
            self.api.app(lifespan, self._routes),
            lifespan="on",
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=max(1, math.ceil(grace_s)),
            server_header=False,
            **tls_options,
        )
        self._server = _Uvicorn(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]), name="edgefleet-http")
        waiter = asyncio.create_task(ready.wait())
        done, _ = await asyncio.wait(
            {self._task, waiter}, timeout=START_TIMEOUT_S, return_when=asyncio.FIRST_COMPLETED
        )
        waiter.cancel()
        if self._task in done or not done:
            error = self._task.exception() if self._task in done else None
            await self.stop(0)
            raise OSError(f"the HTTP front door on {self.address} did not start: {error or 'timed out'}")
        log.info("OpenAI-compatible front door listening on %s", self.base_url)
        return self.address

    async def stop(self, grace_s: float | None = 2.0) -> None:
        """Stop accepting, let requests finish within `grace_s`, then cancel them (idempotent)."""
        server, task = self._server, self._task
        self._server = self._task = None
        if server is not None and task is not None:
            if grace_s is not None:
                # whole seconds, at least 1 (uvicorn logs an error when a 0 s wait "times out", even idle)
                server.config.timeout_graceful_shutdown = max(1, math.ceil(grace_s))
            server.should_exit = True
            try:
                await asyncio.wait_for(asyncio.shield(task), timeout=(grace_s or 0.0) + 5.0)
            except TimeoutError:
                server.force_exit = True
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            except Exception:
                log.exception("HTTP front door stopped with an error")
        if self._socket is not None:
            self._socket.close()
            self._socket = None
