"""Passages into the prompt: numbering, cutting, the context budget, user and system placement."""

from __future__ import annotations

from edgefleet.generation import ChatMessage
from edgefleet.kserve_retrieval import Passage
from edgefleet.policy.retrieval_options import RetrievalConfig
from edgefleet.rag_prompt import augment_messages, format_passages, last_user_text, shorten


def _passage(i: int, text: str = "", title: str = "") -> Passage:
    return Passage(f"doc{i}", i, title or f"T{i}", text or f"text {i}", 1.0 - i / 10, 0.5, 0.5)


def test_shorten_cuts_at_a_word_boundary() -> None:
    assert shorten("short", 10) == "short"
    assert shorten("the quick brown fox jumps", 16) == "the quick brown…"
    assert len(shorten("x" * 100, 10)) == 10


def test_passages_are_numbered_and_templated() -> None:
    cfg = RetrievalConfig(
        deployment="r", passage_template="({n}) {title} [{doc}#{chunk} {score:.1f}]: {text}"
    )
    text, used = format_passages([_passage(0), _passage(1)], cfg)
    assert text == "(1) T0 [doc0#0 1.0]: text 0\n(2) T1 [doc1#1 0.9]: text 1"
    assert [p.doc for p in used] == ["doc0", "doc1"]


def test_context_budget_keeps_the_first_passage_and_drops_the_rest() -> None:
    cfg = RetrievalConfig(deployment="r", max_passage_chars=60, max_context_chars=50)
    text, used = format_passages([_passage(0, "a " * 40), _passage(1)], cfg)
    assert len(used) == 1 and text.startswith("[1] T0: a a") and text.endswith("…")


def test_user_placement_replaces_the_last_user_message() -> None:
    cfg = RetrievalConfig(deployment="r", template="P:\n{passages}\nQ: {question}")
    messages = (
        ChatMessage("system", "Be brief."),
        ChatMessage("user", "first"),
        ChatMessage("assistant", "ok"),
        ChatMessage("user", "Who built it?"),
    )
    out, used = augment_messages(messages, [_passage(0)], cfg)
    assert out[:3] == messages[:3] and len(used) == 1
    assert out[3] == ChatMessage("user", "P:\n[1] T0: text 0\nQ: Who built it?")
    assert last_user_text(messages) == "Who built it?"


def test_system_placement_extends_or_adds_the_system_message() -> None:
    cfg = RetrievalConfig(deployment="r", placement="system", template="Context:\n{passages}")
    with_system = (ChatMessage("system", "Be brief."), ChatMessage("user", "q"))
    out, _ = augment_messages(with_system, [_passage(0)], cfg)
    assert out == (ChatMessage("system", "Be brief.\n\nContext:\n[1] T0: text 0"), ChatMessage("user", "q"))
    out, _ = augment_messages((ChatMessage("user", "q"),), [_passage(0)], cfg)
    assert out[0] == ChatMessage("system", "Context:\n[1] T0: text 0") and out[1] == ChatMessage("user", "q")


def test_default_templates_and_no_passages() -> None:
    user = RetrievalConfig(deployment="r")
    out, _ = augment_messages((ChatMessage("user", "q?"),), [_passage(0)], user)
    assert "[1] T0: text 0" in out[0].content and out[0].content.endswith("Question: q?")
    messages = (ChatMessage("user", "q"),)
    assert augment_messages(messages, [], user) == (messages, [])


def test_braces_in_passages_and_questions_are_text() -> None:
    cfg = RetrievalConfig(deployment="r", template="{passages} | {question}")
    out, _ = augment_messages((ChatMessage("user", "what is {x}?"),), [_passage(0, "f(x) = {y}")], cfg)
    assert out[0].content == "[1] T0: f(x) = {y} | what is {x}?"
