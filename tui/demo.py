"""Demo data: a realistic, deterministic fleet snapshot and a driver that keeps it moving.

Used by `python -m tui --demo` (clearly labelled DEMO DATA in the UI) and by the tests
(`build_demo_snapshot()` is fixed for a given seed, so snapshots are reproducible).
"""

from __future__ import annotations

import asyncio
import random

from protos.edgefleet.v1 import common_pb2, fleet_pb2
from tui.memory_client import MemoryFleetClient

DEMO_EPOCH_MS = 1_767_225_600_000.0  # 2026-01-01 00:00:00 UTC: fixed so screenshots are stable

_NodeSpec = tuple[str, str, list[tuple[str, str, bool]], dict[str, str], list[str]]
_NODES: tuple[_NodeSpec, ...] = (  # node id, name, [(device, full name, simulated)], labels, CPU ISA
    (
        "n-head",
        "edge-head",
        [("CPU", "Intel(R) Xeon(R) Gold 6438N", False)],
        {"site": "hq", "role": "head"},
        ["AVX2", "AVX512", "VNNI", "AMX", "BF16"],
    ),
    (
        "n-store1",
        "store-1",
        [("CPU", "Intel(R) Core(TM) i5-1340P", False), ("GPU.0", "Intel(R) Iris(R) Xe", True)],
        {"site": "store-1", "accel": "gpu"},
        ["AVX2", "VNNI"],
    ),
    (
        "n-store2",
        "store-2",
        [("CPU", "Intel(R) Core(TM) Ultra 5 125U", False), ("NPU", "Intel(R) AI Boost", True)],
        {"site": "store-2", "accel": "npu"},
        ["AVX2", "VNNI"],
    ),
    (
        "n-kiosk",
        "kiosk-3",
        [("CPU", "Intel(R) Atom(R) x6425E", False)],
        {"site": "kiosk", "tier": "small"},
        [],
    ),
)
_DEPLOYMENTS = (  # name, version, precision, [(node index, device)], price per call, precision policy
    ("domain-router", "3", "INT8", [(0, "CPU"), (1, "CPU")], 0.0000004, "auto"),
    ("clinc-banking", "2", "INT8", [(1, "GPU.0"), (2, "CPU")], 0.0000006, "auto"),
    ("clinc-travel", "2", "INT8", [(2, "NPU")], 0.0000006, "auto"),
    ("clinc-kitchen_and_dining", "1", "FP32", [(3, "CPU")], 0.0000009, "bf16"),
    ("generalist", "4", "FP32", [(0, "CPU")], 0.0000020, "f32"),
)
_TEXTS = (
    ("banking", "what's my checking account balance", "balance", "clinc-banking"),
    ("travel", "book me a flight to lisbon next friday", "book_flight", "clinc-travel"),
    ("kitchen_and_dining", "how long do i boil an egg", "cook_time", "clinc-kitchen_and_dining"),
    ("banking", "freeze my card i lost it", "freeze_account", "clinc-banking"),
    ("oos", "write me a sonnet about routers", "oos", "hosted:big"),
    ("travel", "do i need a visa for japan", "international_visa", "clinc-travel"),
)


