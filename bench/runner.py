"""``edgefleet bench``: run the benchmark suites and write results.json, report.md and plots.

``run_bench(suites, out_dir, tiny=False)`` is the API the CLI calls. Each suite is a module in
:mod:`bench.suites` with ``run(ctx: BenchContext) -> dict``; a suite that fails is recorded
with its error and the others still run.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.machine import describe_machine
from bench.report import write_report, write_results

SUITES = ("tax", "throughput", "routing", "scale", "int8", "generate", "e2e", "rag")
log = logging.getLogger("bench")


@dataclass
class BenchContext:
    """What every suite gets: size of the run, where models and the policy are, where to write."""

    out_dir: Path
    tiny: bool = False
    registry: Path | None = None
    policy_path: Path | None = None
    notes: list[str] = field(default_factory=list)
    fleet_builder: str | None = None  # "module:function" that starts the whole fleet (suite e2e)

    def models_dir(self) -> Path:
        """The model registry: the argument, else $EDGEFLEET_MODELS_DIR, else the policy's
        ``registry`` key (relative to the policy file), else fleet.models.registry.default_registry()."""
        if self.registry is not None:
            return Path(self.registry)
        from fleet.models.registry import REGISTRY_ENV, default_registry

        if os.environ.get(REGISTRY_ENV):
            return default_registry()
        try:
            from edgefleet.policy.loader import load_policy

            policy_file = self.policy_file()
            return (policy_file.parent / load_policy(policy_file).registry).resolve()
        except Exception:  # noqa: BLE001 - fall back to the default; the suites report missing models clearly
            return default_registry()

    def policy_file(self) -> Path:
        """The policy: the argument, else ./edgefleet.yaml, else the repository's edgefleet.yaml."""
        if self.policy_path is not None:
            return Path(self.policy_path)
        here = Path.cwd() / "edgefleet.yaml"
        return here if here.is_file() else Path(__file__).resolve().parents[1] / "edgefleet.yaml"

    def size(self, tiny: Any, full: Any) -> Any:
        """`tiny` in a tiny run, else `full`."""
        return tiny if self.tiny else full


def run_bench(
    suites: Sequence[str] | None,
    out_dir: Path | str,
    tiny: bool = False,
    *,
    registry: Path | None = None,
    policy_path: Path | None = None,
    fleet_builder: str | None = None,
) -> dict[str, Any]:
    """Run `suites` (None or empty: all), write OUT/results.json, OUT/report.md and plots; return results.

    ``registry`` defaults to $EDGEFLEET_MODELS_DIR or .edgefleet/models; ``policy_path`` to the
    repository's edgefleet.yaml; ``fleet_builder`` ("module:function", see :mod:`bench.procs`) starts
    the whole fleet for the e2e suite (the CLI passes its own; without it that suite is skipped).
    Unknown suite names raise ValueError before anything runs.
    """
    chosen = list(suites) if suites else list(SUITES)
    unknown = [s for s in chosen if s not in SUITES]
    if unknown:
        raise ValueError(f"unknown bench suite(s) {unknown}; choose from {list(SUITES)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ctx = BenchContext(
        out_dir=out, tiny=tiny, registry=registry, policy_path=policy_path, fleet_builder=fleet_builder
    )
    started = time.time()
    results: dict[str, Any] = {
        "meta": {
            "started_utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "tiny": tiny,
            "suites": chosen,
            "command": " ".join(
                ["edgefleet", "bench", *chosen, "--out", str(out)] + (["--tiny"] if tiny else [])
            ),
            "registry": str(ctx.models_dir()),
            "policy": str(ctx.policy_file()),
        },
        "machine": describe_machine(),
    }
    for name in chosen:
        t0 = time.time()
        log.info("bench: suite %s ...", name)
        print(f"bench: running {name} ...", file=sys.stderr, flush=True)
        try:
            module = importlib.import_module(f"bench.suites.{name}")
            suite: dict[str, Any] = module.run(ctx)
        except Exception as exc:  # noqa: BLE001 - one failing suite must not hide the others
            suite = {
                "status": "error",
                "error": f"{type(exc).__name__}: {exc}",
                "traceback": traceback.format_exc(),
            }
            print(f"bench: {name} FAILED: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        suite.setdefault("status", "ok")
        suite["seconds"] = round(time.time() - t0, 2)
        results[name] = suite
        print(f"bench: {name} {suite['status']} in {suite['seconds']} s", file=sys.stderr, flush=True)
        write_results(results, out)  # partial results survive a later crash
    results["meta"]["duration_s"] = round(time.time() - started, 2)
    results["headline"] = headline(results)
    write_results(results, out)
    write_report(results, out)
    return results


def headline(results: dict[str, Any]) -> dict[str, Any]:
    """The ratios the issue asks for, gathered in one place."""
    from bench.report import HEADLINES, lookup

    return {key: lookup(results, key) for key, _, _ in HEADLINES}


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m bench.runner [SUITE ...] --out DIR [--tiny]``."""
    parser = argparse.ArgumentParser(prog="edgefleet bench", description=__doc__)
    parser.add_argument("suites", nargs="*", help=f"any of {' '.join(SUITES)} (default: all)")
    parser.add_argument("--out", default="bench-out", help="output folder")
    parser.add_argument("--tiny", action="store_true", help="tiny configuration (smoke test, ~1 minute)")
    parser.add_argument("--registry", type=Path, default=None, help="model registry folder")
    parser.add_argument("--policy", type=Path, default=None, help="policy file (default: edgefleet.yaml)")
    parser.add_argument(
        "--fleet-builder", default=None, help="module:function starting the fleet (suite e2e)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    results = run_bench(
        args.suites,
        args.out,
        tiny=args.tiny,
        registry=args.registry,
        policy_path=args.policy,
        fleet_builder=args.fleet_builder,
    )
    failed = [n for n in results["meta"]["suites"] if results[n].get("status") == "error"]
    print(f"bench: wrote {Path(args.out) / 'results.json'} and report.md", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
