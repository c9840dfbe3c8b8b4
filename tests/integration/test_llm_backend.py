"""fleet.serving.llm_backend against the real SmolLM2 files: the tokenizer wrapper, incremental
detokenization of multi-byte text, generation settings, per-request seeds."""

from __future__ import annotations

from typing import Any

import pytest

from edgefleet.generation import ChatMessage, SamplingParams
from fleet.serving.llm_backend import generation_config
from fleet.serving.llm_text import IncrementalDecoder

pytestmark = pytest.mark.integration
TEXT = "Héllo wörld — café 日本語 🙂 spaces   and\nnew lines. " * 4


def test_incremental_decoding_matches_whole_decoding(llm_model: Any) -> None:
    tok = llm_model.engine.tokenizer
    ids = [int(i) for i in tok.encode(TEXT).data.data[0]]
    decoder = IncrementalDecoder(tok.decode)
    streamed = "".join(decoder.push([i]) for i in ids) + decoder.flush()
    assert streamed == tok.decode(ids) == TEXT


def test_chat_template_and_token_count(llm_model: Any) -> None:
    tok = llm_model.engine.tokenizer
    prompt = tok.apply_chat_template([ChatMessage("system", "Be brief."), ChatMessage("user", "Hi")])
    assert prompt.startswith("<|im_start|>system\nBe brief.") and prompt.endswith("<|im_start|>assistant\n")
    assert tok.encode(prompt).tokens == len(tok.encode(prompt).data.data[0]) > 5
    assert tok.eos_token_id == 2


def test_generation_config() -> None:
    greedy = generation_config(SamplingParams(max_tokens=5, stop=("\n",)), 2)
    assert greedy.max_new_tokens == 5 and not greedy.do_sample and greedy.logprobs == 1
    assert greedy.stop_strings == {"\n"} and greedy.include_stop_str_in_output
    sampled = generation_config(SamplingParams(temperature=0.7, top_p=0.9, seed=7, logprobs=False), 2)
    assert sampled.do_sample and sampled.rng_seed == 7 and sampled.logprobs == 0
    assert abs(sampled.temperature - 0.7) < 1e-6 and abs(sampled.top_p - 0.9) < 1e-6
    seeds = {generation_config(SamplingParams(temperature=1.0), 2).rng_seed for _ in range(5)}
    assert len(seeds) > 1  # no seed given: a fresh one per request


def test_same_seed_same_answer(llm_model: Any) -> None:
    ask = [ChatMessage("user", "Invent a name for a cat.")]
    params = SamplingParams(max_tokens=8, temperature=1.0, seed=11)
    first = llm_model.engine.generate(ask, params, timeout_s=60).text
    assert llm_model.engine.generate(ask, params, timeout_s=60).text == first


def test_a_grammar_constrains_the_answer_to_the_passage_spans(llm_model: Any) -> None:
    """Extractive answering: a raw few-shot prompt (no chat template) and a span grammar, in the
    continuous-batching pipeline; a bad grammar is refused at admission, before the pipeline."""
    from edgefleet.extractive import Example, FewShot, clean_answer, plan
    from edgefleet.generation import GenerationInputError

    shots = FewShot(
        {"place": (Example("Paris is the capital of France.", "Where is the capital?", "Paris"),)}
    )
    passage = "The Normans gave their name to Normandy, a region in France."
    chosen = plan(shots, [passage], "In what country is Normandy located?")
    params = SamplingParams(max_tokens=16, grammar=chosen.grammar, chat_template=False, stop=("\n",))
    summary = llm_model.engine.generate([ChatMessage("user", chosen.prompt)], params, timeout_s=60)
    answer = clean_answer(summary.text)
    assert answer and answer in passage and len(summary.logprobs) >= 1
    with pytest.raises(GenerationInputError, match="grammar"):
        llm_model.engine.generate(
            [ChatMessage("user", "x")], SamplingParams(grammar='root ::= ("a" | '), timeout_s=5
        )
    after = llm_model.engine.generate([ChatMessage("user", chosen.prompt)], params, timeout_s=60)
    assert clean_answer(after.text) == answer  # the pipeline is unharmed and greedy decoding repeats
