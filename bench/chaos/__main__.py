"""``python -m bench.chaos [--short] [--scenarios a,b] [--out DIR]``: start a chaos fleet, run the
scenarios one after the other under load, write ``chaos.json`` and ``chaos.md`` into DIR, print
the table; exit 1 when any request was lost (or answered with an unexpected error)."""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import random
import sys
import tempfile
import time
from pathlib import Path

from bench.chaos import report
from bench.chaos.fleet import ChaosFleet
from bench.chaos.scenarios import FULL, SCENARIOS, SHORT, SHORT_SET, run_scenario, settle

ROOT = Path(__file__).resolve().parents[2]


def load_texts(path: Path, n: int = 240) -> Path:
    """CLINC150 test texts, a third banking, a third other domains, a sixth out of scope."""
    from factory.data import load_clinc150

    clinc = load_clinc150()
    banking = [t for t, i in clinc.test if clinc.intent_to_domain.get(i) == "banking"]
    other = [t for t, i in clinc.test if clinc.intent_to_domain.get(i) not in (None, "banking")]
    oos = [t for t, _ in clinc.oos_test]
    texts = [*banking[: n // 3], *other[:: max(1, len(other) // (n // 3))][: n // 3], *oos[: n // 6]]
    random.Random(12).shuffle(texts)  # every stretch of the load mixes them
    path.write_text(json.dumps(texts), encoding="utf-8")
    return path


async def run(names: list[str], short: bool, out: Path, work: Path) -> list[report.ScenarioResult]:
    """Start the fleet, run `names` in order, always close the fleet."""
    timing = SHORT if short else FULL
    texts = load_texts(work / "texts.json")
    fleet = ChaosFleet(work, ROOT / ".edgefleet" / "chaos-models")
    results: list[report.ScenarioResult] = []
    started = time.monotonic()
    try:
        await fleet.start()
        print(f"chaos fleet up in {time.monotonic() - started:.0f}s; router {fleet.address}", flush=True)
        for name in names:
            if not await settle(fleet):
                print(f"{name}: the fleet is not whole before the scenario (running it anyway)", flush=True)
            result = await run_scenario(fleet, SCENARIOS[name], timing, texts)
            print(f"{name}: {result.verdict}", flush=True)
            results.append(result)
    finally:
        await fleet.close()
        meta = {
            "mode": "short" if short else "full",
            "unix": time.time(),
            "machine": {"cpus": __import__("os").cpu_count(), "python": platform.python_version()},
            "timing": timing.__dict__,
            "hosted_idempotency": _idempotency(fleet),
        }
        report.write(results, out, meta)
    return results


def _idempotency(fleet: ChaosFleet) -> dict[str, int]:
    """Requests the proxy saw, distinct Idempotency-Keys, and keys seen more than once (retries)."""
    if fleet.hosted is None:
        return {}
    keys = fleet.hosted.keys
    return {"requests": sum(fleet.hosted.requests.values()), "keys": len(keys),
            "retried_keys": sum(1 for n in keys.values() if n > 1)}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Entry point (see the module doc)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--short", action="store_true", help=f"short: {', '.join(SHORT_SET)}, short loads")
    parser.add_argument("--scenarios", default="", help=f"comma-separated, from: {', '.join(SCENARIOS)}")
    parser.add_argument("--out", default="chaos-out", type=Path)
    parser.add_argument("--work", type=Path, help="working folder (default: a temporary one)")
    args = parser.parse_args(argv)
    names = [n for n in args.scenarios.split(",") if n] or list(SHORT_SET if args.short else SCENARIOS)
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s) {unknown}; known: {', '.join(SCENARIOS)}")
    with tempfile.TemporaryDirectory(prefix="edgefleet-chaos-") as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        results = asyncio.run(run(names, args.short, args.out, work))
    print(report.table(results))
    print(f"report: {args.out / 'chaos.json'}, {args.out / 'chaos.md'}")
    return 1 if any(r.lost or r.errors for r in results) or len(results) < len(names) else 0


if __name__ == "__main__":
    sys.exit(main())
