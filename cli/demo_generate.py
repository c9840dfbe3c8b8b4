"""The generative part of ``edgefleet demo``: a few prompts through the router's Generate rpc,
streamed to the terminal, each with who answered, time to first token and tokens/s."""

from __future__ import annotations

import time
from dataclasses import dataclass

import grpc
from rich.console import Console

from protos.edgefleet.v1 import common_pb2, router_pb2, router_pb2_grpc

PROMPTS = (
    "What is the capital of France?",
    "Name three primary colours.",
    "Write one sentence about the sea.",
    "What does a thermometer measure?",
)


@dataclass(frozen=True)
class Streamed:
    """One streamed generation as the client saw it."""

    prompt: str
    text: str
    tier: str
    model: str
    stand_in: bool
    ttft_ms: float
    tokens: int
    tokens_per_s: float
    confidence: float
    cost_usd: float
    error: str = ""


async def stream_prompts(
    address: str, route: str, console: Console, prompts: tuple[str, ...] = PROMPTS, max_tokens: int = 48
) -> list[Streamed]:
    """Send `prompts` one after another and print each answer as it streams."""
    out: list[Streamed] = []
    async with grpc.aio.insecure_channel(address) as channel:
        stub = router_pb2_grpc.RouterStub(channel)
        for prompt in prompts:
            console.print(f"[bold]> {prompt}[/]")
            req = router_pb2.GenerateRequest(route=route, max_tokens=max_tokens)
            req.messages.add(role="user", content=prompt)
            out.append(await _one(stub, req, prompt, console))
    return out


async def _one(
    stub: router_pb2_grpc.RouterStub, req: router_pb2.GenerateRequest, prompt: str, console: Console
) -> Streamed:
    start = time.perf_counter()
    first: float | None = None
    text = ""
    try:
        async for event in stub.Generate(req, timeout=60.0):
            kind = event.WhichOneof("event")
            if kind == "delta":
                first = first if first is not None else time.perf_counter()
                text += event.delta.text
                console.print(event.delta.text, end="", soft_wrap=True, highlight=False, markup=False)
            elif kind == "final":
                f = event.final
                ttft = ((first or time.perf_counter()) - start) * 1000.0
                gen_s = max((time.perf_counter() - (first or start)), 1e-3)
                s = Streamed(
                    prompt, f.text, common_pb2.Tier.Name(f.served_by.tier).lower(), f.served_by.model,
                    f.served_by.stand_in, ttft, f.completion_tokens, f.completion_tokens / gen_s,
                    f.confidence, f.cost_usd,
                )  # fmt: skip
                tag = " [yellow]STAND-IN[/]" if s.stand_in else ""
                console.print(
                    f"\n  [dim]{s.tier}: {s.model}{tag} · TTFT {s.ttft_ms:.0f} ms · {s.tokens} tokens at "
                    f"{s.tokens_per_s:.0f}/s · confidence {s.confidence:.2f} · ${s.cost_usd:.6f}[/]"
                )
                return s
    except grpc.aio.AioRpcError as exc:
        console.print(f"\n  [red]error: {exc.code().name}: {exc.details()}[/]")
        return Streamed(prompt, text, "", "", False, 0.0, 0, 0.0, 0.0, 0.0, error=f"{exc.code().name}")
    return Streamed(prompt, text, "", "", False, 0.0, 0, 0.0, 0.0, 0.0, error="stream ended without a result")
