"""What a factory build is asked to do (:class:`BuildConfig`) and what it did (:class:`BuildSummary`)."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

from factory import artifacts as art
from factory.data import Clinc150, Splits, banking77_splits, load_clinc150, per_label
from factory.quantize import QuantizeOptions


@dataclass(frozen=True)
class BuildConfig:
    """What to build and on how much data (``quick`` = small slices, for smoke tests)."""

    quick: bool = False
    per_intent: int | None = None  # CLINC/Banking77 training examples per label (None: all)
    val_per_intent: int | None = None
    domains: tuple[str, ...] | None = None  # specialists/students to build (None: all 10)
    banking77: bool = True
    students: bool = True
    pruning: bool = True
    pruning_sparsities: tuple[float, ...] = (0.0, 0.5, 0.7, 0.8, 0.9, 0.95)
    int8_weights: bool = True  # also build the INT8-weights-only encoder (nncf.compress_weights)
    calibration_size: int = 300
    quantize: QuantizeOptions = field(default_factory=QuantizeOptions)

    @classmethod
    def quick_config(cls) -> BuildConfig:
        """Small slices: 10 train / 3 val texts per label, 32 calibration texts."""
        return cls(quick=True, per_intent=10, val_per_intent=3, calibration_size=32)


@dataclass
class BuildSummary:
    """What a build did: versions written and skipped (``name:version``), timings and notes."""

    registry: Path
    built: list[str] = field(default_factory=list)
    cached: list[str] = field(default_factory=list)
    seconds: float = 0.0
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def load_data(cfg: BuildConfig) -> tuple[Clinc150, Splits | None]:
    """CLINC150 (and Banking77) sliced as ``cfg`` says."""
    clinc = load_clinc150()
    clinc = dataclasses.replace(
        clinc,
        train=per_label(clinc.train, cfg.per_intent),
        val=per_label(clinc.val, cfg.val_per_intent),
        oos_train=clinc.oos_train[: (cfg.per_intent or 100) * 3],
        oos_val=clinc.oos_val[: (cfg.val_per_intent or 100) * 3],
    )
    banking = None
    if cfg.banking77:
        b = banking77_splits()
        banking = Splits(
            per_label(b.train, cfg.per_intent),
            per_label(b.val, cfg.val_per_intent),
            per_label(b.test, cfg.val_per_intent),
        )
    return clinc, banking


def save_config(registry: Path, cfg: BuildConfig) -> None:
    """Remember the build configuration (``models distill`` rebuilds the same datasets)."""
    path = art.cache_dir(registry) / "build-config.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(dataclasses.asdict(cfg)), encoding="utf-8")


def load_config(registry: Path) -> BuildConfig:
    """The configuration of the registry's last build (defaults when unknown)."""
    path = art.cache_dir(registry) / "build-config.json"
    if not path.is_file():
        return BuildConfig()
    raw = json.loads(path.read_text(encoding="utf-8"))
    raw["quantize"] = QuantizeOptions(**raw.get("quantize", {}))
    raw["domains"] = tuple(raw["domains"]) if raw.get("domains") else None
    return BuildConfig(**raw)
