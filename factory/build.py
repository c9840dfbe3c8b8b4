"""``edgefleet models build`` for the MiniLM family and the distilled students.

Steps: convert all-MiniLM-L6-v2 to an OpenVINO graph (FP32), check it against the numpy reference,
embed the CLINC150/Banking77 training texts once (cached by content hash), quantise the encoder to
INT8 with NNCF, train a logistic-regression head per model and fold it into the IR, distil hashed
students from the generalist, and write every version with its manifest into the registry. Versions
whose build hash and files are unchanged are skipped.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import numpy as np

from factory import artifacts as art
from factory.build_config import BuildConfig, BuildSummary, load_data, save_config
from factory.data import (
    OOS_LABEL,
    Example,
    data_sha256,
)
from factory.encoder import EmbeddingCache, EncoderRunner, minilm_source_dir, tokenizer_json_bytes
from factory.heads import (
    Head,
    HeadTask,
    banking77_task,
    domain_task,
    generalist_task,
    oos_threshold,
    specialist_task,
    train_head,
)
from factory.minilm_graph import attach_head, build_encoder_model, load_weights, reference_embed
from factory.progress import Steps
from factory.quantize import quantize_model
from factory.students import StudentBuilder
from fleet.models.registry import write_latest

GRAPH_VERSION = "minilm-graph-1"  # bump when minilm_graph.py changes the math
RECIPE_VERSION = "recipe-3"  # bump when heads/students/quantisation recipes change


class FactoryBuild:
    """One run of the factory into ``registry`` (see module docstring)."""

    def __init__(self, registry: Path, cfg: BuildConfig, steps: Steps) -> None:
        self.registry = Path(registry)
        self.cfg = cfg
        self.steps = steps
        self.summary = BuildSummary(registry=self.registry)
        self.source = minilm_source_dir()
        self.tokenizer_json = tokenizer_json_bytes(self.source)
        self.source_sha = art.file_sha256(self.source / "model.safetensors")
        self.clinc, self.banking = load_data(cfg)
        self.domains = list(cfg.domains or self.clinc.domain_names)
        self.data_sha = data_sha256(
            ["clinc150/data_full.json", "clinc150/domains.json", "banking77/train.csv"]
        )
        self.base_key = art.content_key(
            art.FACTORY_GENERATION,
            GRAPH_VERSION,
            RECIPE_VERSION,
            self.source_sha,
            self.data_sha,
            dataclasses.asdict(cfg),
        )
        self.embed_key = art.content_key(GRAPH_VERSION, self.source_sha, "fp32")
        self._fp32: Any = None
        self._runner: EncoderRunner | None = None
        self._int8: Any = None
        self._int8_weights: Any = None
        self._fp32_emb: dict[str, np.ndarray] = {}
        self._checked: dict[str, bool] = {}
        self.heads: dict[str, Head] = {}
        self.cosine_vs_reference = float("nan")

    # ------------------------------------------------------------------ plan
    def tasks(self) -> list[HeadTask]:
        """Every head-based model's task."""
        tasks = [generalist_task(self.clinc), domain_task(self.clinc)]
        tasks += [specialist_task(self.clinc, d) for d in self.domains]
        if self.banking is not None:
            tasks.append(banking77_task(self.banking))
        return tasks

    @staticmethod
    def variants(task_name: str) -> list[tuple[str, str, bool]]:
        """(version, precision, set_latest) built for a task."""
        if task_name == "generalist":
            return [(art.VERSION_FP32, "FP32", True), (art.VERSION_INT8, "INT8", False)]
        if task_name == "domain-router":
            return [(art.VERSION_INT8, "INT8", True), (art.VERSION_FP32, "FP32", False)]
        return [(art.VERSION_INT8, "INT8", True)]

    def key(self, name: str, version: str) -> str:
        """Build hash of one model version."""
        return art.content_key(self.base_key, name, version)

    def is_current(self, name: str, version: str) -> bool:
        """True when the registry holds this version built from the same inputs."""
        label = f"{name}:{version}"
        if label not in self._checked:
            self._checked[label] = art.is_current(self.registry, name, version, self.key(name, version))
            if self._checked[label]:
                self.summary.cached.append(label)
        return self._checked[label]

    # ------------------------------------------------------------------ encoder pieces
    def fp32(self) -> Any:
        """The FP32 encoder graph (built on first use)."""
        if self._fp32 is None:
            weights, bert = load_weights(self.source)
            self._fp32 = build_encoder_model(weights, bert)
            runner = self.runner()
            probe = ["what is my account balance", "book me a table for two at an italian place tonight"]
            feed = runner.featurize(probe)
            ref = reference_embed(weights, bert, feed["input_ids"], feed["attention_mask"])
            got = runner.embed(probe)
            self.cosine_vs_reference = float((ref * got).sum(axis=1).min())
        return self._fp32

    def runner(self) -> EncoderRunner:
        """Batch runner of the FP32 encoder."""
        if self._runner is None:
            self._runner = EncoderRunner(self.fp32(), self.tokenizer_json)
        return self._runner

    def embed_fp32(self, texts: list[str], what: str) -> np.ndarray:
        """FP32 embeddings of ``texts`` through the content-hash cache."""
        cache = EmbeddingCache(art.cache_dir(self.registry) / "embeddings", self.embed_key)
        with self.steps.step(f"embedding {what} (MiniLM FP32)", total=len(texts)) as advance:
            vectors, hit = cache.get_or_compute(texts, lambda t: self.runner().embed(t, progress=advance))
        if hit:
            self.steps.note(f"embeddings of {len(texts)} {what} texts: cache hit")
        for text, vec in zip(texts, vectors, strict=True):
            self._fp32_emb[text] = vec
        return vectors

    def int8(self) -> Any:
        """The NNCF-quantised encoder (static INT8), calibrated on a CLINC150 train sample."""
        if self._int8 is None:
            rng = np.random.default_rng(0)
            pool = [t for t, _ in self.clinc.train]
            calib = [
                pool[i]
                for i in rng.choice(len(pool), min(self.cfg.calibration_size, len(pool)), replace=False)
            ]
            with self.steps.step(f"quantising MiniLM to INT8 (nncf, {len(calib)} calibration texts)"):
                self._int8 = quantize_model(self.fp32(), calib, self.runner().featurize, self.cfg.quantize)
        return self._int8

    def int8_weights(self) -> Any:
        """The encoder with INT8 weights only (``nncf.compress_weights``), for comparison."""
        if self._int8_weights is None:
            import nncf

            with self.steps.step("compressing MiniLM weights to INT8 (nncf.compress_weights)"):
                self._int8_weights = nncf.compress_weights(
                    self.fp32().clone(), mode=nncf.CompressWeightsMode.INT8_ASYM
                )
        return self._int8_weights

    def encoder_for(self, precision: str) -> Any:
        """Encoder graph of a precision."""
        return self.fp32() if precision == "FP32" else self.int8()

    def embeddings(self, examples: list[Example]) -> np.ndarray:
        """Cached FP32 embeddings of ``examples``' texts."""
        return (
            np.stack([self._fp32_emb[t] for t, _ in examples]) if examples else np.zeros((0, art.EMBED_DIM))
        )

    # ------------------------------------------------------------------ run
    def run(self) -> BuildSummary:
        """Build everything that is not current."""
        start = time.perf_counter()
        tasks = self.tasks()
        todo = [t for t in tasks if not all(self.is_current(t.name, v) for v, _, _ in self.variants(t.name))]
        encoder_versions = [(art.VERSION_FP32, "FP32"), (art.VERSION_INT8, "INT8")]
        if self.cfg.int8_weights:
            encoder_versions.append((art.VERSION_INT8_WEIGHTS, "INT8-W"))
        encoders_todo = [(v, p) for v, p in encoder_versions if not self.is_current(art.ENCODER_NAME, v)]
        students = StudentBuilder(self) if self.cfg.students else None
        students_todo = students.pending() if students is not None else []
        if todo or encoders_todo or students_todo:
            self.prepare_embeddings()
            self._write_encoders(encoders_todo)
            generalist_head = self._heads(tasks, todo)
            if students is not None and students_todo:
                students.build_all(students_todo, generalist_head)
        if students is not None and self.cfg.pruning and (todo or students_todo):
            students.pruning_report()
        self._point_latest(tasks, students)
        save_config(self.registry, self.cfg)
        self.summary.seconds = round(time.perf_counter() - start, 1)
        self.summary.notes = list(self.steps.log)
        return self.summary

    def _point_latest(self, tasks: list[HeadTask], students: Any) -> None:
        """Re-point ``latest`` at this factory's versions (another build may have moved it)."""
        write_latest(self.registry, art.ENCODER_NAME, art.VERSION_FP32)
        for task in tasks:
            for version, _, latest in self.variants(task.name):
                if latest:
                    write_latest(self.registry, task.name, version)
        for name in students.names if students is not None else []:
            if not (self.registry / name / "latest").is_file():
                write_latest(self.registry, name, art.STUDENT_VERSION)

    def prepare_embeddings(self) -> None:
        """Embed (or read from the cache) every training/validation text of every task."""
        texts = sorted({t for task in self.tasks() for t, _ in task.train + task.val})
        self.embed_fp32(texts, "training/validation")

    def _write_encoders(self, todo: list[tuple[str, str]]) -> None:
        for version, precision in todo:
            model = {"FP32": self.fp32, "INT8": self.int8, "INT8-W": self.int8_weights}[precision]()
            metrics = {"cosine_vs_numpy_reference": self.cosine_vs_reference} if precision == "FP32" else {}
            art.write_encoder_model(
                self.registry,
                name=art.ENCODER_NAME,
                version=version,
                model=model,
                labels=[],
                precision=precision,
                tokenizer_json=self.tokenizer_json,
                data_sha256=None,
                metrics=metrics,
                key=self.key(art.ENCODER_NAME, version),
                set_latest=precision == "FP32",
            )
            self.summary.built.append(f"{art.ENCODER_NAME}:{version}")

    def _heads(self, tasks: list[HeadTask], todo: list[HeadTask]) -> Head:
        generalist_head: Head | None = None
        with self.steps.step("training heads and writing MiniLM models", total=len(todo)) as advance:
            for task in tasks:
                if task.name != "generalist" and task not in todo:
                    continue
                if task.name == "domain-router":
                    self._write_head_models(task, self.heads["generalist"], self.router_projection())
                    advance(1)
                    continue
                head = train_head(
                    self.embeddings(task.train),
                    task.indices(task.train),
                    len(task.labels),
                    balanced=task.balanced,
                )
                self.heads[task.name] = head
                if task.name == "generalist":
                    generalist_head = head
                    np.savez(
                        art.cache_dir(self.registry) / "generalist-head.npz",
                        weight=head.weight,
                        bias=head.bias,
                        labels=np.array(task.labels),
                    )
                if task in todo:
                    self._write_head_models(task, head)
                    advance(1)
        assert generalist_head is not None
        return generalist_head

    def router_projection(self) -> np.ndarray:
        """[151, 11] matrix summing the generalist's intents into domains (+ oos)."""
        from factory.distill import router_projection

        return router_projection(self.tasks()[0].labels, self.clinc)[1]

    def _write_head_models(self, task: HeadTask, head: Head, projection: np.ndarray | None = None) -> None:
        val_x, val_y = self.embeddings(task.val), task.indices(task.val)
        probs = head.probs(val_x) if projection is None else head.probs(val_x) @ projection
        metrics: dict[str, float] = {"val_accuracy_fp32": float((probs.argmax(1) == val_y).mean())}
        if OOS_LABEL in task.labels:
            is_oos = val_y == task.labels.index(OOS_LABEL)
            metrics["oos_threshold"] = oos_threshold(probs.max(axis=1), is_oos)
        for version, precision, latest in self.variants(task.name):
            if self.is_current(task.name, version):
                continue
            model = attach_head(self.encoder_for(precision), head.weight, head.bias, task.name, projection)
            art.write_encoder_model(
                self.registry,
                name=task.name,
                version=version,
                model=model,
                labels=task.labels,
                precision=precision,
                tokenizer_json=self.tokenizer_json,
                data_sha256=self.data_sha,
                metrics=metrics,
                key=self.key(task.name, version),
                set_latest=latest,
            )
            self.summary.built.append(f"{task.name}:{version}")
            self.summary.metrics[f"{task.name}:{version}"] = metrics
