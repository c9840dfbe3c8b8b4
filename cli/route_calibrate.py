"""``edgefleet route calibrate``: set a generate route's escalation-policy threshold from a target
(RouteLLM-style), on the TUNE split's out-of-fold predictions or on live shadow traffic.

Outcome sources (:class:`edgefleet.route_calibration.OutcomeSource`), per task:

- :class:`TuneOutcomes`: the policy model's ``calibration.jsonl`` (one line per TUNE question:
  out-of-fold p(good), edge and hosted F1, the hosted answer's cost), priced with the route's
  deployments (edge call + retrieval + policy; hosted adds the retrieval and policy);
- :class:`ShadowOutcomes` (``--from-log``): the route's shadow log; quality is the agreement with
  the hosted model (token F1 of the edge answer against the hosted one; the hosted answer counts
  as 1.0), the score the p(good) the policy gave.

The command line is :mod:`cli.route_commands` (which hands generate routes to :func:`calibrate`).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from edgefleet.policy.loader import load_policy
from edgefleet.policy.schema import Policy, RouteConfig
from edgefleet.route_calibration import OperatingPoint, RoutedOutcome, choose, sweep

console = Console()
CALIBRATION_FILE = "calibration.jsonl"


def _route(policy: Policy, name: str) -> RouteConfig:
    for route in policy.routes:
        if route.name == name:
            if route.task != "generate" or route.escalation_policy is None:
                raise ValueError(f"route {name!r} is not a generate route with an escalation_policy")
            return route
    raise ValueError(f"route {name!r} is not in the policy")


def _price(policy: Policy, deployment: str | None) -> float:
    if deployment is None:
        return 0.0
    try:
        return policy.deployment(deployment).price_per_call_usd
    except KeyError:
        return 0.0


@dataclass
class TuneOutcomes:
    """The policy's out-of-fold predictions on the TUNE split (see the module docstring)."""

    policy: Policy
    registry: Path

    def outcomes(self, route: str) -> list[RoutedOutcome]:
        from fleet.models.manifest import resolve_model_dir

        cfg = _route(self.policy, route)
        assert cfg.escalation_policy is not None
        dep = self.policy.deployment(cfg.escalation_policy.deployment)
        model = self.policy.model(dep.model)
        folder = resolve_model_dir(self.registry, model.name, model.version)
        path = folder / CALIBRATION_FILE
        if not path.is_file():
            raise ValueError(f"{folder} has no {CALIBRATION_FILE}: train it with `edgefleet models policy`")
        base = _price(self.policy, cfg.retrieval.deployment if cfg.retrieval else None)
        base += _price(self.policy, cfg.escalation_policy.deployment)
        edge = base + _price(self.policy, cfg.targets[0] if cfg.targets else None)
        out = []
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            if row.get("hosted_f1") is None:
                continue
            out.append(
                RoutedOutcome(
                    float(row["p_good"]),
                    float(row["edge_f1"]),
                    float(row["hosted_f1"]),
                    edge,
                    base + float(row["hosted_cost_usd"] or 0.0),
                )
            )
        return out


@dataclass
class ShadowOutcomes:
    """The route's shadow traffic (see the module docstring)."""

    path: Path

    def outcomes(self, route: str) -> list[RoutedOutcome]:
        from edgefleet.shadow_log import read_shadow_log

        out = []
        for r in read_shadow_log(self.path, route):
            if r.edge.p_good is None:
                continue
            out.append(
                RoutedOutcome(
                    r.edge.p_good, r.agreement_f1, 1.0, r.edge.cost_usd, r.edge.cost_usd + r.hosted.cost_usd
                )
            )
        return out


def _table(points: list[OperatingPoint], chosen: OperatingPoint) -> Table:
    table = Table(title="operating points (requests with p(good) under the threshold go to the hosted model)")
    for col in ("threshold", "hosted share", "expected quality", "cost / 1k requests"):
        table.add_column(col, justify="right")
    shown = {round(p.hosted_share, 1): p for p in points}
    rows = sorted({*shown.values(), chosen}, key=lambda p: p.hosted_share)
    for p in rows:
        mark = " <-" if p == chosen else ""
        table.add_row(
            f"{p.threshold:.3f}{mark}", f"{p.hosted_share:.1%}", f"{p.quality:.3f}", f"${p.cost_per_1k:.4f}"
        )
    return table


def calibrate(args: argparse.Namespace, policy: Policy | None = None) -> int:
    """Choose and print (and with --write, set) the route's threshold (`policy`: the file at
    ``args.config`` when the caller has read it already)."""
    from edgefleet.policy.edit import PolicyEditError, set_route_key

    config = Path(args.config)
    try:
        policy = policy or load_policy(config)
        _route(policy, args.route)
        source = (
            ShadowOutcomes(Path(args.from_log))
            if args.from_log
            else TuneOutcomes(policy, (config.resolve().parent / policy.registry).resolve())
        )
        outcomes = source.outcomes(args.route)
        if not outcomes:
            raise ValueError("no outcomes to calibrate on")
        points = sweep(outcomes)
        kind, value = args.target[0], float(args.target[1])
        chosen = choose(points, kind, value)
    except (ValueError, KeyError, OSError) as exc:
        print(f"cannot calibrate: {exc}", file=sys.stderr)
        return 1
    where = (
        f"shadow log {args.from_log} (quality: agreement with the hosted model)"
        if args.from_log
        else "the TUNE split (out-of-fold)"
    )
    console.print(f"route {args.route}: {len(outcomes)} outcomes from {where}")
    console.print(_table(points, chosen))
    console.print(
        f"target {kind} {value}: threshold {chosen.threshold:.4f} -> {chosen.hosted_share:.1%} hosted, "
        f"expected quality {chosen.quality:.3f}, cost ${chosen.cost_per_1k:.4f} per 1,000 requests"
    )
    if args.write:
        try:  # 4 decimals: the threshold is a midpoint between two scores
            text = set_route_key(
                config.read_text(encoding="utf-8"),
                args.route,
                "escalation_policy.threshold",
                round(chosen.threshold, 4),
            )
        except PolicyEditError as exc:
            print(f"cannot write: {exc}", file=sys.stderr)
            return 1
        config.write_text(text, encoding="utf-8")
        console.print(
            f"wrote route {args.route}: escalation_policy.threshold = {chosen.threshold:.4f} to {config}",
            markup=False,
        )
    return 0
