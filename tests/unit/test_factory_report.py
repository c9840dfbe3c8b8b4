"""Eval comparisons, targets and the written report (JSON, markdown, PNG)."""

from __future__ import annotations

import json
from pathlib import Path

from factory.evaluate import ModelEval
from factory.report import EvalReport, compare, write


def _m(
    name: str,
    version: str,
    precision: str,
    featurizer: str,
    benchmark: str,
    acc: float,
    ms: float,
    latest: bool = True,
    **kw: object,
) -> ModelEval:
    return ModelEval(
        name=name,
        version=version,
        precision=precision,
        task="classify",
        featurizer=featurizer,
        latest=latest,
        benchmark=benchmark,
        accuracy=acc,
        latency_ms_p50=ms,
        size_mb=10.0,
        **kw,
    )  # type: ignore[arg-type]


def _report(tmp_path: Path) -> EvalReport:
    models = [
        _m(
            "generalist",
            "2-minilm",
            "FP32",
            "wordpiece",
            "clinc150-intents",
            0.955,
            8.0,
            domain_accuracy=0.98,
            per_domain={"banking": 0.94, "travel": 0.97},
        ),
        _m("generalist", "2-minilm-int8", "INT8", "wordpiece", "clinc150-intents", 0.950, 6.0, latest=False),
        _m("domain-router", "2-minilm-int8", "INT8", "wordpiece", "clinc150-domains", 0.975, 6.0),
        _m("domain-router", "2-minilm", "FP32", "wordpiece", "clinc150-domains", 0.981, 8.0, latest=False),
        _m("clinc-banking", "2-minilm-int8", "INT8", "wordpiece", "clinc150-domain:banking", 0.95, 6.0),
        _m("clinc-travel", "2-minilm-int8", "INT8", "wordpiece", "clinc150-domain:travel", 0.96, 6.0),
        _m("domain-router-student", "1-distilled", "FP32", "hashed", "clinc150-domains", 0.96, 0.2),
        _m("clinc-banking-student", "1-distilled", "FP32", "hashed", "clinc150-domain:banking", 0.93, 0.5),
    ]
    return EvalReport(
        registry=tmp_path,
        out=tmp_path / "report",
        models=models,
        machine={"cores": 2},
        pruning=[
            {
                "model": "s",
                "kind": "student",
                "sparsity": 0.5,
                "accuracy": 0.9,
                "nonzero_params": 10,
                "gzip_mb": 0.1,
                "latency_ms_p50": 0.1,
            }
        ],
    )


def test_targets_say_by_how_much_they_are_missed(tmp_path: Path) -> None:
    report = _report(tmp_path)
    compare(report)
    targets = {t.name: t for t in report.targets}
    assert targets["generalist in-scope accuracy"].met
    router = targets["domain router accuracy (domain-router:2-minilm-int8)"]
    assert not router.met and "0.50 points short" in router.shortfall
    int8 = targets["INT8 vs FP32 (generalist, INT8)"]
    assert not int8.met and "1.33x" in int8.measured and "below 1.5x" in int8.shortfall
    student = targets["student domain-router-student"]
    assert student.met  # 30x faster, 2 points below the teacher's 0.98
    banking_student = targets["student clinc-banking-student"]
    assert not banking_student.met and "below 20x" in banking_student.shortfall
    assert targets["specialist clinc-banking >= generalist on banking"].met
    travel = targets["specialist clinc-travel >= generalist on travel"]
    assert not travel.met and "1.00 points below" in travel.shortfall
    kinds = {c["kind"] for c in report.comparisons}
    assert kinds == {"fp32_vs_int8", "student_vs_teacher", "specialist_vs_generalist"}


def test_write_produces_json_markdown_and_png(tmp_path: Path) -> None:
    report = _report(tmp_path)
    compare(report)
    write(report)
    assert report.json_path and report.markdown_path and report.png_path
    payload = json.loads(report.json_path.read_text())
    assert len(payload["models"]) == 8 and payload["targets"]
    text = report.markdown_path.read_text()
    assert "| generalist | 2-minilm | yes | FP32 |" in text and "## Targets" in text and "sparsity" in text
    assert report.png_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bf16_figures_are_compared_and_tabled(tmp_path: Path) -> None:
    report = _report(tmp_path)
    report.models[0].bf16_accuracy, report.models[0].bf16_latency_ms_p50 = 0.953, 4.0
    report.models[1].bf16_accuracy, report.models[1].bf16_latency_ms_p50 = 0.950, 5.0
    report.machine = {"isa": ["AVX2", "AVX512", "BF16"], "openvino_cpu_bf16": True, "bf16_measured": True}
    compare(report)
    bf16 = {c["model"]: c for c in report.comparisons if c["kind"] == "bf16_vs_f32"}
    assert set(bf16) == {"generalist:2-minilm", "generalist:2-minilm-int8"}
    fp32 = bf16["generalist:2-minilm"]
    assert fp32["speedup"] == 2.0 and round(fp32["accuracy_delta_points"], 2) == -0.2
    write(report)
    text = report.markdown_path.read_text() if report.markdown_path else ""
    assert "## bf16 vs f32 inference (CPU)" in text and "ISA: AVX2 AVX512 BF16" in text
    assert "| generalist:2-minilm | FP32 | 0.9550 | 0.9530 | -0.20 | 8.00 | 4.00 | 2.00x |" in text
    assert json.loads(report.json_path.read_text())["models"][0]["bf16_latency_ms_p50"] == 4.0  # type: ignore[union-attr]


def test_without_bf16_the_report_says_why(tmp_path: Path) -> None:
    report = _report(tmp_path)
    report.machine = {"isa": ["AVX2"], "openvino_cpu_bf16": False, "bf16_measured": False}
    compare(report)
    write(report)
    text = report.markdown_path.read_text() if report.markdown_path else ""
    assert "bf16 not measured: this CPU has no BF16 (ISA: AVX2)." in text
