"""Extractive answering on a generate route (router.generate_extractive) with FAKE replicas: the
edge gets a raw few-shot prompt over the best sentence with its span grammar, the hosted fallback
the template, the answer comes back without its newline, and a missing few-shot file turns
extractive answering off (noted in the trace) instead of failing."""

from __future__ import annotations

from pathlib import Path

from edgefleet.ebnf import check_grammar
from edgefleet.generation import ChatMessage, SamplingParams
from edgefleet.kserve_retrieval import Retrieved
from edgefleet.policy.loader import parse_policy
from router.domain import GenerateFinal
from router.generate_extractive import FewShotSource, extractive_request
from tests.unit.generate_fakes import Script, chunks, gen_input
from tests.unit.qa_fakes import SHOTS, qa_engine, qa_policy_text
from tests.unit.retrieval_fakes import PASSAGES, RecordingEdge


async def test_the_edge_gets_the_few_shot_prompt_and_the_span_grammar(tmp_path: Path) -> None:
    edge = RecordingEdge({"smollm": Script(chunks("Rollo\n", -0.2))})
    engine, edge, hosted, _ = qa_engine(tmp_path, edge=edge)
    events = [e async for e in engine.generate(gen_input("Who were the Normans?", route="qa"))]
    final = events[-1]
    assert isinstance(final, GenerateFinal) and final.text == "Rollo" and final.served_by.tier == "edge"
    ((prompt,),) = edge.messages
    assert prompt.role == "user" and prompt.content.startswith(
        "Passage: Rollo led them.\nQuestion: Who led them?"
    )
    assert prompt.content.endswith(
        "Passage: The Normans were in France.\nQuestion: Who were the Normans?\nAnswer:"
    )
    (_, _, params, _) = edge.calls[0]
    assert not params.chat_template and params.stop == ("\n",) and params.temperature == 0.0
    assert params.max_tokens == 32 and check_grammar(params.grammar)[0] == "root"
    retrieve = final.trace[0]
    assert (
        "extractive: person question, sentence from [1]" in retrieve.reason
        and "1 examples" in retrieve.reason
    )
    edge_step = next(s for s in final.trace if s.target == "llm-small")
    assert "grounded 1.00" in edge_step.reason and "min lp -0.20" in edge_step.reason
    assert hosted.calls == []


async def test_a_missing_fewshot_file_turns_extractive_answering_off(tmp_path: Path) -> None:
    engine, edge, _, _ = qa_engine(tmp_path)
    (tmp_path / "fewshot.json").unlink()
    final = [e async for e in engine.generate(gen_input("Who were the Normans?", route="qa"))][-1]
    assert "extractive answering off" in final.trace[0].reason
    ((prompt,),) = edge.messages
    assert prompt.content.startswith("[1] Normans: The Normans were in France.")
    assert edge.calls[0][2].grammar == "" and edge.calls[0][2].chat_template


def test_fewshot_source_reads_a_file_once_per_version_and_the_collection_sidecar(tmp_path: Path) -> None:
    cfg = parse_policy(qa_policy_text(tmp_path)).routes[0].retrieval
    assert cfg is not None
    source = FewShotSource(None)
    first = source.get(cfg, "squad-dev")
    assert first is not None and first.version() == SHOTS.version() and source.get(cfg, "squad-dev") is first
    assert FewShotSource(None).get(cfg.model_copy(update={"fewshot": "none"}), "x") is None
    relative = FewShotSource(None, base_dir=tmp_path).path(
        cfg.model_copy(update={"fewshot": "fewshot.json"}), "x"
    )
    assert relative == tmp_path / "fewshot.json"
    sidecar = tmp_path / "reg" / "squad-dev" / "fewshot"
    sidecar.mkdir(parents=True)
    (sidecar / f"{SHOTS.version()}.json").write_text(SHOTS.to_json())
    (sidecar / "latest").write_text(SHOTS.version())
    found = FewShotSource(tmp_path / "reg").get(cfg.model_copy(update={"fewshot": "collection"}), "squad-dev")
    assert found is not None and found.examples["person"] == SHOTS.examples["person"]


def test_extractive_request_caps_the_answer_and_keeps_other_settings(tmp_path: Path) -> None:
    cfg = parse_policy(qa_policy_text(tmp_path)).routes[0].retrieval
    assert cfg is not None and cfg.passage_weight == 8.0
    found = Retrieved(PASSAGES, (0.1,), "squad-dev", "1")
    flat = cfg.model_copy(update={"passage_weight": 0.0})
    params = SamplingParams(max_tokens=8, seed=3)
    messages, sent, chosen = extractive_request(flat, SHOTS, found, "Who led?", params)
    assert messages == (ChatMessage("user", chosen.prompt),) and sent.max_tokens == 8 and sent.seed == 3
    assert chosen.context == "Rollo led them."  # the only sentence with a question word
    _, _, weighted = extractive_request(cfg, SHOTS, found, "Who led?", params)
    assert weighted.context == "The Normans were in France."  # the best-retrieved passage wins
