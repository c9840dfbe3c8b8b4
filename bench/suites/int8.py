"""Suite `int8`: FP32 vs INT8 MiniLM models from the FACTORY (same head, encoder quantised with
NNCF): batch-1 latency, batched throughput and CLINC150 accuracy, through fleet.serving.runtime.TextModel.

The pair is the first model (generalist, then domain-router, then any) that has a wordpiece FP32
version and an INT8 version in the registry; every other wordpiece version of that model (e.g. the
weights-only INT8 variant) is measured alongside. Skipped with a clear entry when none is built.

Every version runs at f32 inference precision (pinned: OpenVINO's CPU default is bf16 on CPUs with
BF16, which would make the FP32/INT8 figures depend on the machine). Where the CPU has BF16, the
FP32 and INT8 versions are also run at bf16 (batch-1 latency, interleaved with the f32 runs, and
accuracy): ``bf16_speedup`` / ``bf16_accuracy_delta`` for the FP32 model, ``int8_bf16_*`` for the
INT8 one. ``isa`` records the CPU's ISA features.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.stats import ratio, summarize

PREFERRED = ("generalist", "domain-router")
NOT_BUILT = "not built: run `edgefleet models build` (the MiniLM FP32 and INT8 versions are missing)"
BF16 = "@bf16"  # suffix of the bf16 runs' keys in the latency table
ONE_THREAD = "@1thread"  # suffix of the single-inference-thread runs' keys


def find_versions(registry: Path) -> tuple[str, dict[str, Path]] | None:
    """(model name, {version: folder}) of the first model with wordpiece FP32 and INT8 classify versions."""
    from fleet.errors import ModelLoadError
    from fleet.models.registry import list_models, read_manifest

    skipped: list[str] = []  # unreadable versions are not candidates
    found: dict[str, dict[str, tuple[str, Path]]] = {}
    for entry in list_models(registry):
        for version in entry.versions:
            folder = registry / entry.name / version
            try:
                manifest = read_manifest(folder)
            except ModelLoadError as exc:
                skipped.append(f"{entry.name}:{version}: {exc}")
                continue
            if manifest.task == "classify" and manifest.featurizer.get("kind") == "wordpiece":
                found.setdefault(entry.name, {})[version] = (manifest.precision.upper(), folder)
    ordered = [n for n in PREFERRED if n in found] + sorted(n for n in found if n not in PREFERRED)
    for name in ordered:
        precisions = {p for p, _ in found[name].values()}
        if "FP32" in precisions and "INT8" in precisions:
            return name, {v: folder for v, (_, folder) in sorted(found[name].items())}
    return None


def _accuracy(model: Any, texts: list[str], gold: list[str], batch: int = 32) -> float:
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    correct = 0
    for start in range(0, len(order), batch):
        idx = order[start : start + batch]
        probs = model.classify([texts[i] for i in idx])
        for row, i in enumerate(idx):
            correct += model.labels[int(np.argmax(probs[row]))] == gold[i]
    return correct / max(len(texts), 1)


def _throughput(model: Any, texts: list[str], seconds: float, batch: int = 32) -> float:
    done, start, k = 0, time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        chunk = [texts[(k + j) % len(texts)] for j in range(batch)]
        model.classify(chunk)
        done += batch
        k += batch
    return done / (time.perf_counter() - start)


def bf16_figures(
    out: dict[str, Any], bf16: dict[str, dict[str, Any]], fp32: str, int8: str
) -> dict[str, float | None]:
    """bf16 vs f32 of the FP32 and INT8 versions: p50 speed-up (f32 / bf16) and accuracy delta
    (bf16 - f32); None where bf16 was not measured."""
    figures: dict[str, float | None] = {}
    for prefix, version in (("bf16", fp32), ("int8_bf16", int8)):
        at = bf16.get(version)
        figures[f"{prefix}_speedup"] = (
            None if at is None else ratio(out[version]["latency"]["p50_ms"], at["latency"]["p50_ms"])
        )
        figures[f"{prefix}_accuracy_delta"] = (
            None if at is None else at["accuracy"] - out[version]["accuracy"]
        )
    return figures


def run(ctx: Any) -> dict[str, Any]:
    """Measure every version of the chosen model at f32 (and FP32/INT8 at bf16 where the CPU has
    BF16); headline INT8 vs FP32."""
    from factory.data import load_clinc150
    from fleet.models.manifest import load_bundle
    from fleet.serving.cpu import cpu_isa
    from fleet.serving.runtime import TextModel, device_supports_bf16

    registry = ctx.models_dir()
    isa = list(cpu_isa())
    picked = find_versions(registry)
    if picked is None:
        return {
            "status": "skipped",
            "reason": f"{NOT_BUILT} (registry {registry})",
            "isa": isa,
            "speedup": None,
            "accuracy_delta": None,
            "bf16_speedup": None,
            "bf16_accuracy_delta": None,
        }
    name, folders = picked
    models = {v: TextModel.load(load_bundle(f), ("CPU",), precision="f32") for v, f in folders.items()}
    precision = {v: m.manifest.precision.upper() for v, m in models.items()}
    fp32 = next(v for v in models if precision[v] == "FP32")
    int8 = next(
        (v for v in models if precision[v] == "INT8" and "int8w" not in v),
        next(v for v in models if precision[v] == "INT8"),
    )
    cpu_bf16 = device_supports_bf16("CPU")
    at_bf16 = {
        v: TextModel.load(load_bundle(folders[v]), ("CPU",), precision="bf16")
        for v in dict.fromkeys((fp32, int8))
        if cpu_bf16
    }
    one_thread = {  # one inference thread: no per-op thread hand-off (what a 1-CPU node's replica gets)
        v: TextModel.load(load_bundle(folders[v]), ("CPU",), precision="f32", num_threads=1)
        for v in dict.fromkeys((fp32, int8))
    }
    timed = {
        **models,
        **{v + BF16: m for v, m in at_bf16.items()},
        **{v + ONE_THREAD: m for v, m in one_thread.items()},
    }
    data = load_clinc150()
    examples = list(data.test) + list(data.oos_test)
    if ctx.tiny:
        examples = data.test[::150] + data.oos_test[::100]
    texts, gold = [t for t, _ in examples], [g for _, g in examples]
    n, rounds = ctx.size(20, 300), ctx.size(2, 6)
    latency: dict[str, list[float]] = {v: [] for v in timed}
    for r in range(rounds):  # interleaved so background load hits every version alike
        for v, model in timed.items():
            for i in range(3):
                model.classify([texts[i]])
            for i in range(n // rounds):
                t0 = time.perf_counter()
                model.classify([texts[(r * n + i) % len(texts)]])
                latency[v].append((time.perf_counter() - t0) * 1000.0)
    out: dict[str, Any] = {}
    for v, model in models.items():
        out[v] = {
            "precision": precision[v],
            "inference_precision": model.inference_precision,
            "latency": summarize(latency[v]),
            "throughput_tps": _throughput(model, texts, ctx.size(1.0, 8.0)),
            "accuracy": _accuracy(model, texts, gold),
            "size_mb": round(sum(p.stat().st_size for p in folders[v].iterdir() if p.is_file()) / 1e6, 2),
        }
    bf16: dict[str, dict[str, Any]] = {
        v: {
            "precision": precision[v],
            "inference_precision": model.inference_precision,
            "latency": summarize(latency[v + BF16]),
            "accuracy": _accuracy(model, texts, gold),
        }
        for v, model in at_bf16.items()
    }
    speedup = ratio(out[fp32]["latency"]["p50_ms"], out[int8]["latency"]["p50_ms"])
    single = {v: summarize(latency[v + ONE_THREAD]) for v in one_thread}
    speedup_1t = ratio(single[fp32]["p50_ms"], single[int8]["p50_ms"])
    rows = [
        [
            v,
            o["precision"],
            o["latency"]["p50_ms"],
            o["latency"]["p99_ms"],
            o["throughput_tps"],
            o["accuracy"],
            o["size_mb"],
        ]
        for v, o in out.items()
    ]
    bf16_rows = [
        [
            v,
            o["precision"],
            o["inference_precision"],
            o["latency"]["p50_ms"],
            o["latency"]["p99_ms"],
            o["accuracy"],
            ratio(out[v]["latency"]["p50_ms"], o["latency"]["p50_ms"]),
            o["accuracy"] - out[v]["accuracy"],
        ]
        for v, o in bf16.items()
    ]
    isa_text = " ".join(isa) or "none found"
    bf16_note = (
        f"bf16: the FP32 and INT8 versions also ran at bf16 (ISA {isa_text}); bf16_speedup = p50 f32 / "
        "p50 bf16 of the FP32 version, bf16_accuracy_delta = bf16 - f32 (int8_bf16_*: the INT8 version)."
        if bf16
        else f"bf16 not measured: this CPU has no BF16 (ISA {isa_text}; not in OpenVINO's CPU capabilities)."
    )
    tables = [
        (
            "FP32 vs INT8 (f32 inference)",
            ["version", "precision", "p50 ms", "p99 ms", "texts/s (batch 32)", "accuracy", "size MB"],
            rows,
        )
    ]
    if bf16_rows:
        header = ["version", "precision", "inference", "p50 ms", "p99 ms", "accuracy", "speed-up vs f32"]
        tables.append(("bf16 vs f32 inference (batch 1)", [*header, "accuracy delta"], bf16_rows))
    return {
        "model": name,
        "fp32_version": fp32,
        "int8_version": int8,
        "models": out,
        "speedup": speedup,
        "speedup_single_thread": speedup_1t,
        "speedup_min": ratio(out[fp32]["latency"]["min_ms"], out[int8]["latency"]["min_ms"]),
        "speedup_single_thread_min": ratio(single[fp32]["min_ms"], single[int8]["min_ms"]),
        "single_thread_latency": single,
        "threads": "default (OpenVINO's LATENCY hint: every core)",
        "throughput_ratio": ratio(out[int8]["throughput_tps"], out[fp32]["throughput_tps"]),
        "accuracy_delta": out[int8]["accuracy"] - out[fp32]["accuracy"],
        "size_ratio": ratio(out[int8]["size_mb"], out[fp32]["size_mb"]),
        "isa": isa,
        "inference_precision": "f32",
        "bf16_status": "measured" if bf16 else "skipped: this CPU has no BF16",
        "bf16_models": bf16,
        **bf16_figures(out, bf16, fp32, int8),
        "method": (
            f"in-process TextModel on CPU at f32 inference precision; batch-1 latency over {n} calls in "
            f"{rounds} interleaved rounds; throughput: batches of 32 texts, back to back; accuracy: argmax "
            f"label == gold on {len(texts)} CLINC150 test texts (in-scope + oos, oos a label). Where the "
            "CPU has BF16, the FP32 and INT8 versions also at bf16, in the same latency rounds."
        ),
        "tables": tables,
        "notes": [
            "speedup = p50 FP32 / p50 INT8 at batch 1; accuracy_delta = INT8 - FP32.",
            (
                f"speedup_single_thread = the same with one inference thread per model ({speedup_1t:.2f}): "
                "at batch 1 on a small transformer the default's per-op hand-offs between threads cost both "
                "versions the same fixed time, which dilutes the INT8 gain."
            ),
            (
                "speedup_min / speedup_single_thread_min: the ratio of the fastest calls, i.e. of the uncontended "
                "compute, for a machine busy with other work (load_average_at_start in the machine record)."
            ),
            bf16_note,
        ],
    }
