"""The routing suite's calibration part: the policy's thresholds chosen on CLINC150 val (as
``edgefleet route calibrate`` does: the goals below as the target) and the chosen setting, the
policy's own setting and the oracle evaluated on test, in process (:mod:`bench.classify_outcomes`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.calibrate import OperatingPoint, Target, choose, search
from bench.route_outcomes import outcome_source
from edgefleet.policy.schema import Policy, RouteConfig

GOALS = {"accuracy": 0.92, "oos_recall": 0.85, "in_scope_accuracy": 0.93, "cost_ratio": 0.10}


def _row(point: OperatingPoint, hosted: OperatingPoint) -> dict[str, Any]:
    return {
        **point.as_dict(),
        "cost_ratio_vs_hosted": point.cost_usd / hosted.cost_usd if hosted.cost_usd else None,
    }


def calibrate_on_val(policy: Policy, route: RouteConfig, registry: Path, every: int = 1) -> dict[str, Any]:
    """Choose on val (cost <= 10% of val all-hosted, oos recall and in-scope accuracy floors), report on test."""
    val = outcome_source(policy, route.name, registry, "val", limit_every=every)
    test = outcome_source(policy, route.name, registry, "test", limit_every=every)
    val_hosted, test_hosted = val.all_hosted(), test.all_hosted()
    floors = (("oos_recall", GOALS["oos_recall"]), ("in_scope_accuracy", GOALS["in_scope_accuracy"]))
    target = Target("cost-per-1k", GOALS["cost_ratio"] * val_hosted.cost_per_1k_usd, floors)
    points = search(val)
    chosen = choose(points, target) or choose(points, Target(target.kind, target.value))
    policy_params = {
        "min_confidence": route.min_confidence,
        "edge_oos_final_confidence": route.edge_oos_final_confidence,
    }
    out: dict[str, Any] = {
        "target": str(target),
        "val_split": val.split,
        "test_split": test.split,
        "val_all_hosted": _row(val_hosted, val_hosted),
        "val_oracle": _row(val.oracle(), val_hosted),
        "val_policy": _row(val.evaluate(policy_params), val_hosted),
        "test_all_hosted": _row(test_hosted, test_hosted),
        "test_oracle": _row(test.oracle(), test_hosted),
        "test_policy": _row(test.evaluate(policy_params), test_hosted),
        "policy_params": policy_params,
        "val_chosen": None,
        "test_val_chosen": None,
        "policy_is_val_chosen": False,
    }
    if chosen is not None:
        out["val_chosen"] = _row(chosen, val_hosted)
        out["test_val_chosen"] = _row(test.evaluate(chosen.params), test_hosted)
        out["policy_is_val_chosen"] = chosen.params == policy_params
    return out


def calibration_table(cal: dict[str, Any]) -> tuple[str, list[str], list[list[Any]]]:
    """Report table: each row names its split."""
    rows = []
    for key, what in (
        ("val_all_hosted", "all hosted"),
        ("val_oracle", "oracle"),
        ("val_policy", "policy thresholds"),
        ("val_chosen", "chosen on val"),
        ("test_all_hosted", "all hosted"),
        ("test_oracle", "oracle (bound)"),
        ("test_policy", "policy thresholds"),
        ("test_val_chosen", "chosen on val"),
    ):
        p = cal.get(key)
        if p is None:
            continue
        params = ", ".join(f"{k}={v}" for k, v in p["params"].items()) or "-"
        rows.append(
            [key.split("_")[0], what, params, p["accuracy"], p.get("in_scope_accuracy"), p.get("oos_recall"),
             p["hosted_share"], p["cost_ratio_vs_hosted"]]
        )  # fmt: skip
    header = [
        "split",
        "setting",
        "params",
        "accuracy",
        "in-scope acc",
        "oos recall",
        "hosted share",
        "cost / hosted",
    ]
    return (f"Thresholds chosen on val ({cal['target']}), reported on test (in process)", header, rows)
