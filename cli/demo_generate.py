"""The generative part of ``edgefleet demo``: a few prompts through the router's Generate rpc,
streamed to the terminal, each with who answered, time to first token and tokens/s."""

from __future__ import annotations

import time
from dataclasses import dataclass

from rich.console import Console

from client import AsyncEdgeFleetClient, EdgeFleetError, GenerateResult, TextDelta

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
    """Send `prompts` one after another (client SDK) and print each answer as it streams."""
    out: list[Streamed] = []
    async with AsyncEdgeFleetClient(address, generate_timeout_s=60.0) as ef:
        for prompt in prompts:
            console.print(f"[bold]> {prompt}[/]")
            out.append(await _one(ef, route, max_tokens, prompt, console))
    return out


async def _one(
    ef: AsyncEdgeFleetClient, route: str, max_tokens: int, prompt: str, console: Console
) -> Streamed:
    start = time.perf_counter()
    first: float | None = None
    text = ""
    try:
        async with ef.generate(prompt, max_tokens=max_tokens, route=route) as stream:
            async for event in stream:
                if isinstance(event, TextDelta):
                    first = first if first is not None else time.perf_counter()
                    text += event.text
                    console.print(event.text, end="", soft_wrap=True, highlight=False, markup=False)
                elif isinstance(event, GenerateResult):
                    return _shown(prompt, event, start, first, console)
    except EdgeFleetError as exc:
        console.print(f"\n  [red]error: {exc}[/]")
        return Streamed(prompt, text, "", "", False, 0.0, 0, 0.0, 0.0, 0.0, error=exc.code.name)
    return Streamed(prompt, text, "", "", False, 0.0, 0, 0.0, 0.0, 0.0, error="stream ended without a result")


def _shown(prompt: str, f: GenerateResult, start: float, first: float | None, console: Console) -> Streamed:
    ttft = ((first or time.perf_counter()) - start) * 1000.0
    gen_s = max(time.perf_counter() - start, 1e-3)  # a buffered answer arrives all at once
    s = Streamed(
        prompt, f.text, f.served_by.tier.value.lower(), f.served_by.model, f.served_by.stand_in, ttft,
        f.completion_tokens, f.completion_tokens / gen_s, f.confidence, f.cost_usd,
    )  # fmt: skip
    tag = " [yellow]STAND-IN[/]" if s.stand_in else ""
    conf = f"{s.confidence:.2f}" if s.confidence > 0 else "n/a"
    why = next((f"{t.outcome}: {t.reason}" for t in f.trace if t.outcome == "escalate"), "")
    console.print(
        f"\n  [dim]{s.tier}: {s.model}{tag} · first text after {s.ttft_ms:.0f} ms · {s.tokens} tokens, "
        f"{s.tokens_per_s:.0f} tokens/s end to end · confidence {conf} · ${s.cost_usd:.6f}"
        + (f" · {why}" if why else "")
        + "[/]",
        highlight=False,
    )
    return s
