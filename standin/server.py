"""StandInServer: an OFFLINE STAND-IN for a large hosted model (OpenAI-compatible HTTP).

This is NOT a hosted model. It lets EdgeFleet run its hosted tier with no
internet: a local OpenAI-compatible server on 127.0.0.1 answers
``POST /v1/chat/completions`` with structured output (classification) from a
local OpenVINO model (by default the 150-intent ``generalist``), the same
endpoint without ``response_format`` (generation, whole or streamed as
server-sent events) from a small local LLM (by default SmolLM2-135M-Instruct,
loaded on the first generation request), ``POST /v1/embeddings`` and
``GET /v1/models``, after an optional added latency that simulates a slow
remote model. Every answer says it comes from the stand-in:
``system_fingerprint: "edgefleet-stand-in"``, the header
``X-EdgeFleet-Stand-In: 1`` and an ``edgefleet`` block; its logs say STAND-IN.

The HTTP layer (:mod:`standin.http_handler`) is the standard library's
ThreadingHTTPServer (HTTP/1.1 keep-alive, one thread per connection; event
streams use chunked transfer encoding, one flushed chunk per event) running in
a background thread; request handling itself lives in :mod:`standin.handlers`
(classify, embed) and :mod:`standin.chat` (generation).

Run it alone: ``python -m standin.server --registry DIR --port N --latency-ms X``.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import ssl
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Self

from edgefleet.policy.schema import StandInConfig
from edgefleet.policy.security_options import TlsServerConfig
from standin import handlers
from standin.chat import Generator
from standin.handlers import LabelModel, StandInIdentity
from standin.http_handler import StandInHTTPServer
from standin.llm import LocalLLM, resolve_llm
from standin.replay import RecordedAnswers, load_replay

log = logging.getLogger("edgefleet.hosted.standin")


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
        llm: Generator | None = None,
        llm_spec: str | None = None,
        registry: Path | None = None,
        tls: TlsServerConfig | None = None,
        replay: RecordedAnswers | None = None,
    ) -> None:
        """`model`: anything with .labels/.classify/.embed (fleet.serving.runtime.TextModel);
        `api_key`: when set, requests must send ``Authorization: Bearer <key>``; `llm`: the LLM
        that answers generation, else one loaded on first use from `llm_spec` (a path, or a
        model of `registry`; None: the SmolLM2 wheel, see standin.llm.resolve_llm); `tls`: serve
        HTTPS with that certificate (mutual TLS when it names a client CA)."""
        if latency_ms < 0:
            raise ValueError(f"latency_ms must be >= 0, got {latency_ms}")
        self.model = model
        self.host = host
        self.port = port
        self.latency_ms = latency_ms
        self.api_key = api_key
        self.identity = StandInIdentity(model_id=model_id, backing_model=_backing_name(model))
        self.created_unix = time.time()
        self.llm = llm
        self.llm_spec = llm_spec
        self.replay = replay
        self.registry = registry
        self.tls = tls
        self._llm_lock = threading.Lock()
        self.stopping = threading.Event()
        self._server: StandInHTTPServer | None = None
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
        return cls(
            model,
            host=host,
            port=port,
            latency_ms=cfg.latency_ms,
            api_key=api_key,
            llm_spec=cfg.llm,
            registry=Path(registry),
            tls=cfg.tls,
            replay=load_replay(cfg.replay) if cfg.replay else None,
        )

    def warm_llm(self) -> None:
        """Load the generation LLM in the background now (routes that fall back to this stand-in for
        generation should not pay the load on their first escalation); failures are logged and
        reported again on the first generation request."""

        def load() -> None:
            try:
                self.local_llm()
            except Exception as exc:  # noqa: BLE001 - reported again when a request needs it
                log.warning("stand-in LLM could not be loaded ahead of time: %s", exc)

        threading.Thread(target=load, name="standin-llm-warmup", daemon=True).start()

    def local_llm(self) -> Generator:
        """The LLM that answers generation, loaded on first use (raises standin.llm.LlmUnavailable)."""
        with self._llm_lock:
            if self.llm is None:
                llm = LocalLLM(resolve_llm(self.llm_spec, self.registry))
                llm.load()
                self.llm = llm
            return self.llm

    @property
    def base_url(self) -> str:
        """``http(s)://HOST:PORT/v1`` of the running server."""
        if self._server is None:
            raise RuntimeError("the stand-in server is not running")
        host, port = self._server.server_address[:2]
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://{host!s}:{port}/v1"

    def start(self) -> str:
        """Bind and serve in a background thread; returns the base URL."""
        if self._server is not None:
            return self.base_url
        self.stopping.clear()
        self._server = StandInHTTPServer((self.host, self.port), self)
        if self.tls is not None:
            try:
                context = server_ssl_context(self.tls)
            except (OSError, ssl.SSLError):
                self._server.server_close()
                self._server = None
                raise
            # the handshake happens in the handler thread, not in the accepting loop
            self._server.socket = context.wrap_socket(
                self._server.socket, server_side=True, do_handshake_on_connect=False
            )
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
        self.stopping.set()  # wakes handlers in their simulated latency
        server.shutdown()
        server.close_connections()
        server.server_close()  # joins handler threads
        if thread is not None:
            thread.join(timeout=10)
        self._server = self._thread = None
        log.info("STAND-IN hosted model stopped")

    def simulate_latency(self) -> bool:
        """Wait latency_ms (simulates a remote model; cut short when the server stops).
        Returns False when the server is stopping."""
        if self.latency_ms > 0:
            self.stopping.wait(self.latency_ms / 1000.0)
        return not self.stopping.is_set()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = self.base_url if self._server is not None else "stopped"
        return f"StandInServer(STAND-IN, model={self.identity.backing_model}, {state})"


def server_ssl_context(tls: TlsServerConfig) -> ssl.SSLContext:
    """A server SSLContext (TLS 1.2+); clients must present a certificate when a client CA is set."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(tls.cert, tls.key)
    if tls.client_ca:
        context.load_verify_locations(tls.client_ca)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


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
    parser.add_argument(
        "--llm", default=None, help="LLM for generation: GGUF/IR path or registry model (default: SmolLM2)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    api_key = os.environ.get(args.api_key_env) if args.api_key_env else None
    if args.api_key_env and not api_key:
        parser.error(f"environment variable {args.api_key_env} is not set")
    cfg = StandInConfig(
        model=args.model, latency_ms=args.latency_ms, listen=f"{args.host}:{args.port}", llm=args.llm
    )
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
