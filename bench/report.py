"""Write a benchmark run: ``results.json`` (strict JSON), ``report.md`` (tables) and PNG plots."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.stats import clean_floats

HEADLINES: list[tuple[str, str, str]] = [
    ("tax.router_tax", "router tax: routed / (echo + KServe) p50", "goal <= 1.15"),
    ("tax.ray_vs_grpc", "Ray actor call / KServe gRPC call, p50", "DESIGN: Ray costs more"),
    ("throughput.routed_vs_echo", "routed rps / bare echo rps, same cores", "goal >= 0.5"),
    ("throughput.routed_vs_kserve", "routed unary rps / direct KServe unary rps", "goal >= 0.95"),
    ("throughput.kserve_vs_echo", "direct KServe unary rps / echo unary rps", "goal >= 0.5"),
    ("throughput.p99_over_p50_at_50pct", "routed p99 / p50 at 50% of saturation", "goal <= 1.5"),
    ("throughput.p99_over_p50_at_80pct", "routed p99 / p50 at 80% of saturation", "goal <= 2.0"),
    ("e2e.rps", "whole default fleet, CLINC150, requests/s", "goal >= 500"),
    ("e2e.p50_ms", "whole default fleet, p50 ms at the best level", ""),
    ("e2e.p99_ms", "whole default fleet, p99 ms at the best level", ""),
    (
        "routing.accuracy",
        "TEST accuracy (oos a label), default policy (thresholds chosen on val)",
        "goal >= 0.92",
    ),
    ("routing.oos_recall", "TEST oos recall, default policy", "goal >= 0.85"),
    ("routing.in_scope_accuracy", "TEST in-scope accuracy, default policy", "goal >= 0.93"),
    ("routing.cost_ratio_vs_hosted", "TEST cost, default policy / all-hosted", "goal <= 0.10"),
    ("routing.oracle_accuracy", "TEST oracle accuracy (edge when right, else hosted): the bound", ""),
    ("routing.accuracy_ratio_vs_hosted", "TEST accuracy, default policy / all-hosted", ""),
    ("routing.escalated_share", "share of requests escalated to hosted", ""),
    ("int8.speedup", "INT8 / FP32 speed-up (batch-1 p50, f32 inference)", "goal >= 1.5 (VNNI)"),
    ("int8.speedup_single_thread", "INT8 / FP32 speed-up, batch-1 p50, one inference thread", ""),
    ("int8.accuracy_delta", "INT8 - FP32 accuracy (f32 inference)", ""),
    ("int8.bf16_speedup", "bf16 / f32 inference speed-up, FP32 model (batch-1 p50)", "CPUs with BF16 only"),
    ("int8.bf16_accuracy_delta", "bf16 - f32 inference accuracy, FP32 model", "CPUs with BF16 only"),
    ("generate.cb_vs_serial_tps", "LLM output tokens/s, continuous batching / serial, top concurrency", ""),
    ("generate.serial_vs_cb_ttft_p50", "LLM TTFT p50, serial / continuous batching, top concurrency", ""),
    (
        "generate.routed_vs_direct_ttft",
        "LLM TTFT p50, routed Generate / direct ModelStreamInfer",
        "1.0 = the router adds nothing",
    ),
    ("rag.edge_f1", "SQuAD REPORT split: edge F1 with retrieval (extractive)", "goal >= 0.9 x edge_f1_gold"),
    ("rag.edge_f1_gold", "SQuAD REPORT split: edge F1 with the gold paragraph", "goal >= 0.25"),
    ("rag.hosted_f1", "SQuAD REPORT split: hosted F1 (stand-in REPLAY of BERT-large ensemble)", ""),
    ("rag.routed_f1", "SQuAD REPORT split: routed F1 at the chosen operating point", ""),
    ("rag.cost_ratio_vs_hosted", "routed cost / all-hosted cost at that operating point", ""),
    (
        "rag.apgr",
        "learned policy APGR (RouteLLM; random = 0.5)",
        "goal >= 0.5 x oracle, > log-prob, > random",
    ),
    ("rag.oracle_apgr", "oracle router APGR", "upper bound"),
    ("rag.cpt50", "learned policy: hosted share to recover 50% of the gap", ""),
    ("rag.cpt80", "learned policy: hosted share to recover 80% of the gap", ""),
    ("rag.recall_at_5", "retrieval recall@5 (gold paragraph), report sample", "goal >= 0.9"),
    ("rag.retrieval_ms_p50", "retrieval p50 ms over KServe", "goal <= 20"),
]


def lookup(results: dict[str, Any], dotted: str) -> Any:
    """``results['a']['b']`` for ``'a.b'``; None when absent."""
    node: Any = results
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def fmt(value: Any, digits: int = 3) -> str:
    """A table cell: numbers with `digits` significant digits, None as an em dash."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "—"
        if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e6):
            return f"{value:.{digits}g}"
        return f"{value:,.{max(digits, 1)}f}" if abs(value) < 100 else f"{value:,.1f}"
    return str(value)


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(fmt(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def write_results(results: dict[str, Any], out_dir: Path) -> Path:
    """Write results.json (NaN/inf become null)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "results.json"
    path.write_text(json.dumps(clean_floats(results), indent=2, sort_keys=False) + "\n")
    return path


def write_report(results: dict[str, Any], out_dir: Path) -> Path:
    """Write report.md (and the plots it links) from a results dict."""
    out_dir.mkdir(parents=True, exist_ok=True)
    parts = [_header(results), _headline_table(results)]
    try:
        from bench import plots
    except ImportError as exc:  # matplotlib is in the `build` extra
        images: dict[str, list[str]] = {}
        parts.append(f"(plots skipped: {exc}; install matplotlib)")
    else:
        images = plots.draw_all(results, out_dir)
    for name in ("tax", "throughput", "routing", "scale", "int8", "generate", "rag"):
        suite = results.get(name)
        if suite is None:
            continue
        parts.append(_suite_section(name, suite, images.get(name, [])))
    path = out_dir / "report.md"
    path.write_text("\n\n".join(p for p in parts if p) + "\n")
    return path


def _header(results: dict[str, Any]) -> str:
    meta = results.get("meta", {})
    machine = results.get("machine", {})
    versions = machine.get("versions", {})
    ver = ", ".join(f"{k} {v}" for k, v in versions.items() if k != "openvino_build")
    tiny = " (TINY configuration: smoke test, figures not meaningful)" if meta.get("tiny") else ""
    return (
        f"# EdgeFleet benchmark report{tiny}\n\n"
        f"- run: {meta.get('started_utc', '?')}, {fmt(meta.get('duration_s'))} s, "
        f"suites: {', '.join(meta.get('suites', []))}; command: `{meta.get('command', '')}`\n"
        f"- machine: {machine.get('cpu_model', '?')}, {machine.get('cores', '?')} cores, "
        f"{fmt(machine.get('memory_gib'))} GiB, ISA {' '.join(machine.get('isa', [])) or '?'} "
        f"(flags {' '.join(machine.get('cpu_flags', []))}), OpenVINO CPU "
        f"{' '.join(machine.get('openvino_cpu_capabilities', []))}; load average at start "
        f"{machine.get('load_average_at_start', [])}\n"
        f"- versions: {ver}\n"
        "- every headline figure is a ratio of two measurements taken in the same run on the same machine."
    )


def _headline_table(results: dict[str, Any]) -> str:
    rows = [(key, what, lookup(results, key), goal) for key, what, goal in HEADLINES]
    return "## Headline ratios\n\n" + table(["key", "what", "value", "note"], rows)


def _suite_section(name: str, suite: dict[str, Any], images: list[str]) -> str:
    status = suite.get("status", "ok")
    lines = [f"## {name}"]
    if status != "ok":
        lines.append(f"**{status}**: {suite.get('reason') or suite.get('error', '')}")
        return "\n\n".join(lines)
    if suite.get("topology"):
        lines.append(f"Topology: {suite['topology']}")
    if suite.get("method"):
        lines.append(f"Method: {suite['method']}")
    for title, header, rows in suite.get("tables", []):
        lines.append(f"### {title}\n\n" + table(header, rows))
    for image in images:
        lines.append(f"![{name}]({image})")
    for note in suite.get("notes", []):
        lines.append(f"- {note}")
    return "\n\n".join(lines)
