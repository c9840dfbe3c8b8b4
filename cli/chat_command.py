"""``edgefleet chat``: send a prompt to the router's Generate rpc (client SDK) and stream the answer
to the terminal as it arrives, then say who answered, how fast, what it cost and why."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any, TextIO

from cli.runstate import api_key, client_tls, router_address
from client import EdgeFleetClient, EdgeFleetError, GenerateResult, Retraction, TextDelta, Tier


def conversation(args: argparse.Namespace) -> list[tuple[str, str]]:
    """The messages for the command's arguments: an optional system message, then the prompt."""
    system = [("system", args.system)] if args.system else []
    return [*system, ("user", args.prompt)]


def generate_options(args: argparse.Namespace) -> dict[str, Any]:
    """The SDK's generate options for the command's arguments (None: not sent)."""
    return {
        "max_tokens": args.max_tokens,
        "route": args.route or "",
        "allow_retraction": args.allow_retraction,
        "temperature": args.temperature,
        "seed": args.seed,
        "stop": args.stop or (),
        "max_latency_ms": args.max_latency_ms,
        "max_time_to_first_token_ms": args.max_ttft_ms,
        "max_cost_usd": args.max_cost_usd,
        "min_confidence": args.min_confidence,
    }


def chat(args: argparse.Namespace) -> int:
    """Stream one generation to stdout; a summary line (and the trace with --trace) to stderr."""
    out, err = sys.stdout, sys.stderr
    start = time.perf_counter()
    first: float | None = None
    address = router_address(args.router)
    with EdgeFleetClient(
        address, api_key=api_key(args.api_key), generate_timeout_s=args.timeout, tls=client_tls(args)
    ) as ef:
        try:
            with ef.generate(conversation(args), **generate_options(args)) as stream:
                for event in stream:
                    if isinstance(event, TextDelta):
                        first = first if first is not None else time.perf_counter()
                        out.write(event.text)
                        out.flush()
                    elif isinstance(event, Retraction):
                        out.write(f"\n[retracted {event.chars} characters: {event.reason}]\n")
                    else:
                        out.write("\n")
                        _summary(event, start, first, err, show_trace=args.trace)
        except EdgeFleetError as exc:
            print(f"\nerror: {exc}", file=err)
            return 2
    return 0


def _summary(
    final: GenerateResult, start: float, first: float | None, err: TextIO, *, show_trace: bool
) -> None:
    s = final.served_by
    tier = s.tier.value.lower()
    where = f"{s.model} on {s.node}/{s.device}" if s.tier is Tier.EDGE else f"{s.model} ({s.replica})"
    stand_in = " [STAND-IN]" if s.stand_in else ""
    seconds = max(final.latency_ms - final.time_to_first_token_ms, 1e-3) / 1000.0
    tps = final.completion_tokens / seconds if final.completion_tokens else 0.0
    wall_ttft = (first - start) * 1000.0 if first is not None else 0.0
    print(
        f"-- {tier}: {where}{stand_in}, route {final.route}; time to first token {final.time_to_first_token_ms:.0f} ms "
        f"(client {wall_ttft:.0f} ms), {final.completion_tokens} tokens at {tps:.0f} tokens/s, "
        f"confidence {final.confidence:.2f}, cost ${final.cost_usd:.6f}, finish {final.finish_reason}",
        file=err,
    )
    if show_trace:
        for step in final.trace:
            print(f"   {step.target}: {step.outcome} ({step.reason}) {step.ms:.0f} ms", file=err)
