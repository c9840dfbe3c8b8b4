"""``edgefleet models build|eval|distill|add|add-llm``: the model factory from the command line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console

console = Console()


def build(args: argparse.Namespace) -> int:
    """Build (or bring up to date) the registry: the hashed models, then the MiniLM factory models."""
    from factory.hashed_models import build_default_models, print_build_summary

    out = Path(args.out)
    paths = build_default_models(out, progress=True)
    print_build_summary(paths, console)
    if args.hashed_only:
        return 0
    from factory.llm_import import build_default_llm

    llm = build_default_llm(out)
    console.print(
        f"{llm.name} {llm.version}: "
        + ("up to date" if llm.skipped else f"added ({llm.weights_mb} MB weights)")
    )
    from factory.pipeline import build_registry

    summary = build_registry(out, quick=args.quick, progress=True)
    console.print(summary)
    from cli.rag_commands import print_collection
    from factory.rag_squad import build_squad_collection

    print_collection(build_squad_collection(out))
    return 0


def eval(args: argparse.Namespace) -> int:
    """Evaluate every model in the registry; write eval.json, eval.md and a PNG plot."""
    from factory.pipeline import evaluate_registry
    from fleet.errors import ModelLoadError

    try:
        report = evaluate_registry(
            Path(args.registry),
            Path(args.out) if args.out else None,
            progress=True,
            bf16=False if args.no_bf16 else None,
        )
    except ModelLoadError as exc:
        console.print(f"[red]{exc}[/]")
        return 1
    console.print(f"report written to {report.out}")
    md = report.out / "eval.md"
    if md.is_file():
        console.print(md.read_text(encoding="utf-8"))
    return 0


def distill(args: argparse.Namespace) -> int:
    """Retrain the students with the router's escalation log; print before/after accuracy."""
    from factory.pipeline import distill_from_log

    log = Path(args.from_log)
    if not log.is_file():
        console.print(f"[red]no escalation log at {log}[/]")
        return 1
    report = distill_from_log(Path(args.registry), log, progress=True, max_drop=args.max_drop)
    console.print(report.markdown())
    return 0


def add(args: argparse.Namespace) -> int:
    """Register a user's model (OpenVINO IR, ONNX, or PyTorch when torch is installed)."""
    from factory.byom import read_labels
    from factory.pipeline import add_model
    from fleet.errors import ModelLoadError

    labels = read_labels(Path(args.labels)) if args.labels else None
    try:
        folder = add_model(Path(args.registry), Path(args.path), args.name, labels, args.task)
    except (ModelLoadError, ValueError, OSError) as exc:
        print(f"cannot add {args.path}: {exc}", file=sys.stderr)
        return 1
    console.print(f"registered {args.name} at {folder}")
    return 0


def add_llm(args: argparse.Namespace) -> int:
    """Register a generative model: a GGUF file (converted once to OpenVINO IR) or an IR folder."""
    from factory.llm_import import register_llm
    from fleet.errors import ModelLoadError

    try:
        result = register_llm(Path(args.registry), Path(args.path), args.name, args.compress)
    except (ModelLoadError, ValueError, OSError) as exc:
        print(f"cannot add {args.path}: {exc}", file=sys.stderr)
        return 1
    times = ", ".join(f"{k.removesuffix('_s')} {v:.1f}s" for k, v in result.timings.items())
    console.print(
        f"registered {result.name} {result.version} at {result.folder}: {result.precision}, "
        f"{result.weights_mb} MB weights, context {result.context_length} tokens ({times})"
    )
    return 0
