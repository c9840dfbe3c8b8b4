"""Deferred escalations (router.deferred): queued durably while the hosted tier is down, sent once
it is back (oldest first), each answer in the escalation log (``deferred``) and its cost in the
ledger as shadow spend; failures retried later, rows kept across restarts, a full queue refuses."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgefleet.escalation_log import read_log
from edgefleet.generation import GenerationChunk, SamplingParams
from router.accounting import Accounting
from router.deferred import DeferredEscalations
from router.domain import Result, ServedBy, TargetAnswer
from router.errors import TargetError
from router.ledger import Ledger
from tests.unit.router_fakes import FakeHosted, make_policy

POLICY = make_policy().model_copy(
    update={"routes": [r.model_copy(update={"defer_escalations": True}) for r in make_policy().routes]}
)
ROUTE = POLICY.routes[0]
CONFIGS = {h.name: h for h in POLICY.hosted}
EDGE = ServedBy("generalist", "1", "generalist-0", "node-0", "CPU", "edge")


@dataclass
class ChatHosted(FakeHosted):
    """FakeHosted that can also answer a whole chat (router.hosted.HostedClient.chat)."""

    chats: list[Any] = field(default_factory=list)

    async def chat(self, messages: Any, params: SamplingParams, timeout_s: float) -> GenerationChunk:
        self.chats.append((messages, params))
        if self.down:
            raise TargetError("hosted endpoint 'big' failed: connection refused")
        return GenerationChunk(
            "Paris.", final=True, finish_reason="stop", prompt_tokens=20, completion_tokens=2
        )


def _result(text: str = "transfer money") -> Result:
    return Result(
        "transfer", (("transfer", 0.55),), None, 0.55, EDGE, 0.00005, 3.0, (), "banking", "intents",
        degraded=True, degraded_reason="hosted_unavailable",
    )  # fmt: skip


def _queue(tmp_path: Path, hosted: FakeHosted, clock: list[float], **kw: Any) -> DeferredEscalations:
    accounting = Accounting(tmp_path / "esc.jsonl", ledger=Ledger(tmp_path / "ledger.db"))
    return DeferredEscalations(
        tmp_path / "deferred.db", {"big": hosted}, CONFIGS, accounting, clock=lambda: clock[0], **kw
    )


def _defer(queue: DeferredEscalations, text: str = "transfer money") -> bool:
    answer = TargetAnswer("transfer", (), 0.55, None, EDGE, 0.00005, 3.0)
    return queue.defer_classify("r1", ROUTE, text, ["transfer", "oos"], _result(text), [answer])


async def test_queued_while_down_then_sent_and_logged_when_back(tmp_path: Path) -> None:
    hosted, clock = ChatHosted(down=True, circuit_state="open"), [1000.0]
    queue = _queue(tmp_path, hosted, clock)
    assert _defer(queue) and _defer(queue, "transfer to savings")
    assert queue.counts() == (2, 0, 0)
    assert await queue.drain_once() == 0 and not hosted.calls  # circuit open: not even tried
    hosted.down, hosted.circuit_state = False, "closed"
    assert await queue.drain_once() == 2
    assert queue.counts() == (0, 2, 0)
    assert [c[0] for c in hosted.calls] == ["transfer money", "transfer to savings"]  # oldest first
    queue.accounting.close()
    records, _ = read_log(tmp_path / "esc.jsonl")
    assert [r.deferred for r in records] == [True, True]
    assert records[0].hosted.label == "transfer" and records[0].reasons == ["hosted_unavailable"]
    assert records[0].edge[0].model == "generalist" and records[0].edge[0].label == "transfer"
    ledger = Ledger(tmp_path / "ledger.db")
    assert ledger.all_time.shadow_usd > 0 and ledger.all_time.requests == 0  # spend, not an answer
    ledger.close()
    queue.close()


async def test_rows_survive_a_restart(tmp_path: Path) -> None:
    hosted, clock = ChatHosted(down=True, circuit_state="open"), [1000.0]
    queue = _queue(tmp_path, hosted, clock)
    _defer(queue)
    queue.close()
    queue.accounting.close()
    hosted.down, hosted.circuit_state = False, "closed"
    again = _queue(tmp_path, hosted, clock)
    assert again.counts() == (1, 0, 0)
    assert await again.drain_once() == 1 and again.counts() == (0, 1, 0)
    again.close()
    again.accounting.close()


async def test_a_failed_call_is_retried_later_with_backoff(tmp_path: Path) -> None:
    hosted, clock = ChatHosted(down=True), [1000.0]  # circuit closed, but every call fails
    queue = _queue(tmp_path, hosted, clock)
    _defer(queue)
    _defer(queue, "transfer to savings")
    assert await queue.drain_once() == 0
    assert len(hosted.calls) == 1 and queue.failed_calls == 1  # the second row waited behind it
    assert await queue.drain_once() == 0 and len(hosted.calls) == 2  # not due yet: the second row
    hosted.down = False
    assert await queue.drain_once() == 0  # both wait out their backoff (1 s)
    clock[0] += 1.5
    assert await queue.drain_once() == 2 and queue.counts() == (0, 2, 0)
    queue.close()
    queue.accounting.close()


async def test_a_full_queue_refuses_and_counts(tmp_path: Path) -> None:
    queue = _queue(tmp_path, ChatHosted(down=True), [0.0], max_items=1)
    assert _defer(queue) and not _defer(queue)
    assert queue.counts() == (1, 0, 1)
    queue.close()
    queue.accounting.close()


async def test_a_deferred_generation_is_sent_as_a_whole_chat(tmp_path: Path) -> None:
    hosted, clock = ChatHosted(), [0.0]
    queue = _queue(tmp_path, hosted, clock)
    params = {
        "max_tokens": 16,
        "temperature": 0.0,
        "top_p": 1.0,
        "stop": ["\n"],
        "seed": None,
        "logprobs": True,
    }
    drafts = [{"model": "smollm", "text": "Lyon?", "confidence": 0.3, "reason": "low_confidence"}]
    messages = [{"role": "user", "content": "What is the capital of France?"}]
    assert queue.defer_generate("g1", ROUTE, messages, params, "", drafts, "hosted_timeout")
    assert await queue.drain_once() == 1
    (sent_messages, sent_params) = hosted.chats[0]
    assert sent_messages[0].content == "What is the capital of France?" and sent_params.stop == ("\n",)
    queue.accounting.close()
    (record,), _ = read_log(tmp_path / "esc.jsonl")
    assert record.task == "generate" and record.hosted.text == "Paris." and record.deferred
    assert record.text == "What is the capital of France?" and record.edge[0].text == "Lyon?"
    queue.close()
