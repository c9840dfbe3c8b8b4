"""The eval report: comparisons (FP32 vs INT8, students vs teacher, specialists vs generalist,
bf16 vs f32 inference where the CPU has BF16), targets met or missed by how much, and the
JSON / markdown / PNG files."""

from __future__ import annotations

import contextlib
import json
import os
import platform
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from factory.distill import STUDENT_SUFFIX
from factory.evaluate import ModelEval


@dataclass
class Target:
    """One target of the issue with the measured value."""

    name: str
    target: str
    measured: str
    met: bool
    shortfall: str = ""


@dataclass
class EvalReport:
    """Everything ``edgefleet models eval`` measured, and where it was written."""

    registry: Path
    out: Path
    models: list[ModelEval]
    comparisons: list[dict[str, Any]] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    pruning: list[dict[str, Any]] = field(default_factory=list)
    machine: dict[str, Any] = field(default_factory=dict)
    json_path: Path | None = None
    markdown_path: Path | None = None
    png_path: Path | None = None

    def find(self, name: str, version: str | None = None) -> ModelEval | None:
        """A model's figures (``version`` None: its latest)."""
        for m in self.models:
            if m.name == name and (m.version == version if version else m.latest):
                return m
        return None


def _minilm(models: list[ModelEval], name: str, precision: str | None = None) -> ModelEval | None:
    cands = [
        m
        for m in models
        if m.name == name
        and m.featurizer == "wordpiece"
        and m.error is None
        and (precision is None or m.precision == precision)
    ]
    latest = [m for m in cands if m.latest]
    ranked = latest or cands
    return ranked[0] if ranked else None


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def compare(report: EvalReport) -> None:
    """Fill ``report.comparisons`` and ``report.targets`` from ``report.models``."""
    models = [m for m in report.models if m.error is None]
    comps, targets = report.comparisons, report.targets
    gen = _minilm(models, "generalist", "FP32")
    if gen is not None and gen.accuracy is not None:
        targets.append(
            Target(
                "generalist in-scope accuracy",
                ">= 0.95",
                f"{gen.accuracy:.4f}",
                gen.accuracy >= 0.95,
                "" if gen.accuracy >= 0.95 else f"{100 * (0.95 - gen.accuracy):.2f} points short",
            )
        )
    router = _minilm(models, "domain-router")
    if router is not None and router.accuracy is not None:
        ok = router.accuracy >= 0.98
        targets.append(
            Target(
                f"domain router accuracy ({router.ref})",
                ">= 0.98",
                f"{router.accuracy:.4f}",
                ok,
                "" if ok else f"{100 * (0.98 - router.accuracy):.2f} points short",
            )
        )
    by_name: dict[str, list[ModelEval]] = {}
    for m in models:
        by_name.setdefault(m.name, []).append(m)
    for name, versions in sorted(by_name.items()):
        fp32 = [m for m in versions if m.precision == "FP32" and m.featurizer == "wordpiece"]
        for int8 in (m for m in versions if m.precision.startswith("INT8")):
            if not fp32 or fp32[0].latency_ms_p50 is None or int8.latency_ms_p50 is None:
                continue
            speed = fp32[0].latency_ms_p50 / int8.latency_ms_p50
            loss = (
                None
                if fp32[0].accuracy is None or int8.accuracy is None
                else 100 * (fp32[0].accuracy - int8.accuracy)
            )
            comps.append(
                {
                    "kind": "fp32_vs_int8",
                    "model": name,
                    "int8_version": int8.version,
                    "fp32_ms": fp32[0].latency_ms_p50,
                    "int8_ms": int8.latency_ms_p50,
                    "speedup": speed,
                    "accuracy_loss_points": loss,
                    "size_ratio": fp32[0].size_mb / max(int8.size_mb, 1e-9),
                }
            )
            ok = speed >= 1.5 and (loss is None or loss <= 1.0)
            short = [] if speed >= 1.5 else [f"speedup {speed:.2f}x is {1.5 - speed:.2f}x below 1.5x"]
            if loss is not None and loss > 1.0:
                short.append(f"accuracy loss {loss:.2f} points exceeds 1 point by {loss - 1:.2f}")
            targets.append(
                Target(
                    f"INT8 vs FP32 ({name}, {int8.precision})",
                    ">= 1.5x faster, <= 1 point loss",
                    f"{speed:.2f}x, loss {loss if loss is None else round(loss, 2)} points",
                    ok,
                    "; ".join(short),
                )
            )
    for student in (m for m in models if m.name.endswith(STUDENT_SUFFIX) and m.latest):
        base = student.name[: -len(STUDENT_SUFFIX)]
        encoder = _minilm(models, base)
        teacher_acc = None
        if gen is not None:
            teacher_acc = (
                gen.domain_accuracy
                if base == "domain-router"
                else gen.per_domain.get(base.removeprefix("clinc-"))
            )
        ratio: float | None = None
        if encoder is not None and encoder.latency_ms_p50 and student.latency_ms_p50:
            ratio = encoder.latency_ms_p50 / student.latency_ms_p50
        gap = (
            None
            if teacher_acc is None or student.accuracy is None
            else 100 * (teacher_acc - student.accuracy)
        )
        comps.append(
            {
                "kind": "student_vs_teacher",
                "student": student.ref,
                "encoder_model": encoder.ref if encoder else None,
                "speedup_vs_encoder_model": ratio,
                "student_accuracy": student.accuracy,
                "teacher_accuracy": teacher_acc,
                "gap_points": gap,
            }
        )
        ok = (ratio or 0) >= 20 and gap is not None and gap <= 3.0
        short = []
        if ratio is not None and ratio < 20:
            short.append(f"speedup {ratio:.1f}x is {20 - ratio:.1f}x below 20x")
        if gap is not None and gap > 3.0:
            short.append(f"{gap:.2f} points below the teacher ({gap - 3:.2f} beyond the 3-point allowance)")
        targets.append(
            Target(
                f"student {student.name}",
                ">= 20x faster, within 3 points of teacher",
                f"{ratio or float('nan'):.1f}x, gap {gap if gap is None else round(gap, 2)} points",
                ok,
                "; ".join(short),
            )
        )
    for spec in models:
        if not (
            spec.latest and spec.featurizer == "wordpiece" and spec.benchmark.startswith("clinc150-domain:")
        ):
            continue
        domain = spec.benchmark.split(":", 1)[1]
        g = gen.per_domain.get(domain) if gen else None
        if g is None or spec.accuracy is None:
            continue
        comps.append(
            {
                "kind": "specialist_vs_generalist",
                "model": spec.ref,
                "specialist_accuracy": spec.accuracy,
                "generalist_accuracy": g,
            }
        )
        targets.append(
            Target(
                f"specialist {spec.name} >= generalist on {domain}",
                ">= generalist",
                f"{spec.accuracy:.4f} vs {g:.4f}",
                spec.accuracy >= g,
                "" if spec.accuracy >= g else f"{100 * (g - spec.accuracy):.2f} points below",
            )
        )
    comps.extend(compare_bf16(models))


