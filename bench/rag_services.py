"""ServerHost builder of a question-answering fleet for ``edgefleet rag outcomes`` and
``edgefleet bench rag``: an edge LLM replica (OpenVINO GenAI continuous batching), a retriever
replica over a collection, optionally a policy replica (a classify model over feature vectors) and
the hosted STAND-IN replaying the recorded large-model answers, all in one process on 127.0.0.1
port 0 (the router runs in another, :func:`bench.services.build_routers`).

``spec``: ``llm`` (folder), ``llm_options`` (dict), ``collection`` (folder), ``policy`` (folder
or None), ``stand_in`` (``{"generalist": folder, "latency_ms": float, "replay": "squad-bert"}``).
Addresses: ``llm``, ``retriever``, ``policy`` (``host:port``) and ``stand_in`` (base URL).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from bench.services import Stop


async def build_rag_fleet(spec: dict[str, Any]) -> tuple[dict[str, str], Stop]:
    """Start the replicas and the stand-in of `spec` (see the module docstring)."""
    from edgefleet.policy.llm_options import LLMOptions
    from fleet.models.manifest import load_bundle
    from fleet.serving.kserve_server import KServeServicer, start_kserve
    from fleet.serving.llm_model import load_llm
    from fleet.serving.llm_servicer import LLMServicer
    from fleet.serving.retrieve_servicer import RetrieveServicer
    from fleet.serving.retriever import load_retriever
    from fleet.serving.runtime import TextModel
    from standin.replay import load_replay
    from standin.server import StandInServer

    endpoints: list[Any] = []
    addresses: dict[str, str] = {}
    llm = None
    if spec.get("llm"):  # None: a retrieval-only fleet (recomputing features)
        options = LLMOptions(**spec.get("llm_options", {}))
        llm = await asyncio.to_thread(
            load_llm, load_bundle(Path(spec["llm"])), ["CPU"], options, max_queue=64
        )
        endpoints.append(start_kserve(LLMServicer(llm, node="bench-node", replica="llm-0"), "127.0.0.1", 0))
        addresses["llm"] = f"127.0.0.1:{endpoints[-1].port}"
    retriever = await asyncio.to_thread(
        load_retriever, load_bundle(Path(spec["collection"])), precision="f32"
    )
    endpoints.append(
        start_kserve(RetrieveServicer(retriever, node="bench-node", replica="retriever-0"), "127.0.0.1", 0)
    )
    addresses["retriever"] = f"127.0.0.1:{endpoints[-1].port}"
    if spec.get("policy"):
        policy = TextModel.load(load_bundle(Path(spec["policy"])))
        endpoints.append(
            start_kserve(KServeServicer(policy, node="bench-node", replica="policy-0"), "127.0.0.1", 0)
        )
        addresses["policy"] = f"127.0.0.1:{endpoints[-1].port}"
    stand_in: StandInServer | None = None
    if spec.get("stand_in"):
        cfg = spec["stand_in"]
        generalist = TextModel.load(load_bundle(Path(cfg["generalist"])))
        replay = load_replay(cfg["replay"]) if cfg.get("replay") else None
        stand_in = StandInServer(generalist, latency_ms=float(cfg.get("latency_ms", 0.0)), replay=replay)
        addresses["stand_in"] = stand_in.start()

    async def stop() -> None:
        if stand_in is not None:
            await asyncio.to_thread(stand_in.stop)
        for endpoint in endpoints:
            endpoint.stop(1.0)
        if llm is not None:
            llm.close()

    return addresses, stop
