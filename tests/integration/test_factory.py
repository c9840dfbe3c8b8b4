"""The model factory for real: all-MiniLM-L6-v2 converted to OpenVINO, quantised to INT8 with NNCF,
heads folded in, students distilled, the registry evaluated, the flywheel and bring-your-own-model.

One tiny registry is built per module (2 training texts per intent, one specialist domain, 16
calibration texts) so the whole file stays fast; the figures it produces are not meaningful.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from edgefleet.escalation_log import EscalationRecord, HostedVerdict
from factory import artifacts as art
from factory.build_config import BuildConfig, BuildSummary
from factory.data import load_clinc150
from factory.pipeline import add_model, build_registry, distill_from_log, evaluate_registry
from fleet.errors import ModelLoadError
from fleet.models.manifest import load_bundle, resolve_model_dir
from fleet.serving.cpu import cpu_isa
from fleet.serving.runtime import TextModel, device_supports_bf16
from router.escalation_writer import EscalationLog

pytestmark = pytest.mark.integration

TINY = BuildConfig(
    per_intent=2,
    val_per_intent=1,
    domains=("banking",),
    banking77=False,
    calibration_size=16,
    int8_weights=False,
    pruning_sparsities=(0.0, 0.9),
)
TEXTS = [
    "what is my account balance",
    "book a table for two tonight",
    "is it going to rain tomorrow",
    "how do i freeze my card",
    "play some jazz",
    "transfer 100 dollars to mom",
]


@pytest.fixture(scope="module")
def tiny_registry(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, BuildSummary]:
    registry = tmp_path_factory.mktemp("factory") / "models"
    summary = build_registry(registry, config=TINY, progress=False)
    return registry, summary


def test_build_writes_every_model_with_manifests(tiny_registry: tuple[Path, BuildSummary]) -> None:
    registry, summary = tiny_registry
    expected = {
        "minilm-l6:2-minilm",
        "minilm-l6:2-minilm-int8",
        "generalist:2-minilm",
        "generalist:2-minilm-int8",
        "domain-router:2-minilm-int8",
        "domain-router:2-minilm",
        "clinc-banking:2-minilm-int8",
        "domain-router-student:1-distilled",
        "clinc-banking-student:1-distilled",
    }
    assert set(summary.built) == expected and summary.cached == []
    assert resolve_model_dir(registry, "generalist").name == art.VERSION_FP32
    assert resolve_model_dir(registry, "domain-router").name == art.VERSION_INT8
    for ref in expected:
        name, version = ref.split(":")
        bundle = load_bundle(registry / name / version)
        m = bundle.manifest
        assert (m.name, m.version) == (name, version)
        assert set(m.files) >= {"model.xml", "model.bin"}
        if m.featurizer["kind"] == "wordpiece":
            assert "tokenizer.json" in m.files and [s.name for s in m.inputs] == [
                "input_ids",
                "attention_mask",
            ]
        else:
            assert [s.name for s in m.inputs] == ["FEATURES"]
        assert m.precision in {"FP32", "INT8", "INT8-W"}
        assert (m.task == "embed") == (name == "minilm-l6")
    assert load_bundle(registry / "generalist" / "2-minilm").manifest.labels[-1] == "oos"
    assert len(load_bundle(registry / "generalist" / "2-minilm").manifest.labels) == 151
    metrics = load_bundle(registry / "minilm-l6" / "2-minilm").manifest.metrics
    assert metrics["cosine_vs_numpy_reference"] > 0.9999
    assert (registry / "report" / "pruning.json").is_file()


def test_int8_serves_close_to_fp32_and_is_smaller(tiny_registry: tuple[Path, BuildSummary]) -> None:
    registry, _ = tiny_registry
    # f32 inference: the probability sums are checked to 1e-4, which bf16 (a CPU default) misses.
    fp32 = TextModel.load(load_bundle(registry / "generalist" / "2-minilm"), precision="f32")
    int8 = TextModel.load(load_bundle(registry / "generalist" / "2-minilm-int8"), precision="f32")
    e32, e8 = fp32.embed(TEXTS), int8.embed(TEXTS)
    assert e32.shape == (len(TEXTS), 384)
    assert float((e32 * e8).sum(axis=1).min()) > 0.9
    probs = int8.classify(TEXTS)
    assert probs.shape == (len(TEXTS), 151) and np.allclose(probs.sum(axis=1), 1.0, atol=1e-4)
    assert "FakeQuantize" in (registry / "generalist" / "2-minilm-int8" / "model.xml").read_text()
    size = {
        v: (registry / "generalist" / v / "model.bin").stat().st_size for v in ("2-minilm", "2-minilm-int8")
    }
    assert size["2-minilm-int8"] * 3 < size["2-minilm"]
    router = TextModel.load(load_bundle(resolve_model_dir(registry, "domain-router")), precision="f32")
    assert router.labels[-1] == "oos" and len(router.labels) == 11
    assert np.allclose(router.classify(TEXTS).sum(axis=1), 1.0, atol=1e-4)


def test_rebuild_is_idempotent(tiny_registry: tuple[Path, BuildSummary]) -> None:
    registry, first = tiny_registry
    again = build_registry(registry, config=TINY, progress=False)
    assert again.built == [] and set(again.cached) == set(first.built)


def test_damaged_model_files_give_clear_errors(
    tiny_registry: tuple[Path, BuildSummary], tmp_path: Path
) -> None:
    registry, _ = tiny_registry
    source = registry / "clinc-banking" / "2-minilm-int8"

    def copy() -> Path:
        target = tmp_path / f"copy{len(list(tmp_path.iterdir()))}"
        shutil.copytree(source, target)
        return target

    truncated = copy()
    data = (truncated / "model.bin").read_bytes()
    (truncated / "model.bin").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelLoadError, match="truncated"):
        load_bundle(truncated)
    missing = copy()
    (missing / "tokenizer.json").unlink()
    with pytest.raises(ModelLoadError, match=r"tokenizer\.json.*missing"):
        load_bundle(missing)
    bad_manifest = copy()
    (bad_manifest / "manifest.yaml").write_text("name: x\nversion: [unclosed\n")
    with pytest.raises(ModelLoadError, match="manifest"):
        load_bundle(bad_manifest)
    with pytest.raises(ModelLoadError):
        resolve_model_dir(registry, "no-such-model")


def test_eval_writes_report_with_figures(tiny_registry: tuple[Path, BuildSummary], tmp_path: Path) -> None:
    registry, _ = tiny_registry
    report = evaluate_registry(
        registry,
        tmp_path / "report",
        limit=1,
        latency_rounds=1,
        names=["generalist", "domain-router-student"],
    )
    assert report.json_path and report.json_path.is_file() and report.png_path and report.png_path.is_file()
    gen = report.find("generalist", "2-minilm")
    assert gen is not None and gen.error is None and gen.benchmark == "clinc150-intents"
    assert (
        gen.accuracy is not None
        and gen.latency_ms_p50
        and gen.size_mb > 50
        and set(gen.per_domain) == set(load_clinc150().domain_names)
    )
    assert gen.oos_recall is not None
    router_student = report.find("domain-router-student")
    assert router_student is not None and router_student.benchmark == "clinc150-domains"
    assert any(c["kind"] == "fp32_vs_int8" for c in report.comparisons)
    assert any(t.name == "generalist in-scope accuracy" for t in report.targets)
    assert json.loads(report.json_path.read_text())["models"]
    assert gen.inference_precision == "f32" and report.machine["isa"] == list(cpu_isa())
    assert router_student.bf16_accuracy is None  # hashed students are measured at f32 only
    text = report.markdown_path.read_text() if report.markdown_path else ""
    if device_supports_bf16("CPU"):
        assert gen.bf16_accuracy is not None and gen.bf16_latency_ms_p50
        assert any(c["kind"] == "bf16_vs_f32" and c["model"] == gen.ref for c in report.comparisons)
        assert "## bf16 vs f32 inference (CPU)" in text and f"| {gen.ref} | FP32 |" in text
    else:
        assert gen.bf16_accuracy is None and "bf16 not measured: this CPU has no BF16" in text


def test_distill_from_escalation_log(tiny_registry: tuple[Path, BuildSummary], tmp_path: Path) -> None:
    registry, _ = tiny_registry
    clinc = load_clinc150()
    banking = clinc.in_domain(clinc.test, "banking")[:40]
    log = tmp_path / "escalations.jsonl"
    writer = EscalationLog(log)  # the router's own writer: one schema on both sides
    for t, intent in banking:
        writer.write(
            EscalationRecord(
                unix_ms=0.0,
                request_id="r",
                route="clinc",
                domain="banking",
                text=t,
                reasons=["low_confidence"],
                hosted=HostedVerdict(model="big", label=intent),
            )
        )
    writer.close()
    with log.open("a", encoding="utf-8") as fh:
        fh.write("not json\n")
    report = distill_from_log(registry, log)
    assert (report.records, report.usable, report.skipped) == (41, 40, 1)
    names = {s.name for s in report.students}
    assert names == {"domain-router-student", "clinc-banking-student"}
    for delta in report.students:
        assert delta.after_version.endswith("-flywheel") and delta.hard_examples > 0
        assert (registry / delta.name / delta.after_version / "manifest.yaml").is_file()
        latest = resolve_model_dir(registry, delta.name).name
        assert latest == (delta.after_version if delta.promoted else delta.before_version)
        assert 0.0 <= delta.test_after <= 1.0
        assert delta.after_version in report.markdown()


async def test_flywheel_round_trip_from_a_real_router_to_a_new_version(
    tiny_registry: tuple[Path, BuildSummary], tmp_path: Path
) -> None:
    """Real requests through a real router (students on KServe replicas, the stand-in as the hosted
    teacher) -> the router's escalation log -> distill -> a new version, promoted or refused."""
    from client import AsyncEdgeFleetClient
    from edgefleet.escalation_log import read_log
    from edgefleet.policy.loader import parse_policy
    from edgefleet.state import DeploymentState, FleetState, NodeState, ReplicaState
    from fleet.serving.kserve_aio import serve_kserve
    from router.fleet_source import StaticFleet
    from router.hosted import HostedClient
    from router.server import serve
    from standin.server import StandInServer

    registry, _ = tiny_registry
    log = tmp_path / "escalations.jsonl"
    students = ("domain-router-student", "clinc-banking-student")
    models = {name: TextModel.load(load_bundle(resolve_model_dir(registry, name))) for name in students}
    before = {name: resolve_model_dir(registry, name).name for name in students}
    kserve = {name: serve_kserve(model, node="n", replica=f"{name}-0") for name, model in models.items()}
    deployments = [
        DeploymentState(
            name, name, m.manifest.version, m.manifest.precision, 1, 1,
            [ReplicaState(f"{name}-0", name, "n1", "n", "CPU", f"127.0.0.1:{kserve[name][1]}", "ready")],
            task="classify", labels=list(m.labels),
        )
        for name, m in models.items()
    ]  # fmt: skip
    stand_in = StandInServer(TextModel.load(load_bundle(resolve_model_dir(registry, "generalist"))))
    url = stand_in.start()
    policy = parse_policy(
        f"""
router: {{default_timeout_ms: 10000, escalation_log: {log}}}
deployments:
  - {{name: domain-router-student, model: domain-router-student}}
  - {{name: clinc-banking-student, model: clinc-banking-student}}
hosted:
  - {{name: big, base_url: {url}, model: stand-in, timeout_ms: 5000}}
routes:
  - name: clinc
    task: classify
    domain_model: domain-router-student
    specialists: {{banking: [clinc-banking-student]}}
    fallback: big
    min_confidence: 0.9
"""
    )
    hosted = HostedClient(policy.hosted_endpoint("big"), base_url=url)
    state = FleetState(1, 0.0, [NodeState("n1", "n", "127.0.0.1")], deployments, [])
    server = await serve(policy, StaticFleet(state), {"big": hosted}, "127.0.0.1:0")
    clinc = load_clinc150()
    texts = [t for t, _ in clinc.in_domain(clinc.test, "banking")[:60]] + [t for t, _ in clinc.test[::150]]
    try:
        async with AsyncEdgeFleetClient(server.address, timeout_s=20.0) as ef:
            answers = [(await ef.infer(text)).result for text in texts]
    finally:
        await server.stop()
        await hosted.aclose()
        stand_in.stop()
        for grpc_server, _ in kserve.values():
            grpc_server.stop(0)
    escalated = [a for a in answers if a.served_by.tier.name == "HOSTED"]
    assert escalated, "the students were sure of everything: nothing for the flywheel"
    records, lines = read_log(log)
    assert lines == len(records) == len(escalated)  # every escalation logged in the one schema
    report = distill_from_log(registry, log)
    print(report.markdown())  # shown with -s: the figures of this run
    assert report.usable == len(escalated) and report.skipped == 0  # the reader takes all of them
    assert {s.name for s in report.students} <= set(students) and report.students
    for delta in report.students:
        assert delta.before_version == before[delta.name] and delta.hard_examples > 0
        assert (registry / delta.name / delta.after_version / "manifest.yaml").is_file()
        latest = resolve_model_dir(registry, delta.name).name
        if delta.promoted:
            assert latest == delta.after_version and not delta.refused
        else:
            assert latest == before[delta.name] and delta.refused.startswith("worse on the")
            assert f"REFUSED: {delta.refused}" in report.markdown()


