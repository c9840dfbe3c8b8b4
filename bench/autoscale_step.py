"""Autoscaling under a load step: ``python -m bench.autoscale_step --out DIR``.

A local Ray cluster (head + ``--nodes`` simulated nodes of one CPU), the controller with one
deployment that autoscales on its replicas' measured load (``--target-queue`` outstanding
requests per replica, or ``--target-p95-ms``), a router in this process, and a separate
load-generator process sending open-loop Infer requests: ``--rps`` for ``--before-s`` seconds,
then twice that for ``--after-s`` seconds. On a machine with a core per simulated node, each node's
raylet (and so every worker it starts: the replicas) is pinned to its own core, so a node offers
one core like a one-core edge box and a second replica brings a second core (the router, the
load generator and the head are not pinned); ``--no-pin`` turns that off. Every ~0.5 s the
controller's snapshot is sampled (replicas ready / desired, autoscaler events); every answer's
latency is placed at its scheduled
send time, so queueing shows. Written: ``DIR/autoscale_step.json`` and ``DIR/autoscale_step.md``
(the replica count over time, p95 per 2 s window, and the figures: p95 before and right after the
step, when the controller scaled, when the new replica was ready, when p95 was back under target
for good).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.loadgen import ROUTER_INFER, LoadGenerator, LoadJob, LoadResult
from edgefleet.stats import percentiles

NAMESPACE = "edgefleet-bench-autoscale"
WINDOW_S = 2.0


@dataclass
class StepConfig:
    """The experiment's knobs (see the module docstring)."""

    registry: Path
    model: str = "clinc-banking"
    rps: float = 150.0
    before_s: float = 20.0
    after_s: float = 60.0
    nodes: int = 2
    max_replicas: int = 2
    target_queue: float | None = 2.0
    target_p95_ms: float | None = None
    cooldown_s: float = 15.0
    concurrency: int = 256
    pin: bool = True


@dataclass
class Timeline:
    """What the monitor saw: (seconds since the load started, ready, desired) and events."""

    counts: list[tuple[float, int, int]] = field(default_factory=list)
    events: list[tuple[float, str]] = field(default_factory=list)


def policy_yaml(cfg: StepConfig) -> str:
    """The bench fleet: simulated nodes, one autoscaled deployment, one route."""
    target = (
        f"target_queue: {cfg.target_queue}" if cfg.target_queue else f"target_p95_ms: {cfg.target_p95_ms}"
    )
    nodes = "\n".join(f"    - {{name: step-{i}, num_cpus: 1, devices: [CPU]}}" for i in range(cfg.nodes))
    return f"""
registry: {cfg.registry}
router: {{listen: "127.0.0.1:0", http_listen: null, max_inflight: 4096}}
fleet:
  namespace: {NAMESPACE}
  reconcile_interval_s: 0.5
  health_timeout_s: 3
  head_num_cpus: 0
  simulated_nodes:
{nodes}
deployments:
  - name: scaled
    model: {cfg.model}
    replicas: 1
    max_queue: 100000
    autoscale: {{min: 1, max: {cfg.max_replicas}, {target}, cooldown_s: {cfg.cooldown_s}, window_s: 5}}
routes:
  - {{name: r, task: classify, targets: [scaled], min_confidence: 0}}
"""


async def monitor(controller: Any, t0: float, stop: asyncio.Event, out: Timeline) -> None:
    """Sample the controller's snapshot until `stop` (long-poll of at most 0.5 s)."""
    state = await controller.get_state(0, 0)
    seen = set(state.events)
    while not stop.is_set():
        dep = state.deployment("scaled")
        if dep is not None:
            out.counts.append((time.monotonic() - t0, dep.ready, dep.desired))
        for event in state.events:
            if event not in seen and ("autoscale" in event or "ready at" in event or "starting" in event):
                out.events.append((time.monotonic() - t0, event))
        seen |= set(state.events)
        state = await controller.get_state(state.version, 0.5)


