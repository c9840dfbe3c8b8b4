"""The retrieval part of ``edgefleet demo``: a few SQuAD v1.1 questions (REPORT split) through the
router's retrieval route, each with the answer, the passage it cites, who answered (edge, or the
hosted stand-in's REPLAY of a recorded large-model answer) and why (the route trace: retrieval,
the escalation policy's verdict, the edge model's signals), scored against the references."""

from __future__ import annotations

import random
from dataclasses import dataclass

from rich.console import Console

from client import AsyncEdgeFleetClient, EdgeFleetError, GenerateResult
from edgefleet.qa_metrics import token_f1

QUESTIONS = 4


@dataclass(frozen=True)
class Answered:
    """One question as the demo saw it."""

    question: str
    answer: str
    tier: str
    f1: float
    error: str = ""


def report_questions(n: int = QUESTIONS, seed: int = 7) -> list[tuple[str, tuple[str, ...]]]:
    """`n` SQuAD report-split questions with their reference answers (a fixed sample)."""
    from factory.squad import load_squad_dev

    questions = load_squad_dev().split("report")
    return [(q.text, q.answers) for q in random.Random(seed).sample(questions, n)]


def _why(result: GenerateResult) -> str:
    steps = []
    for t in result.trace:
        if t.target.startswith("retrieve:"):
            steps.append(f"retrieved in {t.ms:.0f} ms")
        elif t.target.startswith("policy:"):
            steps.append(t.reason.split(":")[0] + (" -> hosted" if t.outcome == "escalate" else " -> edge"))
        elif t.outcome in ("escalate", "skip", "error", "timeout"):
            steps.append(f"{t.target} {t.outcome}")
        elif "REPLAY" in t.reason:
            steps.append("hosted REPLAY of a recorded answer")
    return "; ".join(steps)


async def answer_questions(address: str, route: str, console: Console, n: int = QUESTIONS) -> list[Answered]:
    """Ask `n` report questions on `route` and print each answer with its citation, tier and why."""
    out: list[Answered] = []
    async with AsyncEdgeFleetClient(address, generate_timeout_s=120.0) as ef:
        for question, references in report_questions(n):
            console.print(f"[bold]> {question}[/]")
            try:
                result = await ef.generate(question, max_tokens=64, route=route).collect()
            except EdgeFleetError as exc:
                console.print(f"  [red]error: {exc}[/]")
                out.append(Answered(question, "", "", 0.0, error=exc.code.name))
                continue
            f1 = token_f1(result.text, references)
            tier = result.served_by.tier.value.lower()
            cite = result.citations[0] if result.citations else None
            where = (
                f"[{cite.get('index', 0)}] {cite.get('title', '')} ({cite.get('document', '')})"
                if cite
                else "no citation"
            )
            tag = " [yellow]STAND-IN[/]" if result.served_by.stand_in else ""
            console.print(f"  {result.text.strip() or '(empty)'}", highlight=False)
            console.print(
                f"  [dim]cites {where} · {tier}: {result.served_by.model}{tag} · {_why(result)} · "
                f"reference: {references[0]!r}, F1 {f1:.2f} · ${result.cost_usd:.6f}[/]",
                highlight=False,
            )
            out.append(Answered(question, result.text, tier, f1))
    return out
