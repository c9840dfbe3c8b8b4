"""Async KServe v2 client for edge replicas: grpc.aio channels pooled per address, TEXT sent as
BYTES, PROBS / LABEL / EMBEDDING read back (tensors encoded and decoded by
:mod:`edgefleet.kserve_codec`); generation streamed over ``ModelStreamInfer`` with the wire
convention of :mod:`edgefleet.kserve_llm`; passages retrieved per :mod:`edgefleet.kserve_retrieval`.
Every failure becomes router.errors.TargetError
(RESOURCE_EXHAUSTED: :class:`router.errors.TargetBusy`)."""

from __future__ import annotations

import struct
from collections.abc import AsyncIterator, Sequence

import grpc

from edgefleet.constants import FLEET_TOKEN_METADATA
from edgefleet.generation import ChatMessage, GenerationChunk, SamplingParams
from edgefleet.kserve_codec import decode_outputs, text_request
from edgefleet.kserve_llm import generate_request, read_chunk
from edgefleet.kserve_retrieval import Retrieved, read_retrieval_response, retrieve_request
from edgefleet.policy.schema import CoalesceConfig
from protos.inference import grpc_service_pb2 as kserve_pb2
from protos.inference import grpc_service_pb2_grpc as kserve_grpc
from router.coalesce import CallCoalescer
from router.domain import EdgeOutput
from router.errors import TargetBusy, TargetError

_CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
    ("grpc.keepalive_time_ms", 30_000),
]


class EdgeClient:
    """Calls KServe v2 `ModelInfer` (and `ModelStreamInfer` for generation) on replicas; one
    channel per address. Implements router.domain.EdgeCaller, router.domain.EdgeGenerator and
    router.domain.EdgeRetriever."""

    def __init__(
        self,
        *,
        token: str = "",
        credentials: grpc.ChannelCredentials | None = None,
        server_name: str | None = None,
        coalesce: CoalesceConfig | None = None,
    ) -> None:
        """`token`: the fleet token sent to every replica (``x-edgefleet-fleet-token``);
        `credentials`: TLS to replicas (grpc.ssl_channel_credentials with the fleet's CA, and for
        mutual TLS the router's certificate), `server_name` the name their certificates carry;
        `coalesce` (default: on) merges concurrent calls to one replica (:mod:`router.coalesce`)."""
        self._channels: dict[str, grpc.aio.Channel] = {}
        self._stubs: dict[str, kserve_grpc.GRPCInferenceServiceStub] = {}
        self._auth: tuple[tuple[str, str], ...] = ((FLEET_TOKEN_METADATA, token),) if token else ()
        self._credentials = credentials
        self._options: list[tuple[str, str | int]] = [*_CHANNEL_OPTIONS]
        if server_name:
            self._options.append(("grpc.ssl_target_name_override", server_name))
        cfg = coalesce or CoalesceConfig()
        self.coalescer = (
            CallCoalescer(self._send, max_batch=cfg.max_batch, max_inflight=cfg.max_inflight)
            if cfg.enabled
            else None
        )

    def _metadata(self, extra: Sequence[tuple[str, str]] | None) -> dict[str, Sequence[tuple[str, str]]]:
        """The call's metadata keyword: the fleet token plus `extra` (nothing when both are empty)."""
        if not self._auth:
            return {"metadata": extra} if extra else {}
        return {"metadata": (*self._auth, *(extra or ()))}

    def _stub(self, address: str) -> kserve_grpc.GRPCInferenceServiceStub:
        stub = self._stubs.get(address)
        if stub is None:
            if self._credentials is not None:
                channel = grpc.aio.secure_channel(address, self._credentials, options=self._options)
            else:
                channel = grpc.aio.insecure_channel(address, options=self._options)
            self._channels[address] = channel
            stub = self._stubs[address] = kserve_grpc.GRPCInferenceServiceStub(channel)
        return stub

    async def infer(
        self,
        address: str,
        model: str,
        version: str,
        texts: Sequence[str],
        task: str,
        timeout_s: float,
        *,
        metadata: Sequence[tuple[str, str]] | None = None,
    ) -> list[EdgeOutput]:
        """Run `texts` through `model` at `address` within `timeout_s`; `metadata` goes with the
        call (e.g. the W3C ``traceparent``). Without metadata, concurrent calls to the same replica
        are merged (:mod:`router.coalesce`)."""
        if self.coalescer is not None and not metadata:
            return await self.coalescer.infer(address, model, version, texts, task, timeout_s)
        return await self._send(address, model, version, texts, task, timeout_s, metadata)

    async def _send(
        self,
        address: str,
        model: str,
        version: str,
        texts: Sequence[str],
        task: str,
        timeout_s: float,
        metadata: Sequence[tuple[str, str]] | None = None,
    ) -> list[EdgeOutput]:
        """One ModelInfer call for `texts`."""
        request = build_request(model, version, texts, task)
        try:
            extra = self._metadata(metadata)
            response = await self._stub(address).ModelInfer(request, timeout=max(timeout_s, 0.001), **extra)
        except grpc.aio.AioRpcError as exc:
            raise rpc_error(f"{model} at {address}", exc) from exc
        try:
            return parse_response(response, len(texts))
        except (ValueError, KeyError, struct.error) as exc:
            raise TargetError(f"{model} at {address} sent a malformed response: {exc}") from exc

    async def retrieve(
        self, address: str, model: str, version: str, queries: Sequence[str], top_k: int, timeout_s: float
    ) -> list[Retrieved]:
        """The ``top_k`` passages of each query from the retriever `model` at `address`."""
        request = retrieve_request(model, version, queries, top_k)
        try:
            response = await self._stub(address).ModelInfer(
                request, timeout=max(timeout_s, 0.001), **self._metadata(None)
            )
        except grpc.aio.AioRpcError as exc:
            raise rpc_error(f"{model} at {address}", exc) from exc
        try:
            return read_retrieval_response(response, len(queries))
        except (ValueError, KeyError, struct.error) as exc:
            raise TargetError(f"{model} at {address} sent a malformed retrieval response: {exc}") from exc

    async def generate(
        self,
        address: str,
        model: str,
        version: str,
        messages: Sequence[ChatMessage],
        params: SamplingParams,
        timeout_s: float,
        request_id: str = "",
        *,
        metadata: Sequence[tuple[str, str]] | None = None,
    ) -> AsyncIterator[GenerationChunk]:
        """Stream a generation from `model` at `address`: one request on a ``ModelStreamInfer``
        stream, its chunks until the final one. The request side stays open until the final
        response (as tritonclient does), then is closed. Leaving the iteration early (``aclose``,
        task cancelled) cancels the RPC, so the replica stops generating."""
        where = f"{model} at {address}"
        extra = self._metadata(metadata)
        call = self._stub(address).ModelStreamInfer(timeout=max(timeout_s, 0.001), **extra)
        finished = False
        try:
            await call.write(generate_request(model, version, messages, params, request_id))
            while True:
                response = await call.read()
                if response is grpc.aio.EOF:
                    raise TargetError(f"{where} ended the stream before the final response")
                if response.error_message:
                    raise TargetError(f"{where} failed: {response.error_message}")
                try:
                    chunk = read_chunk(response.infer_response)
                except ValueError as exc:
                    raise TargetError(f"{where} sent a malformed response: {exc}") from exc
                if chunk.final:
                    finished = True
                    await call.done_writing()  # the replica's request stream ends: the call ends
                yield chunk
                if chunk.final:
                    return
        except grpc.aio.AioRpcError as exc:
            raise rpc_error(where, exc) from exc
        finally:
            if not finished:
                call.cancel()

    async def aclose(self) -> None:
        """Close every pooled channel."""
        channels, self._channels, self._stubs = self._channels, {}, {}
        for channel in channels.values():
            await channel.close()


