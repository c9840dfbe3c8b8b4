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

    collection = build_squad_collection(out)
    print_collection(collection)
    from edgefleet.extractive import FewShotError, resolve_fewshot
    from factory.rag_fewshot import build_fewshot, save_fewshot
    from factory.rag_policy import install_shipped_policy

    try:
        resolve_fewshot(out, collection.name)
    except FewShotError:
        written = save_fewshot(out, collection.name, build_fewshot("tune"))
        console.print(f"{collection.name} few-shot examples (tune split): {written}")
    installed = install_shipped_policy(out)
    if installed is not None:
        console.print(f"squad-policy: installed the shipped escalation policy at {installed}")
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
        folder = add_model(
            Path(args.registry), Path(args.path), args.name, labels, args.task, trust_pickle=args.trust_pickle
        )
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


def policy(args: argparse.Namespace) -> int:
    """Train the learned escalation policy of a generate route on TUNE outcomes and register it."""
    from edgefleet.rag_outcomes import read_outcomes
    from factory.rag_policy import train_policy

    try:
        outcomes = list(read_outcomes(Path(args.outcomes)))
        result = train_policy(Path(args.registry), args.name, outcomes, args.good_f1)
    except (OSError, ValueError) as exc:
        print(f"cannot train the policy: {exc}", file=sys.stderr)
        return 1
    print(
        f"{result.name} {result.version}: {result.n} tune questions, {result.good_share:.0%} good "
        f"(F1 >= {args.good_f1}), cross-validated AUC {result.cv_auc:.3f} ({result.setting[0]} embedding "
        f"components, C {result.setting[1]}) at {result.folder}"
    )
    return 0
