"""``edgefleet rag index|squad|eval``: retrieval collections from the command line."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console

console = Console()


def _progress() -> object:
    last = [-1]

    def report(stage: str, done: int, total: int) -> None:
        step = int(done * 10 / max(total, 1))
        if step != last[0]:
            last[0] = step
            console.print(f"  {stage}: {done}/{total}")

    return report


def _options(args: argparse.Namespace) -> object:
    from factory.rag_build import CollectionOptions

    return CollectionOptions(
        passage_precision=args.passage_precision.upper(), query_precision=args.query_precision.upper()
    )


def print_collection(result: object) -> None:
    """One line about a collection build."""
    from factory.rag_build import CollectionResult

    assert isinstance(result, CollectionResult)
    if result.skipped:
        console.print(f"{result.name} {result.version}: up to date ({result.chunks} chunks)")
        return
    times = ", ".join(f"{k.removesuffix('_s')} {v:.1f}s" for k, v in result.timings.items())
    console.print(
        f"{result.name} {result.version}: {result.chunks} chunks from {result.documents} documents, "
        f"{result.index} index, {result.bytes_on_disk / 1e6:.1f} MB at {result.folder} ({times})"
    )


def index(args: argparse.Namespace) -> int:
    """Chunk, embed and index FILES as collection NAME in the registry."""
    from factory.errors import DataError
    from factory.rag_build import build_collection
    from factory.rag_chunking import read_documents
    from fleet.errors import ModelLoadError
    from fleet.models.llm_manifest import file_sha256

    try:
        docs = [doc for name in args.files for doc in read_documents(Path(name))]
        sources = {Path(name).name: file_sha256(Path(name)) for name in args.files}
        result = build_collection(
            Path(args.registry),
            args.collection,
            docs,
            options=_options(args),  # type: ignore[arg-type]
            sources=sources,
            progress=_progress(),  # type: ignore[arg-type]
        )
    except (DataError, ModelLoadError, ValueError, OSError) as exc:
        print(f"cannot index: {exc}", file=sys.stderr)
        return 1
    print_collection(result)
    return 0


def squad(args: argparse.Namespace) -> int:
    """Build the ``squad-dev`` collection from SQuAD v1.1 dev's paragraphs."""
    from factory.errors import DataError
    from factory.rag_squad import build_squad_collection

    try:
        result = build_squad_collection(
            Path(args.registry),
            options=_options(args),  # type: ignore[arg-type]
            progress=_progress(),  # type: ignore[arg-type]
        )
    except (DataError, ValueError, OSError) as exc:
        print(f"cannot build squad-dev: {exc}", file=sys.stderr)
        return 1
    print_collection(result)
    return 0


def eval(args: argparse.Namespace) -> int:
    """Recall@1/@5 of a squad-dev collection on SQuAD's tune and report questions, through a
    retriever loaded in this process, or over KServe at ``--address``."""
    from factory.rag_squad import SQUAD_COLLECTION, RetrieveFn, recall_report
    from factory.squad import Split, load_squad_dev
    from fleet.errors import ModelLoadError
    from fleet.models.manifest import load_bundle, resolve_model_dir

    registry = Path(args.registry)
    try:
        bundle = load_bundle(resolve_model_dir(registry, args.collection or SQUAD_COLLECTION, args.version))
    except ModelLoadError as exc:
        print(f"{exc}", file=sys.stderr)
        return 1
    retrieve: RetrieveFn
    if args.address:
        from cli.rag_client import kserve_retrieve

        retrieve = kserve_retrieve(args.address, bundle.name, bundle.version)
    else:
        from fleet.serving.retriever import load_retriever

        model = load_retriever(bundle, precision="f32")

        def retrieve(queries: object, k: int) -> list[list[str]]:
            return [[c.doc for _, c in r.hits] for r in model.retrieve(list(queries), k)]  # type: ignore[call-overload]

    dev = load_squad_dev()
    limit = args.limit
    where = f"over KServe at {args.address}" if args.address else "in process"
    console.print(f"{bundle.name} {bundle.version}, {where}:")
    splits: tuple[Split, ...] = ("tune", "report")
    for split in splits:
        questions = dev.split(split)[:limit] if limit else dev.split(split)
        console.print("  " + recall_report(retrieve, questions, split).line())
    return 0


