"""The generate suite's harness: an LLM replica in its own process, a streaming load generator,
and a one-shot load/speed probe of one model variant (GGUF file or IR folder).

:func:`build_llm_replica` is a :class:`bench.procs.ServerHost` builder (a replica per process, so
each one's RSS is its own and the client's GIL is not the server's). :func:`stream_level` sends
`concurrency` ModelStreamInfer requests at once and records time to first token and token counts.
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

STORY_TOPICS = (
    "a dragon who learns to cook",
    "a lighthouse keeper and a lost whale",
    "a robot that grows a garden",
    "two rival bakers in a small town",
    "a cat who becomes mayor",
    "a map that redraws itself at night",
    "a violin that plays by itself",
    "a train that never stops",
)


def prompt(i: int) -> str:
    """A prompt that asks for a long answer (so answers run to max_tokens)."""
    return f"Write a long, detailed story about {STORY_TOPICS[i % len(STORY_TOPICS)]}."


async def build_llm_replica(
    spec: dict[str, Any],
) -> tuple[dict[str, str], Callable[[], Awaitable[None]]]:
    """ServerHost builder: load the model folder in `spec` with `spec["llm"]` options and serve it."""
    from edgefleet.policy.llm_options import LLMOptions
    from fleet.models.manifest import load_bundle
    from fleet.serving.kserve_server import start_kserve
    from fleet.serving.llm_model import load_llm
    from fleet.serving.llm_servicer import LLMServicer

    bundle = load_bundle(Path(spec["folder"]))
    model = await asyncio.to_thread(
        load_llm, bundle, ["CPU"], LLMOptions(**spec.get("llm", {})), max_queue=int(spec.get("max_queue", 64))
    )
    endpoint = start_kserve(LLMServicer(model, replica=spec.get("name", "bench")), "127.0.0.1", 0)

    async def stop() -> None:
        endpoint.stop(1.0)
        model.close()

    return {"kserve": f"127.0.0.1:{endpoint.port}", "load_s": f"{model.load_s:.3f}"}, stop


async def _one(stub: Any, model: str, i: int, max_tokens: int) -> dict[str, float]:
    from edgefleet.generation import ChatMessage, SamplingParams
    from edgefleet.kserve_llm import generate_request, read_chunk

    request = generate_request(
        model, "", [ChatMessage("user", prompt(i))], SamplingParams(max_tokens=max_tokens)
    )
    started = time.perf_counter()
    first = None
    tokens = 0
    async for response in stub.ModelStreamInfer(iter([request]), timeout=300):
        if response.error_message:
            raise RuntimeError(response.error_message)
        chunk = read_chunk(response.infer_response)
        if first is None and (chunk.text or chunk.final):
            first = time.perf_counter()
        if chunk.final:
            tokens = chunk.completion_tokens
    done = time.perf_counter()
    return {
        "ttft_ms": ((first or done) - started) * 1000.0,
        "tokens": float(tokens),
        "seconds": done - started,
    }


async def stream_level(
    address: str, model: str, concurrency: int, max_tokens: int, offset: int = 0
) -> dict[str, Any]:
    """`concurrency` streams started together; their TTFTs, token counts and the wall time."""
    import grpc

    from protos.inference import grpc_service_pb2_grpc as kserve_grpc

    async with grpc.aio.insecure_channel(address) as channel:
        stub = kserve_grpc.GRPCInferenceServiceStub(channel)
        started = time.perf_counter()
        results = await asyncio.gather(
            *(_one(stub, model, offset + i, max_tokens) for i in range(concurrency))
        )
        wall = time.perf_counter() - started
    return {
        "ttft_ms": [r["ttft_ms"] for r in results],
        "tokens": sum(r["tokens"] for r in results),
        "wall_s": wall,
    }


def probe_variant(path: str, max_tokens: int) -> dict[str, Any]:
    """Load a GGUF file or IR folder with LLMPipeline (fresh process expected) and time one greedy
    single-stream answer: load seconds, TTFT, output tokens/s, peak RSS."""
    from edgefleet.generation import ChatMessage, SamplingParams
    from fleet.serving.llm_backend import OVSerialPipeline

    started = time.perf_counter()
    pipe = OVSerialPipeline(Path(path), "CPU", "")
    load_s = time.perf_counter() - started
    encoded = pipe.tokenizer.encode(pipe.tokenizer.apply_chat_template([ChatMessage("user", prompt(0))]))
    stamps: list[float] = []

    def on_tokens(ids: list[int]) -> bool:
        stamps.extend(time.perf_counter() for _ in ids)
        return False

    t0 = time.perf_counter()
    pipe.generate(encoded, SamplingParams(max_tokens=max_tokens), on_tokens)
    decode_s = stamps[-1] - stamps[0] if len(stamps) > 1 else float("nan")
    return {
        "load_s": round(load_s, 3),
        "ttft_ms": round((stamps[0] - t0) * 1000.0, 1) if stamps else float("nan"),
        "tokens": len(stamps),
        "tokens_per_s": round((len(stamps) - 1) / decode_s, 1) if len(stamps) > 1 else float("nan"),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


if __name__ == "__main__":  # python -m bench.llm_load PATH MAX_TOKENS -> one JSON line
    print(json.dumps(probe_variant(sys.argv[1], int(sys.argv[2]))))