def compare_bf16(models: list[ModelEval]) -> list[dict[str, Any]]:
    """bf16 vs f32 inference of every model measured both ways (CPUs with BF16)."""
    out: list[dict[str, Any]] = []
    for m in models:
        if m.error is not None or m.bf16_latency_ms_p50 is None or not m.latency_ms_p50:
            continue
        delta = (
            None if m.accuracy is None or m.bf16_accuracy is None else 100 * (m.bf16_accuracy - m.accuracy)
        )
        out.append(
            {
                "kind": "bf16_vs_f32",
                "model": m.ref,
                "precision": m.precision,
                "f32_ms": m.latency_ms_p50,
                "bf16_ms": m.bf16_latency_ms_p50,
                "speedup": m.latency_ms_p50 / m.bf16_latency_ms_p50,
                "f32_accuracy": m.accuracy,
                "bf16_accuracy": m.bf16_accuracy,
                "accuracy_delta_points": delta,
            }
        )
    return out


def machine_info(bf16_measured: bool = False, cpu_bf16: bool = False) -> dict[str, Any]:
    """CPU and software facts for the report header: ISA features, and whether bf16 was measured."""
    import openvino as ov

    from fleet.serving.cpu import cpu_isa

    flags = ""
    with contextlib.suppress(OSError, StopIteration):
        flags = next(
            line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags")
        )
    return {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "avx2": " avx2" in flags,
        "avx512_vnni": "avx512_vnni" in flags,
        "avx_vnni": " avx_vnni" in flags,
        "isa": list(cpu_isa()),
        "openvino_cpu_bf16": cpu_bf16,
        "inference_precision": "f32",
        "bf16_measured": bf16_measured,
        "openvino": ov.__version__,
        "load_avg": os.getloadavg(),
    }


def _f(x: float | None, digits: int = 4) -> str:
    return "" if x is None else f"{x:.{digits}f}"