def rpc_error(where: str, exc: grpc.aio.AioRpcError) -> TargetError:
    """The TargetError of a failed call: TargetBusy for RESOURCE_EXHAUSTED (queue full), a timeout
    for DEADLINE_EXCEEDED."""
    code = exc.code()
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        return TargetBusy(f"{where} is busy: {exc.details() or 'queue full'}")
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return TargetError(f"{where} timed out", timeout=True)
    return TargetError(f"{where} failed: {code.name}: {exc.details()}")


def build_request(model: str, version: str, texts: Sequence[str], task: str) -> kserve_pb2.ModelInferRequest:
    """A ModelInferRequest for `texts` with the routing task as a parameter."""
    return text_request(model, version, texts, {"task": task})


def parse_response(response: kserve_pb2.ModelInferResponse, n: int) -> list[EdgeOutput]:
    """Per-text outputs from a ModelInferResponse (PROBS, LABEL, EMBEDDING)."""
    decoded = decode_outputs(response)
    probs = decoded.arrays.get("PROBS")
    emb = decoded.arrays.get("EMBEDDING")
    labels = decoded.strings.get("LABEL")
    if probs is None and emb is None:
        raise ValueError("neither PROBS nor EMBEDDING in the response")
    for name, checked in (("PROBS", probs), ("EMBEDDING", emb)):
        if checked is not None and (checked.ndim != 2 or checked.shape[0] != n):
            raise ValueError(f"{name} has shape {list(checked.shape)}, expected [{n}, *]")
    if labels is not None and len(labels) != n:
        raise ValueError(f"LABEL has {len(labels)} entries, expected {n}")
    params = decoded.parameters
    return [
        EdgeOutput(
            label=labels[k] if labels is not None else None,
            probs=tuple(probs[k].tolist()) if probs is not None else None,  # Python floats, as float(x)
            embedding=tuple(emb[k].tolist()) if emb is not None else None,
            device=str(params.get("device", "")),
            node=str(params.get("node", "")),
            replica=str(params.get("replica", "")),
            queue_ms=float(params.get("queue_ms", 0.0)),
        )
        for k in range(n)
    ]
