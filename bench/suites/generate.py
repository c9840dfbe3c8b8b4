"""Suite `generate`: edge LLM replicas (SmolLM2-135M) with continuous batching on and off.

Two replicas of the same registry version run side by side, each in its own process: one with
ContinuousBatchingPipeline (``llm.continuous_batching: true``), one with LLMPipeline serving one
request at a time. For concurrency 1, 4 and 8 (interleaved: every level of both modes before the
next round, so background load hits both alike) the client opens that many ModelStreamInfer
streams at once and records time to first token (includes queueing) and aggregate output tokens/s.
RSS is read per replica process. The full run also probes load time and single-stream speed of
the GGUF file against the registry's IR versions (each in a fresh process).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil

from bench.llm_load import prompt, stream_level
from bench.procs import ServerHost
from bench.stats import ratio, summarize

LLM_NAME = "smollm2-135m"
NOT_BUILT = f"not built: run `edgefleet models build` (model {LLM_NAME} is missing)"
MODES = {"cb": {"continuous_batching": True, "max_batch": 8}, "serial": {"continuous_batching": False}}


ROUTER_POLICY = """\
version: 1
router: {listen: "127.0.0.1:0", escalation_log: null, ledger: null, http_listen: null}
deployments:
  - {name: llm, model: smollm2-135m}
routes:
  - {name: chat, task: generate, targets: [llm], min_confidence: 0.0, edge_stream: immediate}
