"""Which per-request outcomes calibrate a route, by task: the one place a task plugs its
:class:`bench.calibrate.OutcomeSource` in.

- ``classify`` routes with a domain model: :mod:`bench.classify_outcomes` on CLINC150 (``val``:
  val + oos_val, for choosing; ``test``: test + oos_test, for reporting).
- ``generate`` routes: none here; their one threshold (``escalation_policy.threshold``) is swept by
  :mod:`edgefleet.route_calibration` (``cli.route_calibrate``), with the same targets and YAML edit.
"""

from __future__ import annotations

from pathlib import Path

from bench.calibrate import OutcomeSource
from edgefleet.policy.schema import Policy

SPLITS = {"val": ("val", "oos_val"), "test": ("test", "oos_test")}


def clinc_examples(split: str, limit_every: int = 1) -> list[tuple[str, str]]:
    """(text, gold label) of a CLINC150 split with its out-of-scope part (every `limit_every`-th)."""
    from factory.data import load_clinc150

    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    data = load_clinc150()
    examples = [e for name in SPLITS[split] for e in data.split(name)]
    return [(t, g) for t, g in examples[::limit_every]]


def outcome_source(
    policy: Policy, route_name: str, registry: Path, split: str = "val", *, limit_every: int = 1
) -> OutcomeSource:
    """The outcomes of route `route_name` on `split`; ValueError when its task has no source yet."""
    route = next((r for r in policy.routes if r.name == route_name), None)
    if route is None:
        raise ValueError(f"no route named {route_name!r}; routes: {', '.join(r.name for r in policy.routes)}")
    if route.task == "classify":
        from bench.classify_outcomes import build_outcomes

        examples = clinc_examples(split, limit_every)
        parts = " + ".join(SPLITS[split])
        return build_outcomes(
            policy, route, registry, examples, f"CLINC150 {parts} ({len(examples)} requests)"
        )
    raise ValueError(
        f"route {route_name!r} has task {route.task!r}: no outcome source calibrates it yet "
        "(bench.route_outcomes.outcome_source is where one plugs in)"
    )