def build_demo_snapshot(seed: int = 7, unix_ms: float = DEMO_EPOCH_MS) -> fleet_pb2.FleetSnapshot:
    """A fixed fleet: 4 heterogeneous nodes, 5 deployments, a hosted stand-in, 60 s of traffic."""
    rng = random.Random(seed)
    snap = fleet_pb2.FleetSnapshot(
        version=1, unix_ms=unix_ms, policy_path="edgefleet.yaml", policy_sha256="3f9a1c07d2e4b6a8"
    )
    for node_id, name, devices, labels, _ in _NODES:
        node = snap.nodes.add(
            node_id=node_id,
            name=name,
            address=f"10.0.0.{len(snap.nodes) + 10}",
            alive=True,
            health="healthy",
            cpu_percent=rng.uniform(15, 60),
            memory_percent=rng.uniform(30, 70),
            heartbeat_age_s=rng.uniform(0.1, 1.5),
        )
        node.labels.update(labels)
        node.resources.update({"CPU": 4.0 if name != "kiosk-3" else 2.0})
        for device, full_name, simulated in devices:
            node.devices.add(
                name=device, full_name=full_name, capabilities=["FP32", "INT8"], simulated=simulated
            )
    for name, version, precision, homes, price, policy in _DEPLOYMENTS:
        dep = snap.deployments.add(
            name=name,
            model=name,
            version=version,
            precision=precision,
            desired=len(homes),
            ready=len(homes),
            price_per_call_usd=price,
            precision_policy=policy,
        )
        for index, (node_index, device) in enumerate(homes):
            node = snap.nodes[node_index]
            isa = _NODES[node_index][4]
            replica_id = f"{name}-{index + 1}"
            inference, detail = demo_inference_precision(policy, device, isa)
            dep.replicas.add(
                replica_id=replica_id,
                deployment=name,
                node_id=node.node_id,
                node_name=node.name,
                device=device,
                address=f"{node.address}:{9100 + index}",
                state="ready",
                inference_precision=inference,
                isa=isa,
                detail=detail,
            )
            node.replicas.append(replica_id)
    snap.routes.add(
        name="intents",
        task="classify",
        domains=["banking", "travel", "kitchen_and_dining"],
        candidates=[d[0] for d in _DEPLOYMENTS[1:]],
        min_confidence=0.6,
    )
    snap.hosted.add(
        name="big",
        base_url="http://127.0.0.1:8088/v1",
        model="stand-in-generalist",
        stand_in=True,
        circuit="closed",
    )
    traffic = snap.traffic
    traffic.rps_history.extend(30 + 12 * rng.random() for _ in range(60))
    traffic.requests, traffic.edge, traffic.hosted, traffic.errors = 48_210, 44_973, 3_188, 49
    traffic.escalations.update(
        {"low_confidence": 1_902, "out_of_scope": 1_011, "latency_budget": 188, "error": 87}
    )
    for _ in range(12):
        _add_trace(snap, rng)
    advance(snap, rng, unix_ms)
    return snap


def demo_inference_precision(policy: str, device: str, isa: list[str]) -> tuple[str, str]:
    """What a replica would compute in (and why, when not as asked): GPU/NPU default to f16, a CPU
    to bf16 when it has BF16, else f32; bf16 asked without BF16 is f32 with the reason."""
    accelerator = device.split(".")[0] != "CPU"
    if policy == "f32":
        return "f32", ""
    if policy == "bf16" and (accelerator or "BF16" not in isa):
        where = device if accelerator else "this CPU"
        return "f32", f"precision bf16 requested but {where} has no BF16 support; compiled with f32"
    if policy == "bf16":
        return "bf16", ""
    return ("f16" if accelerator else "bf16" if "BF16" in isa else "f32"), ""


