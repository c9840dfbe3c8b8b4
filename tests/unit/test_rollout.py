"""fleet.control.rollout: version tracks and canary verdicts (pure)."""

from __future__ import annotations

from edgefleet.policy.fleet_options import RolloutConfig
from fleet.control.rollout import (
    LATENCY_BOUNDS_MS,
    VersionStats,
    VersionTrack,
    judge,
    merged,
    next_track,
    promote,
    roll_back,
)

CFG = RolloutConfig(
    canary_share=0.2,
    min_requests=50,
    max_error_rate=0.02,
    max_latency_ratio=1.5,
    min_agreement=0.9,
    shadow_share=0.2,
)


def stats(
    requests: int, errors: int = 0, ms: float = 10.0, compared: int = 0, agreed: int = 0
) -> VersionStats:
    s = VersionStats(requests, errors, compared=compared, agreed=agreed)
    bucket = next(i for i, bound in enumerate(LATENCY_BOUNDS_MS) if ms <= bound)
    s.latency[bucket] = requests - errors
    return s


def test_new_versions_roll_over_or_start_a_canary() -> None:
    first, note = next_track(None, "1", CFG)
    assert first == VersionTrack("1") and note == ""
    rolled, note = next_track(first, "2", None)
    assert rolled.stable == "2" and not rolled.canary and "rolling out 1 -> 2" in note
    canary, note = next_track(first, "2", CFG)
    assert (canary.stable, canary.canary) == ("1", "2") and "20% of the traffic" in note
    assert next_track(canary, "2", CFG) == (canary, "")  # nothing new
    newer, note = next_track(canary, "3", CFG)
    assert newer.canary == "3" and "replaces canary 2" in note
    back, note = next_track(canary, "1", CFG)
    assert not back.canary and "dropped" in note  # the registry went back to the stable version


def test_verdicts_move_the_track() -> None:
    track = VersionTrack("1", "2")
    done = promote(track, "fine")
    assert (done.stable, done.canary) == ("2", "") and "promoted: fine" in done.last
    undone = roll_back(track, "bad")
    assert (undone.stable, undone.canary, undone.rejected) == ("1", "", ("2",))
    assert next_track(undone, "2", CFG) == (undone, "")  # a rejected version is not tried again
    assert VersionTrack.from_record(undone.to_record()) == undone


def test_judge_waits_then_promotes_a_good_canary() -> None:
    assert judge(CFG, stats(100), stats(10)) == ("wait", "10/50 canary requests")
    verdict, reason = judge(CFG, stats(200), stats(60, compared=3, agreed=3))
    assert verdict == "wait" and "3/5 shadowed comparisons" in reason
    verdict, reason = judge(CFG, stats(200), stats(60, compared=10, agreed=10))
    assert (
        verdict == "promote"
        and "errors 0.0%" in reason
        and "p95 1.0x" in reason
        and "agreement 100%" in reason
    )


def test_judge_rolls_back_on_errors_latency_or_disagreement() -> None:
    verdict, reason = judge(CFG, stats(200), stats(20, errors=2))  # already past what 50 requests allow
    assert verdict == "rollback" and "2 of 20 canary calls failed" in reason
    verdict, reason = judge(CFG, stats(200, ms=10), stats(60, ms=50, compared=10, agreed=10))
    assert verdict == "rollback" and "5.0x" in reason
    verdict, reason = judge(CFG, stats(200), stats(60, compared=10, agreed=5))
    assert verdict == "rollback" and "agreement with the current version 50% < 90%" in reason


def test_judge_without_shadows_or_stable_traffic() -> None:
    cfg = CFG.model_copy(update={"shadow_share": 0.0})
    verdict, reason = judge(cfg, stats(5), stats(60, ms=200))
    assert verdict == "promote" and "latency not compared" in reason


def test_reports_merge_per_version_for_the_running_canary_only() -> None:
    def report(router: str, canary: str, n: int) -> dict[str, object]:
        versions = {
            "1": {"requests": n, "latency": [n] + [0] * (len(LATENCY_BOUNDS_MS) - 1)},
            "2": {"requests": 1},
        }
        return {"router": router, "deployments": {"d": {"canary": canary, "versions": versions}}}

    out = merged([report("a", "2", 3), report("b", "2", 4), report("c", "3", 100)], "d", "2")
    assert out["1"].requests == 7 and out["1"].latency[0] == 7 and out["2"].requests == 2
    assert out["1"].p95_ms() == 0.5 and VersionStats().p95_ms() == 0.0
    assert merged([report("a", "2", 3)], "other", "2") == {}
