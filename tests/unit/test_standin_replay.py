"""The stand-in's replay of recorded answers (standin.replay, standin.chat): known SQuAD questions
get the recorded answer labelled a replay, whole or streamed; other prompts are generated."""

from __future__ import annotations

import json
from typing import Any

from edgefleet.generation import ChatMessage
from edgefleet.openai_wire import REPLAY_FINGERPRINT
from standin.chat import answer_chat
from standin.handlers import StandInIdentity
from standin.replay import RecordedAnswers

RECORDED = RecordedAnswers(
    {"q1": "Who led the Normans?", "q2": "Where is Normandy?"}, {"q1": "Rollo"}, "test"
)


class Out:
    """A ChatOutput that keeps what was sent."""

    def __init__(self) -> None:
        self.whole: list[tuple[int, dict[str, Any]]] = []
        self.events: list[bytes] = []
        self.replay = ""

    def mark_replay(self, source: str) -> None:
        self.replay = source

    def json(self, status: int, payload: dict[str, Any]) -> None:
        self.whole.append((status, payload))

    def open_stream(self) -> None:
        self.events.append(b"open")

    def event(self, data: bytes) -> bool:
        self.events.append(data)
        return True

    def close_stream(self) -> None:
        self.events.append(b"close")


def _no_llm() -> Any:
    raise AssertionError("a replayed answer must not load the LLM")


def test_known_questions_are_found_as_the_message_or_a_question_line() -> None:
    assert RECORDED.find([ChatMessage("user", "who led the normans")]).answer == "Rollo"  # type: ignore[union-attr]
    prompt = "Answer from the passages.\n\n[1] x\n\nQuestion: Who led the Normans?\nAnswer:"
    hit = RECORDED.find([ChatMessage("system", "s"), ChatMessage("user", prompt)])
    assert hit is not None and (hit.question_id, hit.source) == ("q1", "test")
    assert RECORDED.find([ChatMessage("user", "Where is Normandy?")]) is None  # no recorded answer
    assert RECORDED.find([ChatMessage("user", "Hello")]) is None and len(RECORDED) == 1


def test_a_replayed_answer_is_labelled_whole_and_streamed() -> None:
    identity = StandInIdentity("edgefleet-stand-in", "generalist:1")
    body = {"model": "m", "messages": [{"role": "user", "content": "Who led the Normans?"}]}
    out = Out()
    answer_chat(body, _no_llm, identity, out, replay=RECORDED)
    ((status, payload),) = out.whole
    assert status == 200 and payload["choices"][0]["message"]["content"] == "Rollo"
    assert payload["system_fingerprint"] == REPLAY_FINGERPRINT and out.replay == "test"
    assert payload["edgefleet"]["replay"] == {"source": "test", "question_id": "q1"}
    streamed = Out()
    answer_chat({**body, "stream": True}, _no_llm, identity, streamed, replay=RECORDED)
    data = [json.loads(e.removeprefix(b"data: ").strip()) for e in streamed.events[1:-2]]
    assert (
        data[0]["choices"][0]["delta"]["content"] == "Rollo"
        and data[0]["edgefleet"]["replay"]["question_id"] == "q1"
    )
    assert all(d["system_fingerprint"] == REPLAY_FINGERPRINT for d in data)
    assert streamed.events[-2].strip() == b"data: [DONE]" and streamed.events[-1] == b"close"