def _add_trace(snap: fleet_pb2.FleetSnapshot, rng: random.Random) -> None:
    domain, text, label, target = _TEXTS[rng.randrange(len(_TEXTS))]
    escalated = target.startswith("hosted") or rng.random() < 0.08
    router_ms, edge_ms = rng.uniform(0.6, 2.0), rng.uniform(2.0, 14.0)
    trace = fleet_pb2.RequestTrace(
        request_id=f"req-{snap.traffic.requests + len(snap.recent):07d}",
        unix_ms=snap.unix_ms,
        route="intents",
        domain=domain,
        text=text,
        label=label,
    )
    trace.trace.add(
        target="domain-router",
        outcome="ok",
        reason=f"domain {domain} p=0.{rng.randint(80, 99)}",
        ms=router_ms,
    )
    if target.startswith("hosted"):
        trace.trace.add(
            target="hosted:big", outcome="ok", reason="out-of-scope -> hosted", ms=rng.uniform(180, 420)
        )
    else:
        confidence = rng.uniform(0.3, 0.58) if escalated else rng.uniform(0.7, 0.99)
        outcome = "escalate" if escalated else "ok"
        reason = f"confidence {confidence:.2f} {'<' if escalated else '>='} 0.60"
        trace.trace.add(target=target, outcome=outcome, reason=reason, ms=edge_ms)
        if escalated:
            trace.trace.add(
                target="hosted:big",
                outcome="ok",
                reason="escalated: low confidence",
                ms=rng.uniform(180, 420),
            )
    hosted = trace.trace[-1].target.startswith("hosted")
    trace.confidence = rng.uniform(0.85, 0.97) if hosted else rng.uniform(0.7, 0.99)
    trace.latency_ms = sum(step.ms for step in trace.trace)
    trace.cost_usd = 0.00042 if hosted else 0.0000006
    trace.served_by.CopyFrom(
        common_pb2.ServedBy(
            model="stand-in-generalist" if hosted else target,
            version="1" if hosted else "2",
            replica="big" if hosted else f"{target}-1",
            node="127.0.0.1" if hosted else "store-1",
            device="" if hosted else "CPU",
            tier=common_pb2.HOSTED if hosted else common_pb2.EDGE,
            stand_in=hosted,
        )
    )
    snap.recent.insert(0, trace)
    del snap.recent[25:]


def advance(snap: fleet_pb2.FleetSnapshot, rng: random.Random, unix_ms: float) -> None:
    """One tick of plausible change: load, replica stats, traffic counters, a new trace or two."""
    snap.unix_ms = unix_ms
    for node in snap.nodes:
        node.cpu_percent = min(99.0, max(3.0, node.cpu_percent + rng.uniform(-6, 6)))
        node.memory_percent = min(95.0, max(20.0, node.memory_percent + rng.uniform(-1.5, 1.5)))
        node.heartbeat_age_s = rng.uniform(0.1, 1.8)
    for dep in snap.deployments:
        for replica in dep.replicas:
            stats = replica.stats
            stats.rps = max(0.0, rng.gauss(9.0 if dep.name == "domain-router" else 4.0, 1.2))
            stats.p50_ms = rng.uniform(2.0, 6.0) * (2.5 if dep.precision == "FP32" else 1.0)
            stats.p95_ms = stats.p50_ms * rng.uniform(1.8, 3.2)
            stats.error_rate = max(0.0, rng.gauss(0.002, 0.002))
            stats.queue_depth = rng.choice((0, 0, 0, 1, 2, 3))
            stats.requests += int(stats.rps)
    traffic = snap.traffic
    rps = max(0.0, traffic.rps_history[-1] + rng.uniform(-4, 4)) if traffic.rps_history else 30.0
    traffic.rps_history.append(rps)
    del traffic.rps_history[:-60]
    traffic.rps = rps
    hosted = int(rps * 0.07)
    traffic.requests += int(rps)
    traffic.edge += int(rps) - hosted
    traffic.hosted += hosted
    traffic.escalations["low_confidence"] += hosted // 2
    traffic.escalations["out_of_scope"] += hosted - hosted // 2
    traffic.spend_usd = traffic.edge * 0.0000006 + traffic.hosted * 0.00042
    traffic.hosted_equivalent_usd = traffic.requests * 0.00042
    traffic.saved_usd = traffic.hosted_equivalent_usd - traffic.spend_usd
    traffic.p50_ms, traffic.p95_ms = rng.uniform(4, 7), rng.uniform(60, 140)
    _add_trace(snap, rng)


async def drive_demo(client: MemoryFleetClient, period_s: float = 1.0, seed: int = 11) -> None:
    """Forever: advance the client's snapshot once per period and publish it."""
    rng = random.Random(seed)
    loop = asyncio.get_running_loop()
    start_ms = client.snapshot.unix_ms
    start = loop.time()
    while True:
        await asyncio.sleep(period_s)
        client.update(lambda snap: advance(snap, rng, start_ms + (loop.time() - start) * 1000))
