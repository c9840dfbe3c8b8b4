"""PNG plots of a benchmark run (matplotlib, Agg backend). One function per suite; each returns
the file names it wrote (relative to the output folder)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def draw_all(results: dict[str, Any], out_dir: Path) -> dict[str, list[str]]:
    """Draw every plot the results allow; a failing plot is skipped, never fatal."""
    drawn: dict[str, list[str]] = {}
    for name, fn in (
        ("tax", tax_plot),
        ("throughput", throughput_plot),
        ("routing", routing_plot),
        ("scale", scale_plot),
        ("int8", int8_plot),
        ("rag", rag_plot),
    ):
        suite = results.get(name)
        if not isinstance(suite, dict) or suite.get("status", "ok") != "ok":
            continue
        try:
            drawn[name] = fn(suite, out_dir)
        except Exception as exc:  # noqa: BLE001 - a plot is a nicety; the numbers are in results.json
            suite.setdefault("notes", []).append(f"plot failed: {type(exc).__name__}: {exc}")
        finally:
            plt.close("all")
    return drawn


def _save(fig: Any, out_dir: Path, name: str) -> str:
    fig.tight_layout()
    fig.savefig(out_dir / name, dpi=110)
    return name


def tax_plot(suite: dict[str, Any], out_dir: Path) -> list[str]:
    """Grouped bars: p50/p95/p99 per path."""
    lat = suite["latency"]
    keys = list(lat)
    fig, ax = plt.subplots(figsize=(8, 4))
    width = 0.27
    for j, q in enumerate(("p50_ms", "p95_ms", "p99_ms")):
        ax.bar(
            [i + (j - 1) * width for i in range(len(keys))],
            [lat[k][q] or 0 for k in keys],
            width,
            label=q.replace("_ms", ""),
        )
    ax.set_xticks(range(len(keys)), [k.split("_", 1)[1].replace("_", " ") for k in keys])
    ax.set_ylabel("latency (ms)")
    ax.set_title(f"Per-hop latency, batch 1 (router_tax {suite.get('router_tax', 0) or 0:.2f})")
    ax.legend()
    return [_save(fig, out_dir, "tax_latency.png")]


def throughput_plot(suite: dict[str, Any], out_dir: Path) -> list[str]:
    """Requests/s and p99 against concurrency for every series."""
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    for name, points in suite["sweeps"].items():
        xs = [p["concurrency"] for p in points]
        ax1.plot(xs, [p["rps"] for p in points], marker="o", label=name)
        ax2.plot(xs, [p["p99_ms"] for p in points], marker="o", label=name)
    for ax, label in ((ax1, "requests/s"), (ax2, "p99 latency (ms)")):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("concurrency (in flight)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    ax2.set_yscale("log")
    ax1.legend(fontsize=8)
    ax1.set_title("Closed-loop sweep")
    return [_save(fig, out_dir, "throughput_sweep.png")]


def routing_plot(suite: dict[str, Any], out_dir: Path) -> list[str]:
    """Cost/quality curve over the escalation threshold, with the three measured policies."""
    curve = suite["curve"]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    hosted_cost = suite["all_hosted"]["cost_usd"] or 1.0
    ax.plot(
        [c["cost_usd"] / hosted_cost for c in curve],
        [c["accuracy"] for c in curve],
        marker=".",
        label="threshold sweep, oos escalated (policy rule; simulated)",
    )
    trust = suite.get("curve_trust_edge_oos") or []
    if trust:
        ax.plot(
            [c["cost_usd"] / hosted_cost for c in trust],
            [c["accuracy"] for c in trust],
            marker=".",
            linestyle="--",
            label="threshold sweep, edge oos kept (simulated)",
        )
    ax.axvline(0.10, color="grey", linestyle=":", linewidth=1)
    for c in curve[:: max(1, len(curve) // 6)]:
        ax.annotate(f"{c['threshold']:.2f}", (c["cost_usd"] / hosted_cost, c["accuracy"]), fontsize=7)
    for key, marker in (("default", "*"), ("all_hosted", "s"), ("all_edge", "^")):
        m = suite[key]
        ax.scatter(
            [m["cost_usd"] / hosted_cost],
            [m["accuracy"]],
            marker=marker,
            s=90,
            label=f"{key} (measured)",
            zorder=3,
        )
    ax.set_xlabel("cost relative to all-hosted")
    ax.set_ylabel("accuracy (oos counted as a label)")
    ax.set_title("CLINC150 test: cost vs quality")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return [_save(fig, out_dir, "routing_cost_quality.png")]


def scale_plot(suite: dict[str, Any], out_dir: Path) -> list[str]:
    """Decision time against fleet size, one line per route count."""
    fig, ax = plt.subplots(figsize=(6, 4))
    by_routes: dict[int, list[tuple[int, float]]] = {}
    for row in suite["grid"]:
        by_routes.setdefault(row["routes"], []).append((row["replicas"], row["decision_us"]))
    for routes, pts in sorted(by_routes.items()):
        pts.sort()
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=f"{routes} routes")
    ax.set_xscale("log")
    ax.set_xlabel("replicas in the fleet")
    ax.set_ylabel("decision time (µs, median)")
    ax.set_title("Routing decision time (no I/O)")
    ax.grid(alpha=0.3)
    ax.legend()
    return [_save(fig, out_dir, "scale_decision.png")]


def int8_plot(suite: dict[str, Any], out_dir: Path) -> list[str]:
    """FP32 vs INT8: batch-1 p50 latency (f32, and bf16 where measured) and throughput."""
    models = suite["models"]
    names = list(models)
    bf16 = suite.get("bf16_models") or {}
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.8))
    ax1.bar(
        [*names, *(f"{n}\nbf16" for n in bf16)],
        [models[n]["latency"]["p50_ms"] for n in names] + [bf16[n]["latency"]["p50_ms"] for n in bf16],
        color=[("tab:blue", "tab:orange")[i % 2] for i in range(len(names))] + ["tab:purple"] * len(bf16),
    )
    ax1.set_ylabel("batch-1 p50 (ms)")
    ax1.tick_params(axis="x", labelsize=7)
    ax2.bar(
        names, [models[n]["throughput_tps"] for n in names], color=["tab:blue", "tab:orange"][: len(names)]
    )
    ax2.set_ylabel("texts/s (batched)")
    fig.suptitle(f"MiniLM FP32 vs INT8 (speed-up {suite.get('speedup', 0) or 0:.2f}x)")
    return [_save(fig, out_dir, "int8.png")]


def rag_plot(suite: dict[str, Any], out_dir: Path) -> list[str]:
    """F1 against the share sent to the hosted model: learned policy, log-prob only, random, oracle."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    styles = {"learned": "-", "logprob": "--", "random": ":", "oracle": "-."}
    for name, fig_data in suite["routers"].items():
        pts = fig_data["curve"]
        label = f"{name} (APGR {fig_data['apgr']:.2f})"
        ax.plot([p[0] for p in pts], [p[1] for p in pts], styles.get(name, "-"), label=label)
    for op in suite.get("operating_points", []):
        ax.scatter([op["hosted_share"]], [op["f1"]], marker="*", s=120, zorder=3, color="black")
        ax.annotate(f"routed, t={op['threshold']:.2f}", (op["hosted_share"], op["f1"]), fontsize=7)
    ax.axhline(suite["edge_f1_gold"], color="grey", linewidth=0.8, linestyle=":")
    ax.annotate("edge, gold paragraph", (0.01, suite["edge_f1_gold"]), fontsize=7, color="grey")
    ax.set_xlabel("share of questions sent to the hosted model")
    ax.set_ylabel("F1 (SQuAD)")
    ax.set_title(f"SQuAD REPORT split, {suite['n']} questions: {suite['llm']} + retrieval vs hosted replay")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return [_save(fig, out_dir, "rag_routing_curves.png")]
