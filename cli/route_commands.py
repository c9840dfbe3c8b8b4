"""``edgefleet route calibrate``: choose a route's thresholds on validation data and, with
``--write``, put them into the policy file (only those keys of that route; comments kept).

Classify routes search their confidence thresholds here (CLINC150 val); generate routes with an
escalation policy set its threshold in :mod:`cli.route_calibrate` (SQuAD TUNE split, or live
shadow traffic with ``--from-log``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console
from rich.table import Table

console = Console()


def add_parser(sub: argparse._SubParsersAction) -> None:
    """The ``route`` command and its ``calibrate`` action."""
    route = sub.add_parser("route", help="routes: choose thresholds on validation data")
    rsub = route.add_subparsers(dest="route_command", required=True, metavar="ACTION")
    cal = rsub.add_parser(
        "calibrate",
        help="choose a route's thresholds: a classify route's min_confidence (and edge_oos_final_confidence) "
        "on the validation split, a generate route's escalation_policy.threshold on the TUNE split or a shadow log",
    )
    cal.add_argument("--route", required=True, help="route name")
    cal.add_argument(
        "--target",
        nargs=2,
        metavar=("KIND", "X"),
        required=True,
        help="hosted-share X (share sent to hosted), cost-per-1k X (USD per 1,000 requests), or the "
        "cheapest point with min-accuracy X (classify) / min-f1 X (generate); otherwise the most accurate "
        "point that meets it",
    )
    cal.add_argument(
        "--require",
        nargs=2,
        action="append",
        default=[],
        metavar=("FIGURE", "X"),
        help="also require FIGURE >= X on the split (classify: in_scope_accuracy, oos_recall); repeatable",
    )
    cal.add_argument("--config", default="edgefleet.yaml", help="policy file")
    cal.add_argument("--registry", help="model registry (default: the policy's)")
    cal.add_argument("--split", default="val", choices=["val", "test"], help="where to choose (default val)")
    cal.add_argument("--write", action="store_true", help="write the chosen values into the policy file")
    cal.add_argument(
        "--from-log", default="", help="generate routes: refit on a shadow log instead of the TUNE split"
    )


def calibrate(args: argparse.Namespace) -> int:
    """Search the route's thresholds on the split; print the expected figures; maybe write them."""
    from bench.calibrate import Target, choose, search
    from bench.route_outcomes import outcome_source
    from edgefleet.policy.edit import PolicyEditError, set_route_key
    from edgefleet.policy.loader import load_policy

    config = Path(args.config)
    policy = load_policy(config)
    if any(r.name == args.route and r.task == "generate" for r in policy.routes):
        from cli.route_calibrate import calibrate as calibrate_generate

        return calibrate_generate(args, policy)
    try:
        requires = tuple((name, float(x)) for name, x in args.require)
        target = Target(args.target[0], float(args.target[1]), requires)
    except ValueError as exc:
        console.print(f"[red]{exc}[/]")
        return 2
    registry = Path(args.registry) if args.registry else (config.resolve().parent / policy.registry)
    try:
        source = outcome_source(policy, args.route, registry, args.split)
    except ValueError as exc:
        console.print(f"[red]{exc}[/]")
        return 2
    with console.status(f"searching {len(source.grid())} settings on {source.split}..."):
        points = search(source)
    route = next(r for r in policy.routes if r.name == args.route)
    current = source.evaluate({k: getattr(route, k) for k in points[0].params})
    chosen = choose(points, target)
    table = Table(title=f"route {args.route} on {source.split}")
    for column in ("setting", "accuracy", "in-scope acc", "oos recall", "hosted share", "USD / 1k"):
        table.add_column(column)
    rows = [
        ("all hosted", source.all_hosted()),
        ("oracle (bound)", source.oracle()),
        ("current", current),
    ]
    if chosen is not None:
        rows.append((f"chosen ({target})", chosen))
    for name, p in rows:
        table.add_row(
            name,
            f"{p.accuracy:.4f}",
            f"{p.figures.get('in_scope_accuracy', float('nan')):.4f}",
            f"{p.figures.get('oos_recall', float('nan')):.4f}",
            f"{p.hosted_share:.3f}",
            f"{p.cost_per_1k_usd:.4f}",
        )
    console.print(table)
    for name, p in rows[2:]:
        console.print(f"{name}: " + ", ".join(f"{k}: {v}" for k, v in p.params.items()))
    if chosen is None:
        console.print(f"[red]no setting meets {target}[/]")
        return 1
    if not args.write:
        console.print("(not written: add --write to put the chosen values into the policy file)")
        return 0
    text = config.read_text(encoding="utf-8")
    try:
        for key, value in chosen.params.items():
            text = set_route_key(text, args.route, key, value)
    except PolicyEditError as exc:
        console.print(f"[red]{config}: {exc}[/]")
        return 1
    config.write_text(text, encoding="utf-8")
    console.print(
        f"wrote {', '.join(f'{k}: {v}' for k, v in chosen.params.items())} to route {args.route} in {config}"
    )
    return 0
