"""Generation as every part of EdgeFleet sees it: chat messages, sampling settings and the chunks a
generating model produces. Plain, validated dataclasses shared by the edge LLM replicas, the
router, the hosted adapter and the stand-in (no grpc, no OpenVINO).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from edgefleet.ebnf import GrammarError, check_grammar

Role = Literal["system", "user", "assistant"]
ROLES: tuple[Role, ...] = ("system", "user", "assistant")
FinishReason = Literal["stop", "length", "cancelled", "error"]

MAX_STOP_STRINGS = 4  # OpenAI's limit
MAX_STOP_CHARS = 64
MAX_NEW_TOKENS_LIMIT = 4096
MAX_GRAMMAR_CHARS = 65536


class GenerationInputError(ValueError):
    """Messages or sampling settings that cannot be served (the caller's mistake)."""


@dataclass(frozen=True)
class ChatMessage:
    """One turn of a conversation."""

    role: Role
    content: str


@dataclass(frozen=True)
class SamplingParams:
    """How to generate. ``temperature`` 0 means greedy decoding (then ``top_p`` and ``seed`` do
    not matter); ``stop`` strings end the answer and are not part of it. ``grammar`` (EBNF, root
    rule ``root``) constrains decoding to its sentences (structured output; "" = free text);
    ``chat_template`` false sends the messages' text as the raw prompt (joined by blank lines), for
    plain completion prompts such as few-shot examples."""

    max_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    stop: tuple[str, ...] = ()
    seed: int | None = None
    logprobs: bool = True
    grammar: str = ""
    chat_template: bool = True

    @property
    def greedy(self) -> bool:
        """True when decoding is deterministic (temperature 0)."""
        return self.temperature == 0.0


@dataclass(frozen=True)
class GenerationChunk:
    """A piece of a generated answer: new text and the log-probabilities of the tokens that made
    it. The last chunk of an answer has ``final`` set, with the finish reason and token counts."""

    text: str
    logprobs: tuple[float, ...] = ()
    final: bool = False
    finish_reason: FinishReason | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    source: str = ""  # "replay": a recorded answer, not generated (the stand-in's replay)


@dataclass
class GenerationSummary:
    """Accumulates the chunks of one answer (text, token log-probabilities, counts)."""

    text: str = ""
    logprobs: list[float] = field(default_factory=list)
    finish_reason: FinishReason | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    source: str = ""

    def add(self, chunk: GenerationChunk) -> None:
        """Take one chunk into account."""
        self.text += chunk.text
        self.source = chunk.source or self.source
        self.logprobs.extend(chunk.logprobs)
        if chunk.final:
            self.finish_reason = chunk.finish_reason
            self.prompt_tokens = chunk.prompt_tokens
            self.completion_tokens = chunk.completion_tokens or len(self.logprobs)

    def mean_logprob(self) -> float | None:
        """Mean token log-probability of the answer (None without log-probabilities)."""
        return sum(self.logprobs) / len(self.logprobs) if self.logprobs else None

    def confidence(self) -> float:
        """exp(mean token log-probability): the geometric-mean probability of the answer's tokens,
        in [0, 1]; 0 when unknown."""
        mean = self.mean_logprob()
        return 0.0 if mean is None else math.exp(mean)


def check_messages(messages: Sequence[ChatMessage], max_chars: int) -> list[ChatMessage]:
    """Validate a conversation: at least one message, known roles, text within `max_chars` in
    total, the last message from the user. Raises GenerationInputError naming the problem."""
    out = list(messages)
    if not out:
        raise GenerationInputError("messages must not be empty: send at least one user message")
    total = 0
    for i, m in enumerate(out):
        if m.role not in ROLES:
            raise GenerationInputError(f"messages[{i}].role {m.role!r} is unknown; use one of {list(ROLES)}")
        if not isinstance(m.content, str):
            raise GenerationInputError(f"messages[{i}].content must be a string")
        total += len(m.content)
    if total > max_chars:
        raise GenerationInputError(f"messages hold {total} characters; the limit is {max_chars}")
    if out[-1].role != "user":
        raise GenerationInputError(f"the last message must come from the user, not {out[-1].role!r}")
    if not any(m.content.strip() for m in out if m.role == "user"):
        raise GenerationInputError("the user messages are empty")
    return out


def raw_prompt(messages: Sequence[ChatMessage]) -> str:
    """The prompt of a request without the chat template: the messages' text joined by blank lines."""
    return "\n\n".join(m.content for m in messages)


def check_sampling(params: SamplingParams, max_tokens_limit: int = MAX_NEW_TOKENS_LIMIT) -> SamplingParams:
    """Validate sampling settings. Raises GenerationInputError naming the bad field."""
    if not 1 <= params.max_tokens <= max_tokens_limit:
        raise GenerationInputError(
            f"max_tokens must be between 1 and {max_tokens_limit}, got {params.max_tokens}"
        )
    if not (math.isfinite(params.temperature) and 0.0 <= params.temperature <= 2.0):
        raise GenerationInputError(f"temperature must be between 0 and 2, got {params.temperature}")
    if not (math.isfinite(params.top_p) and 0.0 < params.top_p <= 1.0):
        raise GenerationInputError(f"top_p must be in (0, 1], got {params.top_p}")
    if len(params.stop) > MAX_STOP_STRINGS:
        raise GenerationInputError(f"at most {MAX_STOP_STRINGS} stop strings, got {len(params.stop)}")
    for s in params.stop:
        if not s or len(s) > MAX_STOP_CHARS:
            raise GenerationInputError(f"stop strings must have 1 to {MAX_STOP_CHARS} characters, got {s!r}")
    if len(params.grammar) > MAX_GRAMMAR_CHARS:
        raise GenerationInputError(
            f"the grammar has {len(params.grammar)} characters; the limit is {MAX_GRAMMAR_CHARS}"
        )
    if params.grammar:
        try:
            check_grammar(params.grammar)
        except GrammarError as exc:
            raise GenerationInputError(f"grammar: {exc}") from exc
    if params.seed is not None and not 0 <= params.seed < 2**63:
        raise GenerationInputError(f"seed must be a non-negative 64-bit integer, got {params.seed}")
    return params