"""


async def _routed_once(address: str, i: int, max_tokens: int) -> float:
    """TTFT (ms) of one Generate call through the router (first delta), with the client SDK as an
    app would call it (no retries: a failure is reported, not hidden)."""
    from client import AsyncEdgeFleetClient, RetryPolicy

    async with AsyncEdgeFleetClient(address, retry=RetryPolicy.never(), generate_timeout_s=300) as ef:
        started = time.perf_counter()
        async with ef.generate(
            prompt(i), max_tokens=max_tokens, route="chat", allow_retraction=True
        ) as stream:
            async for _ in stream:  # the first event is a delta (or the final result of an empty answer)
                return (time.perf_counter() - started) * 1000.0
    raise RuntimeError("the router's stream ended without text")


def measure_routed_ttft(
    router_address: str, direct_address: str, rounds: int, max_tokens: int
) -> dict[str, Any]:
    """The router's added time to first token: the same prompts sent one at a time (a) straight to the
    replica's ModelStreamInfer and (b) through the router's Generate stream (route with
    ``edge_stream: immediate``, so the first token is forwarded as soon as it arrives), interleaved."""
    direct: list[float] = []
    routed: list[float] = []
    for i in range(rounds):
        level = asyncio.run(stream_level(direct_address, LLM_NAME, 1, max_tokens, offset=i))
        direct.extend(level["ttft_ms"])
        routed.append(asyncio.run(_routed_once(router_address, i, max_tokens)))
    d, r = summarize(direct), summarize(routed)
    return {
        "status": "ok",
        "rounds": rounds,
        "direct_ttft_p50_ms": d["p50_ms"],
        "direct_ttft_p95_ms": d["p95_ms"],
        "routed_ttft_p50_ms": r["p50_ms"],
        "routed_ttft_p95_ms": r["p95_ms"],
        "added_ttft_p50_ms": r["p50_ms"] - d["p50_ms"],
        "routed_vs_direct_ttft": ratio(r["p50_ms"], d["p50_ms"]),
    }


def _variants(registry: Path, max_tokens: int) -> list[dict[str, Any]]:
    """Load time and single-stream speed of the GGUF and of every registry version (fresh process each)."""
    from factory.llm_import import smollm2_gguf
    from fleet.models.registry import list_models, read_manifest

    paths: list[tuple[str, str, Path]] = [("GGUF (loaded directly)", "Q4_1", smollm2_gguf())]
    for entry in list_models(registry):
        for version in entry.versions:
            folder = registry / entry.name / version
            manifest = read_manifest(folder)
            if manifest.task == "generate" and entry.name.startswith("smollm2"):
                paths.append((f"{entry.name}:{version}", manifest.precision, folder))
    out = []
    for label, precision, path in paths:
        proc = subprocess.run(
            [sys.executable, "-m", "bench.llm_load", str(path), str(max_tokens)],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        row: dict[str, Any] = {"variant": label, "precision": precision}
        files = [path] if path.is_file() else [path / "openvino_model.xml", path / "openvino_model.bin"]
        row["weights_mb"] = round(sum(f.stat().st_size for f in files) / 1e6, 1)
        if proc.returncode == 0:
            row.update(json.loads(proc.stdout.strip().splitlines()[-1]))
        else:
            row["error"] = proc.stderr.strip().splitlines()[-1:] or ["failed"]
        out.append(row)
    return out


def _router_pass(replica: str, folder: Path, rounds: int, max_tokens: int) -> dict[str, Any]:
    """A router process in front of the CB replica (StaticFleet), and the routed vs direct TTFT."""
    from fleet.models.registry import read_manifest

    manifest = read_manifest(folder)
    dep = {
        "name": "llm", "address": replica, "model": LLM_NAME, "version": manifest.version,
        "precision": manifest.precision, "price_per_call_usd": 0.0, "task": "generate", "labels": [],
    }  # fmt: skip
    with ServerHost(
        "bench.services:build_routers", {"routers": {"r": ROUTER_POLICY}, "deployments": [dep]}
    ) as r:
        return measure_routed_ttft(r["r"], replica, rounds, max_tokens)


def run(ctx: Any) -> dict[str, Any]:
    """Both modes side by side; headline: CB vs serial tokens/s and TTFT at the highest level."""
    from fleet.errors import ModelLoadError
    from fleet.models.manifest import resolve_model_dir

    registry = ctx.models_dir()
    try:
        folder = resolve_model_dir(registry, LLM_NAME)
    except ModelLoadError:
        return {"status": "skipped", "reason": f"{NOT_BUILT} (registry {registry})", "cb_vs_serial_tps": None}
    levels = ctx.size([1, 2], [1, 4, 8])
    max_tokens = ctx.size(8, 32)
    rounds = ctx.size(1, 3)
    hosts = {
        m: ServerHost("bench.llm_load:build_llm_replica", {"folder": str(folder), "llm": o, "name": m})
        for m, o in MODES.items()
    }
    samples: dict[str, dict[int, dict[str, list[float]]]] = {
        m: {c: {"ttft": [], "tps": []} for c in levels} for m in MODES
    }
    rss: dict[str, float] = {}
    load_s: dict[str, float] = {}
    try:
        addresses = {m: host.__enter__() for m, host in hosts.items()}
        for m in hosts:
            load_s[m] = float(addresses[m]["load_s"])
            asyncio.run(stream_level(addresses[m]["kserve"], LLM_NAME, 1, 4))  # warm-up, not counted
        for r in range(rounds):
            for c in levels:
                for m in MODES:
                    level = asyncio.run(
                        stream_level(addresses[m]["kserve"], LLM_NAME, c, max_tokens, offset=r)
                    )
                    samples[m][c]["ttft"].extend(level["ttft_ms"])
                    samples[m][c]["tps"].append(level["tokens"] / level["wall_s"])
        for m, host in hosts.items():
            if host.pid is not None:
                rss[m] = round(psutil.Process(host.pid).memory_info().rss / 2**20, 1)
        routed = _router_pass(addresses["cb"]["kserve"], folder, ctx.size(4, 20), max_tokens)
    finally:
        for host in hosts.values():
            host.close()
    table_rows = []
    result: dict[str, Any] = {"levels": levels, "max_tokens": max_tokens, "rounds": rounds, "modes": {}}
    for m in MODES:
        per_level = {}
        for c in levels:
            ttft = summarize(samples[m][c]["ttft"])
            tps = sorted(samples[m][c]["tps"])[len(samples[m][c]["tps"]) // 2]
            per_level[str(c)] = {
                "ttft_p50_ms": ttft["p50_ms"],
                "ttft_p95_ms": ttft["p95_ms"],
                "tokens_per_s": tps,
            }
            table_rows.append([m, c, ttft["p50_ms"], ttft["p95_ms"], tps])
        result["modes"][m] = {"levels": per_level, "rss_mb": rss.get(m), "load_s": load_s.get(m)}
    top = str(levels[-1])
    cb, serial = result["modes"]["cb"]["levels"][top], result["modes"]["serial"]["levels"][top]
    result["cb_vs_serial_tps"] = ratio(cb["tokens_per_s"], serial["tokens_per_s"])
    result["serial_vs_cb_ttft_p50"] = ratio(serial["ttft_p50_ms"], cb["ttft_p50_ms"])
    result["router_added_ttft"] = routed
    result["routed_vs_direct_ttft"] = routed.get("routed_vs_direct_ttft")
    tables = [
        (
            "TTFT and output tokens/s per replica",
            ["mode", "streams", "TTFT p50 ms", "TTFT p95 ms", "tokens/s"],
            table_rows,
        ),
        (
            "Replica processes",
            ["mode", "RSS MB", "load s"],
            [[m, result["modes"][m]["rss_mb"], result["modes"][m]["load_s"]] for m in MODES],
        ),
    ]
    if not ctx.tiny:
        variants = _variants(registry, 64)
        result["variants"] = variants
        tables.append(
            (
                "Model variants (fresh process each, LLMPipeline, 64 tokens greedy)",
                ["variant", "precision", "weights MB", "load s", "TTFT ms", "tokens/s", "peak RSS MB"],
                [
                    [
                        v["variant"],
                        v["precision"],
                        v["weights_mb"],
                        v.get("load_s"),
                        v.get("ttft_ms"),
                        v.get("tokens_per_s"),
                        v.get("peak_rss_mb"),
                    ]
                    for v in variants
                ],
            )
        )
    result.update(
        topology="client (this process, grpc.aio) -> 2 replica processes (KServe v2 gRPC on loopback), "
        "one per mode, both alive for the whole run",
        method=f"{rounds} round(s); per level, all streams start together; {max_tokens} new tokens each "
        "(story prompts, greedy); TTFT = first response of a stream, queueing included; tokens/s = all "
        "completion tokens of the level / its wall time (median over rounds).",
        tables=tables,
        notes=[
            "cb_vs_serial_tps = CB / serial output tokens/s at the highest concurrency; "
            "serial_vs_cb_ttft_p50 = serial / CB TTFT p50 there.",
            "router_added_ttft: a router process (StaticFleet, route edge_stream: immediate) in front of the CB "
            "replica; the same prompts one at a time, direct ModelStreamInfer and routed Generate interleaved.",
        ],
    )
    return result
