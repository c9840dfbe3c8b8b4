"""Public API of the model factory, wired into the CLI (``edgefleet models build|eval|distill|add``).

- :func:`build_registry`: MiniLM encoder (FP32, INT8, INT8 weights), generalist, domain router,
  CLINC150 domain specialists, Banking77 specialist, distilled students, pruning table; idempotent.
- :func:`evaluate_registry`: every model version scored and timed; JSON + markdown + PNG report.
- :func:`distill_from_log`: the hard-example flywheel over the router's escalation log.
- :func:`add_model`: bring your own model (IR, ONNX, PyTorch).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from factory import artifacts as art
from factory import report as rep
from factory.build import FactoryBuild
from factory.build_config import BuildConfig, BuildSummary, load_config
from factory.byom import register_model
from factory.data import banking77_splits, load_clinc150
from factory.distill import STUDENT_SUFFIX
from factory.errors import DataError
from factory.evaluate import (
    Evaluator,
    ModelEval,
    benchmark_of,
    describe,
    load_model,
    measure_latency,
    measures_bf16,
    version_dirs,
)
from factory.flywheel import (
    DistillReport,
    StudentDelta,
    accuracy,
    hard_examples,
    is_heldout,
    load_latest,
    promotion_verdict,
    read_log,
    teacher_head,
)
from factory.progress import Steps
from factory.report import EvalReport
from factory.students import fit_student, student_datasets, write_student
from fleet.errors import ModelLoadError
from fleet.models.manifest import Manifest
from fleet.models.registry import unique_version, write_latest
from fleet.serving.runtime import TextModel, device_supports_bf16

__all__ = [
    "BuildConfig",
    "BuildSummary",
    "DistillReport",
    "EvalReport",
    "add_model",
    "build_registry",
    "distill_from_log",
    "evaluate_registry",
]


def build_registry(
    out: Path, *, quick: bool = False, progress: bool = True, config: BuildConfig | None = None
) -> BuildSummary:
    """Build (or bring up to date) the factory's models in the registry ``out``.

    ``quick`` uses small data slices (10 texts per label, 32 calibration texts): a smoke build of
    every model in a few minutes, with lower accuracy. ``config`` overrides both. Versions whose
    inputs are unchanged are skipped; the embedding cache lives in ``out/.cache``.
    """
    cfg = config or (BuildConfig.quick_config() if quick else BuildConfig())
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with Steps(progress, total_steps=6) as steps:
        return FactoryBuild(out, cfg, steps).run()


def evaluate_registry(
    registry: Path,
    out: Path | None = None,
    *,
    limit: int | None = None,
    latency_rounds: int = 5,
    progress: bool = False,
    names: Sequence[str] | None = None,
    bf16: bool | None = None,
) -> EvalReport:
    """Score and time every model version in ``registry``; write eval.json/.md/.png into ``out``
    (default ``registry/report``). ``limit`` caps test examples per label (quick runs); ``names``
    restricts the run to those models (all versions of each). Figures are at f32 inference
    precision; ``bf16`` (default: where the CPU has BF16) also scores and times the wordpiece
    models at bf16, side by side."""
    registry = Path(registry)
    if not registry.is_dir():
        raise ModelLoadError(f"registry {registry} does not exist; run `edgefleet models build` first")
    clinc = load_clinc150()
    try:
        banking = banking77_splits()
    except DataError:
        banking = None
    evaluator = Evaluator(clinc, banking, art.cache_dir(registry), limit)
    cpu_bf16 = device_supports_bf16("CPU")
    bf16 = cpu_bf16 if bf16 is None else bf16 and cpu_bf16
    results: list[ModelEval] = []
    loaded: dict[str, TextModel] = {}
    dirs = [(d, latest) for d, latest in version_dirs(registry) if names is None or d.parent.name in names]
    with (
        Steps(progress, total_steps=1, title="models eval") as steps,
        steps.step("scoring models", total=len(dirs)) as advance,
    ):
        for folder, latest in dirs:
            try:
                manifest = Manifest.from_yaml((folder / "manifest.yaml").read_text(encoding="utf-8"))
            except (OSError, ModelLoadError) as exc:
                results.append(
                    ModelEval(folder.parent.name, folder.name, "?", "?", "?", latest, "none", error=str(exc))
                )
                continue
            if manifest.task in ("generate", "retrieve"):  # measured by `bench generate` / `rag eval`
                advance(1)
                continue
            result = describe(
                folder, latest, manifest, benchmark_of(manifest, clinc, evaluator.banking_labels)
            )
            try:
                model = load_model(folder)
                evaluator.score(result, manifest, model)
                loaded[result.ref] = model
                if bf16 and measures_bf16(manifest):
                    model_bf16 = load_model(folder, "bf16")
                    evaluator.score_bf16(result, manifest, model_bf16)
                    loaded[f"{result.ref}@bf16"] = model_bf16
            except (ModelLoadError, ValueError) as exc:
                result.error = str(exc)
            results.append(result)
            advance(1)
    texts = [t for t, _ in clinc.test[::37]]
    for ref, p50 in measure_latency(loaded, texts, rounds=latency_rounds).items():
        name, _, at = ref.partition("@")
        result = next(r for r in results if r.ref == name)
        if at == "bf16":
            result.bf16_latency_ms_p50 = round(p50, 3)
        else:
            result.latency_ms_p50 = round(p50, 3)
    pruning_file = registry / art.REPORT_DIR / "pruning.json"
    report = EvalReport(
        registry=registry,
        out=Path(out) if out else registry / art.REPORT_DIR,
        models=results,
        machine=rep.machine_info(bf16_measured=bf16, cpu_bf16=cpu_bf16),
        pruning=json.loads(pruning_file.read_text(encoding="utf-8")) if pruning_file.is_file() else [],
    )
    rep.compare(report)
    rep.write(report)
    return report


def distill_from_log(
    registry: Path, log: Path, *, progress: bool = False, max_drop: float = 0.0
) -> DistillReport:
    """Retrain every student in ``registry`` with the escalation ``log``; report before/after
    accuracy. A new version becomes latest only when it is not worse (by more than `max_drop`) on
    the held-out log records and the CLINC150 test split; else it is written but refused."""
    registry = Path(registry)
    head, teacher_labels = teacher_head(registry)
    records, total, skipped = read_log(Path(log), set(teacher_labels))
    train_records = [r for r in records if not is_heldout(r.text)]
    heldout = [r for r in records if is_heldout(r.text)]
    result = DistillReport(
        log=Path(log), records=total, usable=len(records), skipped=skipped, heldout=len(heldout)
    )
    with Steps(progress, total_steps=1, title="models distill") as steps:
        build = FactoryBuild(registry, load_config(registry), steps)
        build.prepare_embeddings()
        clinc = build.clinc
        for data in student_datasets(build, teacher_labels):
            if not (registry / data.name / "latest").is_file():
                continue
            extra = hard_examples(train_records, data.name, data.labels, clinc)
            if not extra:
                continue
            if data.name.startswith("domain-router"):
                test = clinc.as_domains(clinc.test)
            else:
                test = clinc.in_domain(
                    clinc.test, data.name.removeprefix("clinc-").removesuffix(STUDENT_SUFFIX)
                )
            log_test = hard_examples(heldout, data.name, data.labels, clinc)
            before = load_latest(registry, data.name)
            test_before, log_before = accuracy(before, test) or 0.0, accuracy(before, log_test)
            data.extra = extra
            fit, metrics = fit_student(build, data, head)
            new_version = unique_version("flywheel")
            write_student(
                build, data.name, new_version, fit, {**metrics, "hard_examples": float(len(extra))},
                key=None, set_latest=False,
            )  # fmt: skip
            after = load_latest(registry, data.name, new_version)
            delta = StudentDelta(
                name=data.name,
                before_version=before.manifest.version,
                after_version=new_version,
                hard_examples=len(extra),
                test_before=test_before,
                test_after=accuracy(after, test) or 0.0,
                log_before=log_before,
                log_after=accuracy(after, log_test),
                log_heldout=len(log_test),
            )
            delta.refused = promotion_verdict(delta, max_drop)
            delta.promoted = not delta.refused
            if delta.promoted:
                write_latest(registry, data.name, new_version)
            result.students.append(delta)
    return result


def add_model(
    registry: Path, path: Path, name: str, labels: list[str] | None, task: str, *, trust_pickle: bool = False
) -> Path:
    """Register your own model (IR, ONNX, or PyTorch when torch is installed); returns its folder.
    A pickled PyTorch file (.pt/.pth) only with `trust_pickle`."""
    return register_model(Path(registry), Path(path), name, labels, task, trust_pickle=trust_pickle)
