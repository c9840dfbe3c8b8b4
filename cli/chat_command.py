"""``edgefleet chat``: send a prompt to the router's Generate rpc and stream the answer to the
terminal as it arrives, then say who answered, how fast, what it cost and why."""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import TextIO

import grpc

from cli.runstate import router_address
from edgefleet.constants import API_KEY_ENV
from protos.edgefleet.v1 import common_pb2, router_pb2, router_pb2_grpc


def build_request(args: argparse.Namespace) -> router_pb2.GenerateRequest:
    """The GenerateRequest for the command's arguments."""
    req = router_pb2.GenerateRequest(
        max_tokens=args.max_tokens, route=args.route or "", allow_retraction=args.allow_retraction
    )
    if args.system:
        req.messages.add(role="system", content=args.system)
    req.messages.add(role="user", content=args.prompt)
    if args.temperature is not None:
        req.temperature = args.temperature
    if args.seed is not None:
        req.seed = args.seed
    req.stop.extend(args.stop or [])
    if args.max_latency_ms is not None:
        req.constraints.max_latency_ms = args.max_latency_ms
    if args.max_ttft_ms is not None:
        req.constraints.max_time_to_first_token_ms = args.max_ttft_ms
    if args.max_cost_usd is not None:
        req.constraints.max_cost_usd = args.max_cost_usd
    if args.min_confidence is not None:
        req.constraints.min_confidence = args.min_confidence
    return req


def chat(args: argparse.Namespace) -> int:
    """Stream one generation to stdout; a summary line (and the trace with --trace) to stderr."""
    metadata = []
    key = args.api_key or os.environ.get(API_KEY_ENV)
    if key:
        metadata.append(("authorization", f"Bearer {key}"))
    out, err = sys.stdout, sys.stderr
    start = time.perf_counter()
    first: float | None = None
    shown = 0
    with grpc.insecure_channel(router_address(args.router)) as channel:
        stub = router_pb2_grpc.RouterStub(channel)
        try:
            for event in stub.Generate(build_request(args), timeout=args.timeout, metadata=metadata):
                kind = event.WhichOneof("event")
                if kind == "delta":
                    first = first if first is not None else time.perf_counter()
                    out.write(event.delta.text)
                    out.flush()
                    shown += len(event.delta.text)
                elif kind == "retraction":
                    out.write(
                        f"\n[retracted {event.retraction.chars} characters: {event.retraction.reason}]\n"
                    )
                    shown = 0
                elif kind == "final":
                    out.write("\n")
                    _summary(event.final, start, first, err, show_trace=args.trace)
        except grpc.RpcError as exc:
            print(f"\nerror: {exc.code().name}: {exc.details()}", file=err)
            return 2
    return 0


def _summary(
    final: router_pb2.GenerateResult, start: float, first: float | None, err: TextIO, *, show_trace: bool
) -> None:
    s = final.served_by
    tier = common_pb2.Tier.Name(s.tier).lower()
    where = f"{s.model} on {s.node}/{s.device}" if tier == "edge" else f"{s.model} ({s.replica})"
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
