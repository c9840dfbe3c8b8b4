"""The load generator: a separate process that drives a gRPC server with raw-bytes calls.

Payloads are serialised once in the parent, so the client spends its CPU on gRPC, not on
protobuf. Modes: closed loop (``concurrency`` callers, each waiting for its answer), open
loop (``rate`` requests/s on a fixed schedule; latency counted from the *scheduled* send time,
so a stalled server cannot hide queueing), unary or one bidirectional stream with a window of
``concurrency`` requests in flight. Every job is bounded by ``max_requests`` and ``max_seconds``.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing as mp
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from types import TracebackType
from typing import Any, Self

import grpc

from bench.echo import CHANNEL_OPTIONS
from bench.procs import BenchProcessError, _reap, start_process

ROUTER_INFER = "/edgefleet.v1.Router/Infer"
ROUTER_STREAM = "/edgefleet.v1.Router/InferStream"
KSERVE_INFER = "/inference.GRPCInferenceService/ModelInfer"


@dataclass
class LoadJob:
    """One measurement: which method, which payloads, how hard and for how long."""

    address: str
    method: str
    payloads: list[bytes]
    concurrency: int = 1
    rate: float | None = None  # open loop when set (requests/s)
    streaming: bool = False  # one bidirectional stream, window = concurrency
    router_stream: bool = False  # stream answers are router InferResponses (match by id)
    collect: bool = False  # return each router answer (label, confidence, cost, tier)
    max_requests: int = 1000
    max_seconds: float = 30.0
    warmup: int = 20
    timeout_s: float = 30.0


@dataclass
class LoadResult:
    """What a job measured: latencies (ms) of the successful calls, errors, wall time."""

    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    first_error: str = ""
    seconds: float = 0.0
    answers: list[dict[str, Any]] = field(default_factory=list)

    @property
    def rps(self) -> float:
        """Successful requests per second of wall time."""
        return len(self.latencies_ms) / self.seconds if self.seconds > 0 else 0.0


async def run_job(job: LoadJob) -> LoadResult:
    """Run one job in the current event loop (the load-generator process calls this)."""
    channel = grpc.aio.insecure_channel(job.address, options=CHANNEL_OPTIONS)
    try:
        await asyncio.wait_for(channel.channel_ready(), timeout=job.timeout_s)
        if job.streaming:
            if job.warmup:
                await _stream(channel, job, min(job.warmup, job.max_requests), 60.0, LoadResult())
            result = LoadResult()
            await _stream(channel, job, job.max_requests, job.max_seconds, result)
            return result
        unary = channel.unary_unary(job.method)
        warm = LoadResult()
        for i in range(job.warmup):
            await _one(unary, job, job.payloads[i % len(job.payloads)], time.perf_counter(), warm, i)
        result = LoadResult()
        if job.rate:
            await _open_loop(unary, job, result)
        else:
            await _closed_loop(unary, job, result)
        return result
    finally:
        await channel.close()


async def _one(unary: Any, job: LoadJob, payload: bytes, t0: float, out: LoadResult, index: int) -> None:
    try:
        reply = await unary(payload, timeout=job.timeout_s)
    except grpc.aio.AioRpcError as exc:
        out.errors += 1
        message = f"{exc.code().name}: {exc.details()}"
        out.first_error = out.first_error or message
        if job.collect:
            out.answers.append(
                {"index": index, "error": message, "latency_ms": (time.perf_counter() - t0) * 1000.0}
            )
        return
    out.latencies_ms.append((time.perf_counter() - t0) * 1000.0)
    if job.collect:
        out.answers.append(_answer(reply, index, out.latencies_ms[-1]))


async def _closed_loop(unary: Any, job: LoadJob, out: LoadResult) -> None:
    counter = iter(range(job.max_requests))
    start = time.perf_counter()
    deadline = start + job.max_seconds

    async def worker() -> None:
        for i in counter:
            if time.perf_counter() > deadline:
                return
            await _one(unary, job, job.payloads[i % len(job.payloads)], time.perf_counter(), out, i)

    await asyncio.gather(*(worker() for _ in range(max(1, job.concurrency))))
    out.seconds = time.perf_counter() - start


async def _open_loop(unary: Any, job: LoadJob, out: LoadResult) -> None:
    assert job.rate
    interval = 1.0 / job.rate
    cap = asyncio.Semaphore(max(job.concurrency, 1))
    tasks: list[asyncio.Task[None]] = []
    start = time.perf_counter()
    deadline = start + job.max_seconds

    async def send(i: int, scheduled: float) -> None:
        async with cap:
            await _one(unary, job, job.payloads[i % len(job.payloads)], scheduled, out, i)

    for i in range(job.max_requests):
        scheduled = start + i * interval
        if scheduled > deadline:
            break
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(send(i, scheduled)))
    await asyncio.gather(*tasks)
    out.seconds = time.perf_counter() - start


async def _stream(
    channel: grpc.aio.Channel, job: LoadJob, count: int, seconds: float, out: LoadResult
) -> None:
    call: Any = channel.stream_stream(job.method)(timeout=max(seconds * 4, 60.0))
    window = asyncio.Semaphore(max(1, job.concurrency))
    sent: dict[str, float] = {}
    fifo: list[float] = []
    start = time.perf_counter()
    deadline = start + seconds

    async def writer() -> None:
        for i in range(count):
            if time.perf_counter() > deadline:
                break
            await window.acquire()
            payload = job.payloads[i % len(job.payloads)]
            if job.router_stream:
                payload = _with_request_id(payload, str(i))
                sent[str(i)] = time.perf_counter()
            else:
                fifo.append(time.perf_counter())
            await call.write(payload)
        await call.done_writing()

    async def reader() -> None:
        head = 0
        async for reply in call:
            now = time.perf_counter()
            if job.router_stream:
                request_id, error = _stream_reply(reply)
                t0 = sent.pop(request_id, now)
                if error:
                    out.errors += 1
                    out.first_error = out.first_error or error
                else:
                    out.latencies_ms.append((now - t0) * 1000.0)
            else:
                out.latencies_ms.append((now - fifo[head]) * 1000.0)
                head += 1
            window.release()

    try:
        await asyncio.gather(writer(), reader())
    except grpc.aio.AioRpcError as exc:
        out.errors += 1
        out.first_error = out.first_error or f"{exc.code().name}: {exc.details()}"
    out.seconds = time.perf_counter() - start


def _with_request_id(payload: bytes, request_id: str) -> bytes:
    from protos.edgefleet.v1 import router_pb2

    request = router_pb2.InferRequest.FromString(payload)
    request.request_id = request_id
    return bytes(request.SerializeToString())


def _stream_reply(reply: bytes) -> tuple[str, str]:
    from protos.edgefleet.v1 import router_pb2

    response = router_pb2.InferResponse.FromString(reply)
    error = f"{response.error.code}: {response.error.message}" if response.HasField("error") else ""
    return response.request_id, error


def _answer(reply: bytes, index: int, latency_ms: float) -> dict[str, Any]:
    from protos.edgefleet.v1 import common_pb2, router_pb2

    response = router_pb2.InferResponse.FromString(reply)
    result = response.results[0] if response.results else None
    if result is None:
        return {
            "index": index,
            "label": None,
            "confidence": 0.0,
            "cost_usd": response.cost_usd,
            "tier": "",
            "model": "",
            "latency_ms": latency_ms,
            "trace": [],
        }
    return {
        "index": index,
        "label": result.classification.label if result.HasField("classification") else None,
        "confidence": float(result.confidence),
        "cost_usd": float(result.cost_usd),
        "tier": common_pb2.Tier.Name(result.served_by.tier),
        "model": result.served_by.model,
        "domain": result.domain,
        "latency_ms": latency_ms,
        "router_ms": float(response.latency_ms),
        "trace": [[s.target, s.outcome, s.reason, float(s.ms)] for s in result.trace],
    }


def _loadgen_main(conn: Connection) -> None:
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        if job is None:
            return
        try:
            conn.send(("ok", asyncio.run(run_job(job))))
        except BaseException as exc:  # noqa: BLE001 - reported to the parent
            conn.send(("error", f"{type(exc).__name__}: {exc}"))


class LoadGenerator:
    """A load-generator process; ``run(job)`` sends it a job and waits for the result."""

    def __init__(self) -> None:
        ctx = mp.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc: Any = ctx.Process(target=_loadgen_main, args=(child,), name="bench-loadgen")
        start_process(self._proc)
        child.close()

    def run(self, job: LoadJob) -> LoadResult:
        """Run `job` in the load-generator process."""
        self._conn.send(job)
        limit = job.max_seconds * 3 + job.timeout_s + 120.0
        if not self._conn.poll(limit):
            raise BenchProcessError(f"load generator did not finish {job.method} within {limit:.0f} s")
        kind, payload = self._conn.recv()
        if kind != "ok":
            raise BenchProcessError(f"load generator failed on {job.method}: {payload}")
        result: LoadResult = payload
        return result

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop the load-generator process."""
        with contextlib.suppress(OSError, BrokenPipeError):
            self._conn.send(None)
        self._conn.close()
        _reap(self._proc)
