"""Putting retrieved passages into a conversation (see :class:`edgefleet.policy.retrieval_options.
RetrievalConfig`): passages written with the passage template, numbered from 1, each cut to
``max_passage_chars`` and all together to ``max_context_chars``; the filled template then replaces
the last user message (placement ``user``) or is added to the system message (``system``).
Pure functions (no I/O)."""

from __future__ import annotations

from collections.abc import Sequence

from edgefleet.generation import ChatMessage
from edgefleet.kserve_retrieval import Passage
from edgefleet.policy.retrieval_options import RetrievalConfig

ELLIPSIS = "…"


def last_user_text(messages: Sequence[ChatMessage]) -> str:
    """The content of the last user message ("" when there is none): the retrieval query."""
    return next((m.content for m in reversed(messages) if m.role == "user"), "")


def shorten(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, at a word boundary when there is one, marked
    with an ellipsis."""
    if len(text) <= limit:
        return text
    cut = text[: max(limit - 1, 1)]
    space = cut.rfind(" ")
    if not text[len(cut)].isspace() and space > limit // 2:  # mid-word: back to the last space
        cut = cut[:space]
    return cut.rstrip() + ELLIPSIS


def format_passages(passages: Sequence[Passage], cfg: RetrievalConfig) -> tuple[str, list[Passage]]:
    """The passages as prompt text (one per line block, numbered from 1) and the passages used, in
    order. Passages that would take the text over ``max_context_chars`` are left out, except the
    first."""
    blocks: list[str] = []
    used: list[Passage] = []
    total = 0
    for p in passages:
        n = len(used) + 1
        text = shorten(p.text, cfg.max_passage_chars)
        block = cfg.passage_template.format(
            n=n, title=p.title, text=text, doc=p.doc, chunk=p.chunk, score=p.score
        )
        if used and total + len(block) > cfg.max_context_chars:
            break
        blocks.append(block)
        used.append(p)
        total += len(block) + 1
    return "\n".join(blocks), used


def augment_messages(
    messages: Sequence[ChatMessage], passages: Sequence[Passage], cfg: RetrievalConfig
) -> tuple[tuple[ChatMessage, ...], list[Passage]]:
    """The conversation with the passages put in (see the module docstring) and the passages used.
    Unchanged when there are no passages."""
    if not passages:
        return tuple(messages), []
    context, used = format_passages(passages, cfg)
    out = list(messages)
    if cfg.placement == "user":
        last = max((i for i, m in enumerate(out) if m.role == "user"), default=None)
        if last is None:
            return tuple(messages), []
        filled = cfg.prompt_template().format(passages=context, question=out[last].content)
        out[last] = ChatMessage("user", filled)
        return tuple(out), used
    question = last_user_text(out)
    filled = cfg.prompt_template().format(passages=context, question=question)
    if out and out[0].role == "system":
        out[0] = ChatMessage("system", f"{out[0].content}\n\n{filled}" if out[0].content else filled)
    else:
        out.insert(0, ChatMessage("system", filled))
    return tuple(out), used