def fewshot(args: argparse.Namespace) -> int:
    """Choose few-shot examples from SQuAD's tune split and store them beside the collection."""
    from factory.errors import DataError
    from factory.rag_fewshot import build_fewshot, save_fewshot

    try:
        shots = build_fewshot(args.split, args.per_type)
        path = save_fewshot(Path(args.registry), args.collection, shots)
    except (DataError, OSError) as exc:
        print(f"cannot build the few-shot examples: {exc}", file=sys.stderr)
        return 1
    counts = ", ".join(f"{t} {len(v)}" for t, v in shots.examples.items())
    console.print(f"{args.collection} few-shot {shots.version()} ({args.split} split: {counts}) at {path}")
    return 0


def outcomes(args: argparse.Namespace) -> int:
    """Edge and hosted answers to a sample of SQuAD questions through a local router (replicas,
    the replaying stand-in and a router started for the run), with the policy's features."""
    import random

    from bench.rag_harness import RagFleet, RagSetup, collect_outcomes
    from edgefleet.extractive import FewShotError
    from edgefleet.rag_outcomes import write_outcomes
    from factory.errors import DataError
    from factory.squad import load_squad_dev
    from fleet.errors import ModelLoadError

    if args.refeaturize:
        return _refeaturize(args)
    try:
        dev = load_squad_dev()
        setup = RagSetup(Path(args.registry).resolve(), llm=args.llm, collection=args.collection)
        with RagFleet(setup) as fleet:
            shots = {e.id for ex in fleet.fewshot.examples.values() for e in ex}
            questions = [q for q in dev.split(args.split) if q.qid not in shots]
            random.Random(0).shuffle(questions)
            questions = questions[: args.n]
            console.print(f"{len(questions)} {args.split} questions through {fleet.router_address} ...")
            started = time.perf_counter()
            found = collect_outcomes(fleet, questions, args.split, _progress_n())
        n = write_outcomes(Path(args.out), found)
    except (DataError, ModelLoadError, FewShotError, OSError) as exc:
        print(f"cannot collect outcomes: {exc}", file=sys.stderr)
        return 1
    edge_f1 = sum(o.edge.f1 for o in found) / max(len(found), 1)
    hosted_f1 = sum(o.hosted.f1 for o in found if o.hosted) / max(len(found), 1)
    console.print(
        f"{n} outcomes ({args.split} split) in {time.perf_counter() - started:.0f} s: edge F1 {edge_f1:.3f}, "
        f"hosted (replay) F1 {hosted_f1:.3f} -> {args.out}"
    )
    return 0


def _refeaturize(args: argparse.Namespace) -> int:
    """Recompute the features of the outcomes in ``--out`` with a retriever-only fleet."""
    from bench.rag_harness import RagFleet, RagSetup, refeaturize
    from edgefleet.rag_outcomes import read_outcomes, write_outcomes
    from factory.squad import load_squad_dev

    path = Path(args.out)
    found = list(read_outcomes(path))
    gold = {q.qid: q.pid for q in load_squad_dev().questions}
    setup = RagSetup(Path(args.registry).resolve(), llm=args.llm, collection=args.collection)
    with RagFleet(setup, retrieval_only=True) as fleet:
        again = refeaturize(fleet, found, gold)
    write_outcomes(path, again)
    console.print(
        f"{len(again)} outcomes refeaturized ({len(again[0].features) if again else 0} features) -> {path}"
    )
    return 0


def _progress_n() -> Callable[[int, int], None]:
    def report(done: int, total: int) -> None:
        if done % 25 == 0 or done == total:
            console.print(f"  {done}/{total}")

    return report
