"""The one OpenVINO GenAI interface of EdgeFleet: pipelines for the LLM engine, and GGUF -> IR.

:func:`open_pipeline` loads a registry folder as a ``ContinuousBatchingPipeline`` (the default)
or an ``LLMPipeline`` (``llm.continuous_batching: false``) on the first preferred device GenAI
can use (CPU fallback, with the reason), wrapped to the protocols of
:mod:`fleet.serving.llm_types`. :func:`gguf_to_ir` converts a GGUF file once into an IR folder.
Facts this relies on (openvino-genai 2026.4.1): ``add_request`` never applies the chat template
(the engine does); a fresh GenerationConfig has no EOS id; ``temperature``/``top_p`` need
``do_sample``; ``rng_seed`` defaults to 0; ``read()`` raises after ``cancel()``/``stop()``; both pipelines honour
``structured_output_config`` (an EBNF grammar), the batching one per request.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import openvino_genai as ov_genai

from edgefleet.generation import ChatMessage, SamplingParams
from edgefleet.policy.llm_options import LLMOptions
from fleet.errors import ModelLoadError
from fleet.models.llm_manifest import LLMSpec
from fleet.serving.llm_types import EncodedPrompt, HandleStatus
from fleet.serving.runtime import _pick_device, shared_core

_RUNNING = ov_genai.StreamingStatus.RUNNING
_STOP = ov_genai.StreamingStatus.STOP


class OVTokenizer:
    """``openvino_genai.Tokenizer`` as a :class:`fleet.serving.llm_types.GenTokenizer`."""

    def __init__(self, tokenizer: Any, chat_template: str = "") -> None:
        self._tok = tokenizer
        self._template = chat_template
        self._eos = int(tokenizer.get_eos_token_id())

    @property
    def eos_token_id(self) -> int:
        """The end-of-sequence token id."""
        return self._eos

    def apply_chat_template(self, messages: Sequence[ChatMessage]) -> str:
        """The prompt for `messages` with the manifest's template (the model's own when empty)."""
        history = [{"role": m.role, "content": m.content} for m in messages]
        return str(
            self._tok.apply_chat_template(history, add_generation_prompt=True, chat_template=self._template)
        )

    def encode(self, text: str) -> EncodedPrompt:
        """Ids of a templated prompt (no special tokens added: the template has them)."""
        ids = self._tok.encode(text, add_special_tokens=False).input_ids
        return EncodedPrompt(text=text, tokens=int(ids.shape[1]), data=ids)

    def decode(self, ids: Sequence[int]) -> str:
        """Text of `ids`, special tokens skipped."""
        return str(self._tok.decode(list(ids), skip_special_tokens=True))


def generation_config(params: SamplingParams, eos_token_id: int) -> Any:
    """A GenerationConfig for `params` (greedy at temperature 0; a random seed unless given)."""
    cfg = ov_genai.GenerationConfig()
    cfg.max_new_tokens = params.max_tokens
    cfg.set_eos_token_id(eos_token_id)
    cfg.logprobs = 1 if params.logprobs else 0
    cfg.apply_chat_template = False
    if not params.greedy:
        cfg.do_sample = True
        cfg.temperature = params.temperature
        cfg.top_p = params.top_p
        cfg.rng_seed = params.seed if params.seed is not None else secrets.randbits(31)
    if params.grammar:  # structured output: decoding constrained to the grammar's sentences
        cfg.structured_output_config = ov_genai.StructuredOutputConfig(grammar=params.grammar)
    if params.stop:  # GenAI stops early; the engine trims the text (so the stop string stays visible to it)
        cfg.stop_strings = set(params.stop)
        cfg.include_stop_str_in_output = True
    return cfg


class OVHandle:
    """``openvino_genai.GenerationHandle`` as a :class:`fleet.serving.llm_types.GenHandle`."""

    def __init__(self, handle: Any) -> None:
        self._h = handle

    def read(self) -> tuple[list[int], list[float]]:
        """New ids and log-probabilities since the last read."""
        ids: list[int] = []
        logprobs: list[float] = []
        try:
            while self._h.can_read():
                for out in self._h.read().values():
                    ids.extend(out.generated_ids)
                    logprobs.extend(out.generated_log_probs)
        except RuntimeError:  # raised once the handle is stopped or cancelled
            pass
        return ids, logprobs

    def status(self) -> HandleStatus:
        """The GenerationStatus as a HandleStatus."""
        return HandleStatus(int(self._h.get_status()))

    def cancel(self) -> None:
        """Drop the request (KV freed at the next step)."""
        self._h.cancel()

    def stop(self) -> None:
        """Finish the request now."""
        self._h.stop()


class OVBatchPipeline:
    """A ContinuousBatchingPipeline (see :class:`fleet.serving.llm_types.BatchPipeline`)."""

    def __init__(self, folder: Path, device: str, options: LLMOptions, chat_template: str) -> None:
        sched = ov_genai.SchedulerConfig()
        sched.max_num_seqs = options.max_batch
        sched.max_num_batched_tokens = options.max_batched_tokens
        sched.enable_prefix_caching = options.prefix_caching
        if options.kv_cache_blocks:
            sched.num_kv_blocks = options.kv_cache_blocks
        self._pipe = ov_genai.ContinuousBatchingPipeline(str(folder), sched, device, {})
        self.tokenizer = OVTokenizer(self._pipe.get_tokenizer(), chat_template)

    def add_request(self, request_id: int, prompt: EncodedPrompt, params: SamplingParams) -> OVHandle:
        """Queue a request (thread-safe)."""
        cfg = generation_config(params, self.tokenizer.eos_token_id)
        return OVHandle(self._pipe.add_request(request_id, prompt.data, cfg))

    def step(self) -> None:
        """One iteration over all running requests (holds the GIL)."""
        self._pipe.step()

    def has_unfinished(self) -> bool:
        """True while a request is queued or running."""
        return bool(self._pipe.has_non_finished_requests())

    def metrics(self) -> dict[str, float]:
        """KV-cache usage and scheduled requests."""
        m = self._pipe.get_metrics()
        return {
            "kv_cache_usage": float(m.cache_usage),
            "kv_cache_bytes": float(m.kv_cache_size_in_bytes),
            "scheduled": float(m.scheduled_requests),
        }


class _Streamer(ov_genai.StreamerBase):
    def __init__(self, on_tokens: Callable[[list[int]], bool]) -> None:
        super().__init__()
        self._on_tokens = on_tokens

    def write(self, token: int | list[int]) -> Any:
        ids = list(token) if isinstance(token, list) else [int(token)]
        return _STOP if self._on_tokens(ids) else _RUNNING

    def end(self) -> None:
        """Nothing to flush: the engine holds the text."""


class OVSerialPipeline:
    """An LLMPipeline generating one request at a time (see :class:`SerialPipeline`)."""

    def __init__(self, folder: Path, device: str, chat_template: str) -> None:
        self._pipe = ov_genai.LLMPipeline(str(folder), device)
        self.tokenizer = OVTokenizer(self._pipe.get_tokenizer(), chat_template)

    def generate(
        self, prompt: EncodedPrompt, params: SamplingParams, on_tokens: Callable[[list[int]], bool]
    ) -> None:
        """Generate for the templated `prompt`, streaming ids to `on_tokens`."""
        cfg = generation_config(params, self.tokenizer.eos_token_id)
        self._pipe.generate([prompt.text], cfg, _Streamer(on_tokens))


def open_pipeline(
    folder: Path, spec: LLMSpec, device_prefs: Sequence[str], options: LLMOptions
) -> tuple[OVBatchPipeline | OVSerialPipeline, str, str | None]:
    """Load the IR folder on the first preferred device (CPU fallback); returns the pipeline, the
    device and why it is not the preferred one (None when it is). ModelLoadError on failure."""
    device, fallback = _pick_device(list(shared_core().available_devices), list(device_prefs))

    def build(dev: str) -> OVBatchPipeline | OVSerialPipeline:
        if options.continuous_batching:
            return OVBatchPipeline(folder, dev, options, spec.chat_template)
        return OVSerialPipeline(folder, dev, spec.chat_template)

    try:
        return build(device), device, fallback
    except Exception as exc:
        if device == "CPU":
            raise ModelLoadError(f"{folder}: OpenVINO GenAI cannot load the model on CPU: {exc}") from exc
        try:
            return build("CPU"), "CPU", f"loading on {device} failed ({exc}); running on CPU"
        except Exception as exc2:
            raise ModelLoadError(f"{folder}: OpenVINO GenAI cannot load the model: {exc2}") from exc2


def gguf_to_ir(gguf: Path, out_dir: Path) -> list[str]:
    """Convert a GGUF file into an OpenVINO IR folder (model, tokenizer, detokenizer) in `out_dir`.

    GenAI's ``enable_save_ov_model`` writes next to the GGUF, so the GGUF is linked into a private
    writable temporary folder first (never writing into e.g. site-packages). Returns the file names.
    """
    gguf = Path(gguf).absolute()
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="edgefleet-gguf-") as tmp:
        link = Path(tmp) / gguf.name
        os.symlink(gguf, link)
        try:
            pipe = ov_genai.LLMPipeline(str(link), "CPU", enable_save_ov_model=True)
        except Exception as exc:
            raise ModelLoadError(f"{gguf}: OpenVINO GenAI cannot read this GGUF: {exc}") from exc
        del pipe
        produced = sorted(p.name for p in Path(tmp).iterdir() if p.name.startswith("openvino_"))
        for name in produced:
            shutil.move(str(Path(tmp) / name), str(out_dir / name))
    return produced


def model_chat_template(folder: Path) -> str:
    """The chat template stored in an IR folder's tokenizer ('' when it has none)."""
    try:
        return str(ov_genai.Tokenizer(str(folder)).chat_template or "")
    except Exception as exc:
        raise ModelLoadError(f"{folder}: cannot read the tokenizer: {exc}") from exc