def markdown(report: EvalReport) -> str:
    """The report as a markdown document."""
    lines = [
        "# EdgeFleet model evaluation",
        "",
        f"Machine: {json.dumps(report.machine)}",
        "",
        "Accuracy and latency at f32 inference precision (pinned; OpenVINO's CPU default is bf16 on "
        "CPUs with BF16). bf16 figures, where measured, are in their own table below.",
        "",
        (
            "| model | version | latest | precision | featuriser | benchmark | accuracy | domain acc "
            "| oos recall | oos recall @thr | p50 ms (batch 1) | size MB |"
        ),
        "|---|---|---|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for m in report.models:
        lines.append(
            f"| {m.name} | {m.version} | {'yes' if m.latest else ''} | {m.precision} | {m.featurizer} "
            f"| {m.benchmark} | {_f(m.accuracy)} | {_f(m.domain_accuracy)} | {_f(m.oos_recall)} "
            f"| {_f(m.oos_recall_at_threshold)} "
            f"| {_f(m.latency_ms_p50, 2)} | {m.size_mb:.1f} |" + (f" error: {m.error}" if m.error else "")
        )
    per_domain = [m for m in report.models if m.benchmark == "clinc150-intents" and m.per_domain]
    if per_domain:
        domains = list(per_domain[0].per_domain)
        lines += [
            "",
            "## Per-domain accuracy (intent models)",
            "",
            "| model | " + " | ".join(domains) + " |",
            "|---|" + "---:|" * len(domains),
        ]
        for m in per_domain:
            lines.append(f"| {m.ref} | " + " | ".join(_f(m.per_domain.get(d), 3) for d in domains) + " |")
    lines += ["", *bf16_section(report)]
    lines += [
        "",
        "## Targets",
        "",
        "| target | wanted | measured | met | shortfall |",
        "|---|---|---|---|---|",
    ]
    for t in report.targets:
        lines.append(f"| {t.name} | {t.target} | {t.measured} | {'yes' if t.met else 'NO'} | {t.shortfall} |")
    if report.comparisons:
        lines += ["", "## Comparisons", "", "```json", json.dumps(report.comparisons, indent=1), "```"]
    if report.pruning:
        lines += [
            "",
            "## Magnitude pruning (validation set)",
            "",
            "| model | sparsity | accuracy | nonzero params | gzip MB | p50 ms |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for r in report.pruning:
            lines.append(
                f"| {r['model']} | {r['sparsity']:.2f} | {r['accuracy']:.4f} | {r['nonzero_params']} "
                f"| {r['gzip_mb']:.3f} | {r['latency_ms_p50']:.3f} |"
            )
        lines += [
            "",
            (
                "OpenVINO's CPU plugin runs zeroed weights densely on AVX2: sparsity shrinks the "
                "compressed size, not the latency."
            ),
        ]
    return "\n".join(lines) + "\n"


def bf16_section(report: EvalReport) -> list[str]:
    """The 'bf16 vs f32 inference' markdown section (or why bf16 was not measured)."""
    rows = [c for c in report.comparisons if c["kind"] == "bf16_vs_f32"]
    isa = " ".join(report.machine.get("isa", [])) or "unknown"
    lines = ["## bf16 vs f32 inference (CPU)", ""]
    if not rows:
        why = (
            "this CPU has no BF16"
            if not report.machine.get("openvino_cpu_bf16")
            else "bf16 measurement was turned off"
        )
        return [*lines, f"bf16 not measured: {why} (ISA: {isa})."]
    lines += [
        f"Same models, compiled with INFERENCE_PRECISION_HINT f32 and bf16, side by side (ISA: {isa}).",
        "",
        "| model | precision | f32 accuracy | bf16 accuracy | delta points | f32 p50 ms | bf16 p50 ms "
        "| bf16 speed-up |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for c in rows:
        delta = c["accuracy_delta_points"]
        lines.append(
            f"| {c['model']} | {c['precision']} | {_f(c['f32_accuracy'])} | {_f(c['bf16_accuracy'])} "
            f"| {'' if delta is None else f'{delta:+.2f}'} | {_f(c['f32_ms'], 2)} | {_f(c['bf16_ms'], 2)} "
            f"| {c['speedup']:.2f}x |"
        )
    return lines


def plot(report: EvalReport, path: Path) -> None:
    """Accuracy vs batch-1 latency (log scale), one point per model version."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(11, 7))
    colours = {"FP32": "tab:blue", "INT8": "tab:red", "INT8-W": "tab:orange"}
    for m in report.models:
        if m.accuracy is None or not m.latency_ms_p50:
            continue
        colour = "tab:green" if m.featurizer == "hashed" else colours.get(m.precision, "tab:gray")
        ax.scatter(m.latency_ms_p50, m.accuracy, c=colour, s=20 + 2 * m.size_mb)
        ax.annotate(f"{m.name}:{m.version}", (m.latency_ms_p50, m.accuracy), fontsize=6, alpha=0.8)
        if m.bf16_latency_ms_p50 and m.bf16_accuracy is not None:
            ax.scatter(m.bf16_latency_ms_p50, m.bf16_accuracy, c=colour, marker="x", s=30)
    ax.set_xscale("log")
    ax.set_xlabel("batch-1 p50 latency, ms (log)")
    ax.set_ylabel("accuracy on the model's benchmark")
    ax.set_title(
        "EdgeFleet models: accuracy vs latency at f32 inference\n"
        "(blue FP32, red INT8, orange INT8 weights, green hashed; x: the same model at bf16)"
    )
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write(report: EvalReport) -> None:
    """Write eval.json, eval.md and eval.png into ``report.out``."""
    report.out.mkdir(parents=True, exist_ok=True)
    report.json_path = report.out / "eval.json"
    report.markdown_path = report.out / "eval.md"
    report.png_path = report.out / "eval.png"
    payload = {
        "machine": report.machine,
        "models": [m.as_dict() for m in report.models],
        "comparisons": report.comparisons,
        "targets": [asdict(t) for t in report.targets],
        "pruning": report.pruning,
    }
    report.json_path.write_text(json.dumps(payload, indent=2), encoding="utf-8")
    report.markdown_path.write_text(markdown(report), encoding="utf-8")
    plot(report, report.png_path)
