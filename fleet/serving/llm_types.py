"""The interface between the LLM engine (:mod:`fleet.serving.llm_engine`, pure Python) and the
pipelines that generate tokens: OpenVINO GenAI in :mod:`fleet.serving.llm_backend`, or a fake in
the unit tests. Nothing here imports OpenVINO.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Protocol

from edgefleet.generation import ChatMessage, SamplingParams


class HandleStatus(IntEnum):
    """Where a request is inside a pipeline (the values of ``openvino_genai.GenerationStatus``)."""

    RUNNING = 0
    FINISHED = 1
    IGNORED = (
        2  # the scheduler dropped it (e.g. the KV cache cannot hold the prompt) or it was cancelled early
    )
    CANCEL = 3
    STOP = 4


@dataclass(frozen=True)
class EncodedPrompt:
    """A templated prompt and its token count; `data` is the pipeline's own form of the ids."""

    text: str
    tokens: int
    data: Any = None


class GenTokenizer(Protocol):
    """Chat template, encoding and decoding of one model."""

    @property
    def eos_token_id(self) -> int:
        """The end-of-sequence token id."""
        ...

    def apply_chat_template(self, messages: Sequence[ChatMessage]) -> str:
        """The prompt for `messages`, ending with the assistant's turn."""
        ...

    def encode(self, text: str) -> EncodedPrompt:
        """Token ids of an already templated prompt (no special tokens added)."""
        ...

    def decode(self, ids: Sequence[int]) -> str:
        """Text of `ids` (special tokens skipped)."""
        ...


class GenHandle(Protocol):
    """One request inside a batching pipeline."""

    def read(self) -> tuple[list[int], list[float]]:
        """Token ids generated since the last read and their log-probabilities (may be empty)."""
        ...

    def status(self) -> HandleStatus:
        """The request's status."""
        ...

    def cancel(self) -> None:
        """Drop the request; its KV cache is freed at the next step."""
        ...

    def stop(self) -> None:
        """Finish the request now (keeps what it generated)."""
        ...


class BatchPipeline(Protocol):
    """A continuous-batching pipeline: requests join and leave between steps. ``add_request`` and
    ``GenHandle.cancel`` may be called from any thread; ``step`` and ``GenHandle.read`` only from
    the engine's step thread."""

    @property
    def tokenizer(self) -> GenTokenizer:
        """The model's tokenizer."""
        ...

    def add_request(self, request_id: int, prompt: EncodedPrompt, params: SamplingParams) -> GenHandle:
        """Queue a request; it is scheduled by the next steps."""
        ...

    def step(self) -> None:
        """One scheduling and inference iteration over every running request."""
        ...

    def has_unfinished(self) -> bool:
        """True while any request is queued or running."""
        ...


class SerialPipeline(Protocol):
    """A pipeline that generates one request at a time (blocking)."""

    @property
    def tokenizer(self) -> GenTokenizer:
        """The model's tokenizer."""
        ...

    def generate(
        self, prompt: EncodedPrompt, params: SamplingParams, on_tokens: Callable[[list[int]], bool]
    ) -> None:
        """Generate for `prompt`, calling `on_tokens(new_ids)` as tokens come; it returns True to
        stop early. No log-probabilities: LLMPipeline offers only their sum."""
        ...
