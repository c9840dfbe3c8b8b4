"""The hard-example flywheel: retrain the students with the router's escalation log.

The router appends one record per escalated request (schema: :mod:`edgefleet.escalation_log`, the
one both sides use). Classify records whose hosted label the teacher knows become hard examples, labelled
in each student's label space (the router student gets the label's domain; a domain student gets the
intent when it is one of its own, else ``oos`` -- for records routed to that domain or whose label
belongs to it). One record in five (chosen by a stable hash of the text) is held out to measure the
students on the log itself; the CLINC150 test split measures them on the benchmark.

Promotion is gated: each retrained student is written as a new version, but it becomes the latest
(what the controller rolls out) only when it is not worse than the version it would replace on
either held-out set -- the log's held-out records and the CLINC150 test split -- by more than
``max_drop`` (default 0: not worse at all). A refused version stays in the registry, not latest,
and the report says why (:func:`promotion_verdict`).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgefleet import escalation_log
from edgefleet.escalation_log import EscalationRecord
from factory.data import OOS_LABEL, Example
from factory.distill import STUDENT_SUFFIX, map_label
from factory.heads import Head
from fleet.errors import FleetError
from fleet.models.manifest import load_bundle, resolve_model_dir
from fleet.serving.runtime import TextModel


@dataclass
class StudentDelta:
    """Before/after figures of one retrained student."""

    name: str
    before_version: str
    after_version: str
    hard_examples: int
    test_before: float
    test_after: float
    log_before: float | None
    log_after: float | None
    log_heldout: int
    promoted: bool = True
    refused: str = ""  # why the new version was not made latest ("" when promoted)


@dataclass
class DistillReport:
    """What ``edgefleet models distill --from-log`` did."""

    log: Path
    records: int
    usable: int
    skipped: int
    heldout: int
    students: list[StudentDelta] = field(default_factory=list)

    @property
    def refused(self) -> list[StudentDelta]:
        """The students whose new version was written but not made latest."""
        return [s for s in self.students if not s.promoted]

    def markdown(self) -> str:
        """A before/after table, with each new version promoted or refused."""
        header = (
            f"Escalation log {self.log}: {self.records} records, {self.usable} usable, "
            f"{self.skipped} skipped, {self.heldout} held out for evaluation."
        )
        lines = [
            header,
            "",
            "| student | before -> after | hard examples | CLINC test before | after | log before | after "
            "| promoted |",
            "|---|---|---:|---:|---:|---:|---:|---|",
        ]
        for s in self.students:
            lb = "n/a" if s.log_before is None else f"{s.log_before:.3f}"
            la = "n/a" if s.log_after is None else f"{s.log_after:.3f}"
            verdict = "yes (latest)" if s.promoted else f"REFUSED: {s.refused}"
            lines.append(
                f"| {s.name} | {s.before_version} -> {s.after_version} | {s.hard_examples} "
                f"| {s.test_before:.4f} | {s.test_after:.4f} | {lb} | {la} | {verdict} |"
            )
        if self.refused:
            names = ", ".join(f"{s.name} {s.after_version}" for s in self.refused)
            lines += ["", f"Refused (written to the registry, not made latest): {names}."]
        return "\n".join(lines) + "\n"


def read_log(path: Path, known_labels: set[str]) -> tuple[list[EscalationRecord], int, int]:
    """(usable records, total lines with content, skipped) from the router's escalation log
    (schema :mod:`edgefleet.escalation_log`; rotated files included): usable records are classify
    escalations whose hosted label the teacher knows."""
    try:
        records, total = escalation_log.read_log(Path(path))
    except OSError as exc:
        raise FleetError(f"escalation log {path} cannot be read: {exc}") from exc
    usable = [r for r in records if r.task == "classify" and r.hosted.label in known_labels]
    return usable, total, total - len(usable)


def promotion_verdict(delta: StudentDelta, max_drop: float = 0.0) -> str:
    """Why a retrained student must not become the latest version ("" when it may): worse than
    the version it would replace, by more than `max_drop`, on the log's held-out records or on
    the CLINC150 test split."""
    before, after = delta.log_before, delta.log_after
    if before is not None and after is not None and after < before - max_drop:
        return f"worse on the {delta.log_heldout} held-out log records ({before:.3f} -> {after:.3f})"
    if delta.test_after < delta.test_before - max_drop:
        return f"worse on the CLINC150 test split ({delta.test_before:.4f} -> {delta.test_after:.4f})"
    return ""


def is_heldout(text: str) -> bool:
    """Stable 1-in-5 split of log records (crc32 of the text)."""
    return zlib.crc32(text.encode("utf-8")) % 5 == 0


def hard_examples(
    records: list[EscalationRecord], student: str, labels: list[str], clinc: Any
) -> list[Example]:
    """The records that concern ``student``, labelled in its label space."""
    domain = (
        None
        if student.startswith("domain-router")
        else student.removeprefix("clinc-").removesuffix(STUDENT_SUFFIX)
    )
    out = []
    for r in records:
        label = str(r.hosted.label)
        if domain is not None:
            own = label != OOS_LABEL and clinc.domain_of(label) == domain
            if not own and r.domain != domain:
                continue
        out.append((r.text, map_label(label, labels, clinc)))
    return out


def accuracy(model: TextModel, examples: list[Example]) -> float | None:
    """Argmax accuracy of a registry model on ``examples`` (None when empty)."""
    if not examples:
        return None
    correct = 0
    for start in range(0, len(examples), 64):
        chunk = examples[start : start + 64]
        preds = model.predict_labels([t for t, _ in chunk])
        correct += sum(p == g for (p, _), (_, g) in zip(preds, chunk, strict=True))
    return correct / len(examples)


def load_latest(registry: Path, name: str, version: str = "latest") -> TextModel:
    """The latest (or the given) version of ``name`` loaded through the runtime."""
    return TextModel.load(load_bundle(resolve_model_dir(registry, name, version)))


def teacher_head(registry: Path) -> tuple[Head, list[str]]:
    """The generalist head saved by the last build."""
    import numpy as np

    path = Path(registry) / ".cache" / "generalist-head.npz"
    if not path.is_file():
        raise FleetError(f"{path} is missing: run `edgefleet models build` before `models distill`")
    saved = np.load(path)
    return Head(weight=saved["weight"], bias=saved["bias"]), [str(x) for x in saved["labels"]]