def windows(result: LoadResult, rate: float, offset_s: float) -> list[tuple[float, float, int]]:
    """(window start s, p95 ms, answers) per WINDOW_S window, by scheduled send time."""
    by_window: dict[int, list[float]] = {}
    for answer in result.answers:
        if "error" in answer:
            continue
        at = offset_s + answer["index"] / rate
        by_window.setdefault(int(at // WINDOW_S), []).append(answer["latency_ms"])
    return [
        (k * WINDOW_S, percentiles(v, (95,))[0], len(v)) for k, v in sorted(by_window.items()) if len(v) >= 5
    ]


def summarize_step(
    cfg: StepConfig,
    before: list[tuple[float, float, int]],
    after: list[tuple[float, float, int]],
    tl: Timeline,
) -> dict[str, Any]:
    """The headline figures of one run."""
    step_at = cfg.before_s
    target = cfg.target_p95_ms
    steady = [p for _, p, _ in before[len(before) // 2 :]] or [math.nan]
    first_after = [p for t, p, _ in after if t < step_at + 6] or [math.nan]
    scaled = next((t for t, e in tl.events if t >= step_at and "autoscale scaled:" in e), None)
    at_step = next((ready for t, ready, _ in reversed(tl.counts) if t <= step_at), 0)
    ready2 = (
        next((t for t, ready, _ in tl.counts if t >= step_at and ready >= 2), None) if at_step < 2 else None
    )
    recovered = None
    if target is not None:
        for i, (t, _, _) in enumerate(after):
            if all(p <= target for _, p, _ in after[i:]):
                recovered = t
                break
    return {
        "p95_before_ms": round(sorted(steady)[len(steady) // 2], 2),
        "p95_first_6s_after_step_ms": round(max(first_after), 2),
        "p95_last_10s_ms": round(max([p for t, p, _ in after if t >= after[-1][0] - 10] or [math.nan]), 2),
        "scale_decision_after_step_s": None if scaled is None else round(scaled - step_at, 1),
        "second_replica_ready_after_step_s": None if ready2 is None else round(ready2 - step_at, 1),
        "p95_under_target_for_good_after_step_s": None
        if recovered is None
        else round(recovered - step_at, 1),
        "replicas_ready_at_step": at_step,
        "max_replicas_ready": max((r for _, r, _ in tl.counts), default=0),
    }


async def run_step(cfg: StepConfig) -> dict[str, Any]:
    """Start the fleet, drive the load step, stop everything; return the measurements."""
    from bench.suites.common import clinc_texts, router_request
    from edgefleet.policy.loader import parse_policy
    from fleet.ray_adapter.cluster import pin_simulated_nodes, start_local_cluster
    from fleet.ray_adapter.controller import start_controller
    from fleet.ray_adapter.fleet_source import RayFleetSource
    from router.server import serve

    policy = parse_policy(policy_yaml(cfg))
    payloads = [router_request(t) for t in clinc_texts(None, 500)]
    cluster = start_local_cluster(policy)
    pinned = pin_simulated_nodes(cluster) if cfg.pin else {}
    try:
        controller = await start_controller(policy, cfg.registry / "edgefleet.yaml", cfg.registry)
        try:
            await controller.wait_ready(timeout_s=180)
            source = RayFleetSource(controller, poll_timeout_s=1.0)
            await source.start()
            router = await serve(policy, source, {}, "127.0.0.1:0")
            try:
                result = await _drive(cfg, controller, router.address, payloads)
                result["pinned_cores"] = pinned
                return result
            finally:
                await router.stop(1.0)
                await source.aclose()
        finally:
            await controller.shutdown()
    finally:
        cluster.shutdown()


async def _drive(cfg: StepConfig, controller: Any, address: str, payloads: list[bytes]) -> dict[str, Any]:
    def job(rate: float, seconds: float) -> LoadJob:
        return LoadJob(address, ROUTER_INFER, payloads, concurrency=cfg.concurrency, rate=rate,
                       collect=True, max_requests=int(rate * seconds), max_seconds=seconds, warmup=0)  # fmt: skip

    timeline = Timeline()
    stop = asyncio.Event()
    with LoadGenerator() as gen:
        # Warm up at the base rate (never on the loop: the router runs on it), then start from one
        # replica whatever the warm-up made of it.
        await asyncio.to_thread(gen.run, job(cfg.rps, 8.0))
        await controller.scale("scaled", 1)
        await _wait(controller, lambda d: d.ready == 1 and len(d.replicas) == 1)
        t0 = time.monotonic()
        watcher = asyncio.create_task(monitor(controller, t0, stop, timeline))
        before = await asyncio.to_thread(gen.run, job(cfg.rps, cfg.before_s))
        step_at = time.monotonic() - t0
        after = await asyncio.to_thread(gen.run, job(2 * cfg.rps, cfg.after_s))
        stop.set()
        await watcher
    cfg.before_s = step_at
    before_w = windows(before, cfg.rps, 0.0)
    after_w = windows(after, 2 * cfg.rps, step_at)
    return {
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(cfg).items()},
        "summary": summarize_step(cfg, before_w, after_w, timeline),
        "load": {
            "before": {
                "sent": int(cfg.rps * cfg.before_s),
                "ok": len(before.latencies_ms),
                "errors": before.errors,
            },
            "after": {
                "sent": int(2 * cfg.rps * cfg.after_s),
                "ok": len(after.latencies_ms),
                "errors": after.errors,
            },
            "first_error": before.first_error or after.first_error,
        },
        "p95_windows": [[round(t, 1), round(p, 2), n] for t, p, n in before_w + after_w],
        "replicas": [[round(t, 1), r, d] for t, r, d in timeline.counts],
        "events": [[round(t, 1), e] for t, e in timeline.events],
    }


async def _wait(controller: Any, check: Any, timeout_s: float = 120.0) -> None:
    """Long-poll the controller until `check(the deployment)` holds (bounded)."""
    deadline = time.monotonic() + timeout_s
    state = await controller.get_state(0, 0)
    while not check(state.deployment("scaled")):
        if time.monotonic() > deadline:
            raise TimeoutError(f"the bench deployment did not settle: {state.deployment('scaled')}")
        state = await controller.get_state(state.version, 2.0)


def write_report(result: dict[str, Any], out: Path) -> Path:
    """autoscale_step.json and autoscale_step.md in `out`."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "autoscale_step.json").write_text(json.dumps(result, indent=1))
    s, c = result["summary"], result["config"]
    target = (
        f"outstanding {c['target_queue']}/replica" if c["target_queue"] else f"p95 {c['target_p95_ms']} ms"
    )
    lines = [
        f"# Autoscaling under a load step ({c['rps']:g} -> {2 * c['rps']:g} req/s, target {target})",
        "",
        f"model {c['model']}, nodes pinned to cores: {result.get('pinned_cores') or 'no'}; "
        f"errors before/after the step: {result['load']['before']['errors']}/{result['load']['after']['errors']}",
        "",
        "| figure | value |",
        "| --- | ---: |",
        *(f"| {k} | {v} |" for k, v in s.items()),
        "",
        "| t (s) | replicas ready / desired | p95 ms (2 s window) |",
        "| ---: | ---: | ---: |",
    ]
    counts = result["replicas"]
    for t, p95, _ in result["p95_windows"]:
        ready, desired = next(((r, d) for ct, r, d in reversed(counts) if ct <= t + WINDOW_S), (0, 0))
        lines.append(f"| {t:g} | {ready} / {desired} | {p95:.1f} |")
    lines += ["", "Events:", "", *(f"- {t:g} s: {e}" for t, e in result["events"])]
    path = out / "autoscale_step.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def main(argv: list[str] | None = None) -> int:
    """Command line (see the module docstring)."""
    from fleet.models.registry import default_registry

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("bench-out"))
    parser.add_argument("--registry", type=Path, default=None)
    parser.add_argument("--model", default="clinc-banking")
    parser.add_argument("--rps", type=float, default=150.0)
    parser.add_argument("--before-s", type=float, default=20.0)
    parser.add_argument("--after-s", type=float, default=60.0)
    parser.add_argument("--max-replicas", type=int, default=2)
    parser.add_argument("--target-queue", type=float, default=None)
    parser.add_argument("--target-p95-ms", type=float, default=None)
    parser.add_argument("--cooldown-s", type=float, default=15.0)
    parser.add_argument("--no-pin", action="store_true", help="do not pin simulated nodes to cores")
    args = parser.parse_args(argv)
    import logging

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    cfg = StepConfig(
        registry=(args.registry or default_registry()).resolve(),
        model=args.model,
        rps=args.rps,
        before_s=args.before_s,
        after_s=args.after_s,
        nodes=max(2, args.max_replicas),
        max_replicas=args.max_replicas,
        target_queue=args.target_queue if args.target_queue or args.target_p95_ms else 2.0,
        target_p95_ms=args.target_p95_ms,
        cooldown_s=args.cooldown_s,
        pin=not args.no_pin,
    )
    result = asyncio.run(run_step(cfg))
    path = write_report(result, args.out)
    print(path.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