def test_add_model_registers_a_wordpiece_ir(tiny_registry: tuple[Path, BuildSummary], tmp_path: Path) -> None:
    registry, _ = tiny_registry
    source = registry / "clinc-banking" / "2-minilm-int8"
    labels = load_bundle(source).manifest.labels
    folder = add_model(registry, source / "model.xml", "my-banking", labels, "classify")
    bundle = load_bundle(folder)
    assert bundle.manifest.featurizer["kind"] == "wordpiece" and bundle.manifest.precision == "INT8"
    model = TextModel.load(bundle)
    assert model.classify(TEXTS[:2]).shape == (2, len(labels))


def test_bench_int8_measures_f32_and_bf16_where_the_cpu_has_it(
    tiny_registry: tuple[Path, BuildSummary], tmp_path: Path
) -> None:
    from bench.runner import BenchContext
    from bench.suites import int8

    registry, _ = tiny_registry
    result = int8.run(BenchContext(out_dir=tmp_path, tiny=True, registry=registry))
    assert result["model"] == "generalist" and result["inference_precision"] == "f32"
    assert result["isa"] == list(cpu_isa())
    assert {m["inference_precision"] for m in result["models"].values()} == {"f32"}
    assert result["speedup"] > 0
    if device_supports_bf16("CPU"):
        bf16 = result["bf16_models"]
        assert set(bf16) == {result["fp32_version"], result["int8_version"]}
        assert {m["inference_precision"] for m in bf16.values()} == {"bf16"}
        assert result["bf16_speedup"] > 0 and result["int8_bf16_speedup"] > 0
        assert abs(result["bf16_accuracy_delta"]) <= 1.0 and result["bf16_status"] == "measured"
        assert [title for title, _, _ in result["tables"]][-1] == "bf16 vs f32 inference (batch 1)"
    else:
        assert result["bf16_models"] == {} and result["bf16_speedup"] is None
        assert "no BF16" in result["bf16_status"]
