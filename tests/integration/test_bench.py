"""`edgefleet bench --tiny`: every suite runs end to end on a tiny configuration and writes
results.json, report.md and plots. Checks keys and that figures are finite and positive where
they must be; no timed assertions."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from bench.report import lookup
from bench.runner import SUITES, run_bench
from bench.stats import SweepPoint, saturation, summarize
from bench.suites.routing_eval import EdgeView, edge_view, score_pass, simulate
from fleet.serving.cpu import cpu_isa

pytestmark = pytest.mark.integration


def _positive(results: dict[str, Any], key: str) -> float:
    value = lookup(results, key)
    assert isinstance(value, (int, float)) and math.isfinite(value) and value > 0, f"{key} = {value!r}"
    return float(value)


@pytest.fixture(scope="module")
def tiny_results(
    model_registry: Path, llm_registry: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[dict[str, Any], Path]:
    out = tmp_path_factory.mktemp("bench")
    results = run_bench(
        None, out, tiny=True, registry=Path(model_registry), fleet_builder="cli.bench_fleet:build_fleet"
    )
    return results, out


def test_tiny_bench_writes_results_report_and_plots(tiny_results: tuple[dict[str, Any], Path]) -> None:
    results, out = tiny_results
    on_disk = json.loads((out / "results.json").read_text())
    assert on_disk["meta"]["tiny"] is True
    assert set(SUITES) <= set(on_disk)
    report = (out / "report.md").read_text()
    assert "Headline ratios" in report and "router_tax" in report
    assert list(out.glob("*.png")), "no plots written"
    machine = on_disk["machine"]
    assert machine["cores"] >= 1 and machine["cpu_model"]
    assert machine["isa"] == list(cpu_isa()) and on_disk["int8"]["isa"] == machine["isa"]
    assert {"python", "openvino", "ray", "grpcio"} <= set(machine["versions"])
    for name in ("tax", "throughput", "routing", "scale", "e2e"):
        assert results[name]["status"] == "ok", results[name].get("traceback") or results[name]


def test_tiny_bench_headline_figures(tiny_results: tuple[dict[str, Any], Path]) -> None:
    results, _ = tiny_results
    for key in (
        "tax.router_tax",
        "tax.ray_vs_grpc",
        "throughput.routed_rps",
        "throughput.echo_rps",
        "throughput.routed_vs_echo",
        "routing.accuracy_ratio_vs_hosted",
        "routing.cost_ratio_vs_hosted",
    ):
        _positive(results, key)
    for path in ("a_echo", "b_in_process", "c_kserve", "d_routed", "e_ray_actor"):
        _positive(results, f"tax.latency.{path}.p50_ms")
    share = lookup(results, "routing.escalated_share")
    assert isinstance(share, float) and 0.0 <= share <= 1.0
    assert len(results["routing"]["curve"]) >= 2
    decision = results["scale"]["decision_us"]
    assert {"replicas_10_routes_10", "replicas_1000_routes_100"} <= set(decision)
    assert all(math.isfinite(v) and v > 0 for v in decision.values())
    generate = results["generate"]
    assert generate["status"] == "ok", generate.get("traceback") or generate
    for mode in ("cb", "serial"):
        for level in generate["modes"][mode]["levels"].values():
            assert level["ttft_p50_ms"] > 0 and level["tokens_per_s"] > 0
        assert generate["modes"][mode]["rss_mb"] > 0
    _positive(results, "generate.cb_vs_serial_tps")
    assert generate["router_added_ttft"]["status"] == "ok", generate["router_added_ttft"]
    _positive(results, "generate.routed_vs_direct_ttft")
    int8 = results["int8"]
    if int8["status"] == "skipped":
        assert "edgefleet models build" in int8["reason"]
        assert int8["bf16_speedup"] is None and int8["bf16_accuracy_delta"] is None
    else:
        _positive(results, "int8.speedup")
        assert math.isfinite(int8["accuracy_delta"])
        if int8["bf16_status"] == "measured":
            _positive(results, "int8.bf16_speedup")


def test_tiny_bench_e2e_drives_the_whole_fleet(tiny_results: tuple[dict[str, Any], Path]) -> None:
    results, _ = tiny_results
    e2e = results["e2e"]
    _positive(results, "e2e.rps")
    assert e2e["sweep"] and all(p["requests"] > 0 for p in e2e["sweep"])
    assert e2e["deployments"][0] == "domain-router"
    assert set(e2e["hops"]) == {
        "client_router",
        "domain_detection",
        "edge_calls",
        "hosted_calls",
        "router_own",
    }
    assert e2e["hops"]["domain_detection"]["mean_ms"] > 0  # every request asked the domain model


def test_tiny_bench_routing_says_which_split_each_figure_comes_from(
    tiny_results: tuple[dict[str, Any], Path],
) -> None:
    routing = tiny_results[0]["routing"]
    assert routing["goal"]["split"] == "test"
    cal = routing["calibration"]
    assert "val" in cal["val_split"] and "test" in cal["test_split"]
    assert cal["test_oracle"]["accuracy"] >= cal["test_policy"]["accuracy"]
    _positive(tiny_results[0], "routing.oracle_accuracy")
    _positive(tiny_results[0], "throughput.kserve_vs_echo")
    if tiny_results[0]["int8"].get("speedup") is not None:
        _positive(tiny_results[0], "int8.speedup_single_thread")


def test_tiny_bench_rag(tiny_results: tuple[dict[str, Any], Path]) -> None:
    """SQuAD through the router on a tiny configuration: every rag.* key, the curves and the PNG."""
    results, out = tiny_results
    rag = results["rag"]
    assert rag["status"] == "ok", rag.get("traceback") or rag
    assert rag["split"] == "report" and rag["n"] >= 1 and rag["policy_trained_here_on_tune"] >= 1
    for key in ("edge_f1", "edge_f1_gold", "hosted_f1", "routed_f1", "recall_at_5", "cpt50", "cpt80"):
        value = rag[key]
        assert value is None or (isinstance(value, float) and 0.0 <= value <= 1.0), (key, value)
    for key in ("apgr", "oracle_apgr", "cost_ratio_vs_hosted"):
        assert math.isfinite(rag[key]), (key, rag[key])
    _positive(results, "rag.retrieval_ms_p50")
    assert rag["hosted_f1"] > 0.5  # the stand-in replays the recorded BERT-large answers
    assert set(rag["routers"]) == {"learned", "logprob", "oracle", "random"}
    assert rag["routers"]["random"]["apgr"] == pytest.approx(0.5)
    assert rag["operating_points"] and 0.0 <= rag["operating_points"][0]["hosted_share"] <= 1.0
    assert (out / "rag_routing_curves.png").is_file()
    assert "rag.apgr" in (out / "report.md").read_text()


def test_unknown_suite_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown bench suite"):
        run_bench(["nope"], tmp_path)


def test_stats_and_saturation() -> None:
    s = summarize([1.0, 2.0, 3.0, 4.0])
    assert s["n"] == 4 and s["p50_ms"] == 2.5
    assert math.isnan(summarize([])["p50_ms"])
    points = [
        SweepPoint(1, 100, 0, 1.0, 100.0, 1.0, 2.0),
        SweepPoint(4, 300, 0, 1.0, 300.0, 3.0, 9.0),
        SweepPoint(8, 250, 50, 1.0, 350.0, 5.0, 20.0),
    ]
    best = saturation(points)
    assert best is not None and best.concurrency == 4  # the 8-level had 17% errors


def test_threshold_simulation_matches_the_engine_rule() -> None:
    gold = ["a", "oos", "b"]
    edges = [
        EdgeView(False, 0.9, "a", 0.8, 2e-6, 1e-6),
        EdgeView(True, 0.0, None, 0.0, 1e-6, 1e-6),
        EdgeView(False, 0.9, "x", 0.3, 2e-6, 1e-6),
    ]
    hosted = [
        {"label": "a", "cost_usd": 1e-3},
        {"label": "oos", "cost_usd": 1e-3},
        {"label": "b", "cost_usd": 1e-3},
    ]
    low = simulate(edges, hosted, gold, 0.0)
    mid = simulate(edges, hosted, gold, 0.5)
    assert low["accuracy"] == pytest.approx(2 / 3) and low["escalated_share"] == pytest.approx(1 / 3)
    assert mid["accuracy"] == 1.0 and mid["cost_usd"] > low["cost_usd"]
    view, parsed = edge_view(
        {
            "index": 0,
            "label": "a",
            "confidence": 0.8,
            "cost_usd": 2e-6,
            "trace": [["domain-router", "ok", "domain banking (0.93)"]],
        },
        "domain-router",
        1e-6,
    )
    assert parsed and view.domain_confidence == pytest.approx(0.93)
    scored = score_pass(
        [
            {"index": 0, "label": "a", "cost_usd": 1.0, "tier": "EDGE", "latency_ms": 1.0},
            {"index": 1, "error": "UNAVAILABLE: x", "latency_ms": 1.0},
        ],
        ["a", "oos"],
        oos_on_error=True,
    )
    assert scored["accuracy"] == 1.0 and scored["oos_recall"] == 1.0 and scored["errors"] == 1
