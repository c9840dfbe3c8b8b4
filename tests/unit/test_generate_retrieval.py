"""The retrieval step of generate routes (router.generate_retrieval) with FAKE retriever, edge and
hosted generators: passages into the prompt, citations, the trace step, the hosted fallback's
prompt, and every failure falling back to generating without passages."""

from __future__ import annotations

import math

import pytest

from edgefleet.generation import ChatMessage
from router.domain import GenerateFinal, GenerateInput
from router.engine import RouterEngine
from router.errors import TargetError
from tests.unit.generate_fakes import LP_UNSURE, Script, chunks, gen_input
from tests.unit.retrieval_fakes import FakeRetriever, RecordingEdge, rag_engine


async def final_of(engine: RouterEngine, req: GenerateInput) -> GenerateFinal:
    events = [e async for e in engine.generate(req)]
    assert isinstance(events[-1], GenerateFinal)
    return events[-1]


async def test_passages_go_into_the_prompt_and_come_back_as_citations() -> None:
    engine, retriever, edge, _ = rag_engine()
    final = await final_of(engine, gen_input("Who were the Normans?", route="qa"))
    (address, model, queries, top_k, timeout_s) = retriever.calls[0]
    assert (address, model, queries, top_k) == (
        "squad-retriever:0",
        "squad-dev",
        ("Who were the Normans?",),
        3,
    )
    assert 0 < timeout_s <= 0.5
    (sent,) = edge.messages
    assert sent == (
        ChatMessage(
            "user",
            "P:\n[1] Normans: The Normans were in France.\n[2] Normans: Rollo led them.\n"
            "[3] Other: Unrelated text.\nQ: Who were the Normans?",
        ),
    )
    assert [(c.index, c.collection, c.version, c.doc, c.chunk, c.title) for c in final.citations] == [
        (1, "squad-dev", "1-abc", "0-1", 0, "Normans"),
        (2, "squad-dev", "1-abc", "0-2", 0, "Normans"),
        (3, "squad-dev", "1-abc", "3-4", 1, "Other"),
    ]
    assert final.citations[0].score == pytest.approx(1.21)
    step = final.trace[0]
    assert (step.target, step.outcome) == ("retrieve:squad-retriever", "ok")
    assert "3 passages from squad-dev:1-abc, top score 1.210" in step.reason and step.ms >= 0
    assert [(s.target, s.outcome) for s in final.trace[1:]] == [("llm-small", "ok")]
    assert final.cost_usd == pytest.approx(0.00001 + 0.000002)  # the LLM call and the retrieval
    assert final.prompt_tokens > 0


async def test_the_hosted_fallback_gets_the_same_passages() -> None:
    edge = RecordingEdge({"smollm": Script(chunks("Not sure.", LP_UNSURE))})
    engine, _, _, hosted = rag_engine(edge=edge)
    final = await final_of(engine, gen_input("Who were the Normans?", route="qa"))
    assert final.served_by.tier == "hosted" and len(final.citations) == 3
    (hosted_messages, _, _) = hosted.calls[0]
    assert hosted_messages == edge.messages[0] and "[1] Normans" in hosted_messages[-1].content


async def test_send_to_hosted_false_keeps_the_passages_at_the_edge() -> None:
    edge = RecordingEdge({"smollm": Script(chunks("Not sure.", LP_UNSURE))})
    engine, _, _, hosted = rag_engine(edge=edge)
    final = await final_of(engine, gen_input("secret question", domain="private"))
    assert "[1] Normans" in edge.messages[0][-1].content
    assert hosted.calls[0][0] == (ChatMessage("user", "secret question"),)
    assert final.served_by.tier == "hosted" and len(final.citations) == 3  # the passages the edge saw


@pytest.mark.parametrize(
    ("retriever", "outcome", "reason"),
    [
        (
            FakeRetriever(error=TargetError("squad-dev at x failed: UNAVAILABLE: down")),
            "error",
            "UNAVAILABLE: down",
        ),
        (FakeRetriever(delay_s=5.0), "timeout", "timed out"),
        (FakeRetriever(passages=()), "ok", "no passages found"),
    ],
)
async def test_a_failed_retrieval_generates_without_passages(
    retriever: FakeRetriever, outcome: str, reason: str
) -> None:
    engine, _, edge, _ = rag_engine(retriever=retriever)
    final = await final_of(engine, gen_input("Who were the Normans?", route="qa"))
    assert edge.messages == [(ChatMessage("user", "Who were the Normans?"),)]
    assert final.citations == () and final.text == "A fine edge answer."
    step = final.trace[0]
    assert (step.target, step.outcome) == ("retrieve:squad-retriever", outcome)
    assert (reason in step.reason and "generating without passages" in step.reason) or outcome == "ok"


async def test_retrieval_waits_at_most_its_timeout() -> None:
    engine, retriever, _, _ = rag_engine(retriever=FakeRetriever(delay_s=5.0))
    final = await final_of(engine, gen_input("q", route="qa"))
    assert final.trace[0].ms < 1500 and math.isclose(retriever.calls[0][4], 0.5, rel_tol=0.05)


async def test_no_ready_retriever_replica_is_skipped() -> None:
    engine, retriever, edge, _ = rag_engine(retriever_ready=False)
    final = await final_of(engine, gen_input("q", route="qa"))
    assert retriever.calls == [] and edge.messages == [(ChatMessage("user", "q"),)]
    assert (final.trace[0].outcome, final.citations) == ("skip", ())
    assert "no ready replica" in final.trace[0].reason


async def test_a_deployment_of_another_task_is_skipped() -> None:
    engine, retriever, _, _ = rag_engine()
    final = await final_of(engine, gen_input("q", domain="wrong"))
    assert retriever.calls == [] and final.trace[0].outcome == "skip"
    assert "serves task 'classify', not 'retrieve'" in final.trace[0].reason


async def test_routes_without_retrieval_do_not_retrieve() -> None:
    from tests.unit.generate_fakes import gen_engine

    engine, _, _ = gen_engine()
    final = await final_of(engine, gen_input())
    assert final.citations == () and not final.trace[0].target.startswith("retrieve:")
