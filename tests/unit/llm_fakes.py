"""Fake generation pipelines implementing fleet.serving.llm_types (no OpenVINO), for unit tests.

The fake tokenizer maps each word of a prompt to one token; the fake model answers a prompt with
the words of ``ANSWERS[prompt]`` (one token per step, then EOS), or counts upwards forever.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

from edgefleet.generation import ChatMessage, SamplingParams
from fleet.models.llm_manifest import LLMSpec
from fleet.models.manifest import Manifest, TensorSpec, sha256_bytes
from fleet.serving.llm_types import EncodedPrompt, HandleStatus

EOS = 0
ANSWERS = {"capital": " The capital w5 Paris.", "stop": " w1 w2 STOP w3 w4"}
ASK = [ChatMessage("user", "what is the capital of france")]
CTX = 4096
VOCAB = ["</s>", *[f" w{i}" for i in range(1, 200)], " Paris", ".", " The", " capital", " STOP", "\n"]
IDS = {piece: i for i, piece in enumerate(VOCAB)}


def ids_of(text: str) -> list[int]:
    """Token ids of text made of vocabulary pieces, e.g. ' The capital'."""
    out, rest = [], text
    while rest:
        piece = max((p for p in VOCAB if p and rest.startswith(p)), key=len)
        out.append(IDS[piece])
        rest = rest[len(piece) :]
    return out


class FakeTokenizer:
    eos_token_id = EOS

    def __init__(self) -> None:
        self.decode_calls = 0

    def apply_chat_template(self, messages: Sequence[ChatMessage]) -> str:
        return "".join(f"<{m.role}> {m.content} " for m in messages) + "<assistant>"

    def encode(self, text: str) -> EncodedPrompt:
        return EncodedPrompt(text=text, tokens=len(text.split()), data=text)

    def decode(self, ids: Sequence[int]) -> str:
        self.decode_calls += 1
        return "".join(VOCAB[i] for i in ids if i != EOS)


class FakeHandle:
    def __init__(self, script: list[int], params: SamplingParams, ignored: bool) -> None:
        self.script = list(script)
        self.params = params
        self.produced: list[int] = []
        self.unread: list[int] = []
        self.state = HandleStatus.IGNORED if ignored else HandleStatus.RUNNING
        self.cancelled = self.stopped = False

    def advance(self) -> None:
        if self.state != HandleStatus.RUNNING:
            return
        token = self.script.pop(0) if self.script else 1 + len(self.produced) % 150
        self.produced.append(token)
        self.unread.append(token)
        if token == EOS or len(self.produced) >= self.params.max_tokens:
            self.state = HandleStatus.FINISHED

    def read(self) -> tuple[list[int], list[float]]:
        ids, self.unread = self.unread, []
        return ids, [-0.5] * len(ids)

    def status(self) -> HandleStatus:
        return self.state

    def cancel(self) -> None:
        self.cancelled = True
        self.state = HandleStatus.CANCEL

    def stop(self) -> None:
        self.stopped = True
        self.state = HandleStatus.STOP


class FakeBatchPipeline:
    """Continuous batching in miniature: every step gives each running request one token."""

    def __init__(self, answers: dict[str, str] | None = None, kv_limit: int = 10_000) -> None:
        self.tokenizer = FakeTokenizer()
        self.answers = answers or {}
        self.kv_limit = kv_limit
        self.handles: dict[int, FakeHandle] = {}
        self.steps = 0
        self.max_running = 0
        self.fail_next_step = False
        self.step_delay = threading.Event()  # set() = no delay
        self.step_delay.set()
        self.step_sleep = 0.001
        self._lock = threading.Lock()

    def script_for(self, prompt: EncodedPrompt) -> list[int]:
        for question, answer in self.answers.items():
            if question in prompt.text:
                return [*ids_of(answer), EOS]
        return []

    def add_request(self, request_id: int, prompt: EncodedPrompt, params: SamplingParams) -> FakeHandle:
        handle = FakeHandle(self.script_for(prompt), params, ignored=prompt.tokens > self.kv_limit)
        with self._lock:
            self.handles[request_id] = handle
        return handle

    def step(self) -> None:
        self.step_delay.wait(5.0)
        time.sleep(self.step_sleep)
        if self.fail_next_step:
            self.fail_next_step = False
            raise RuntimeError("boom")
        with self._lock:
            running = [h for h in self.handles.values() if h.state == HandleStatus.RUNNING]
            self.max_running = max(self.max_running, len(running))
            for handle in running:
                handle.advance()
            self.steps += 1
            # like GenAI: cancelled / stopped / finished requests leave the pipeline after a step
            self.handles = {k: h for k, h in self.handles.items() if h.state == HandleStatus.RUNNING}

    def has_unfinished(self) -> bool:
        with self._lock:  # like GenAI: a cancelled request stays until the next step drops it
            return bool(self.handles)


class FakeSerialPipeline:
    """One request at a time; counts how many generate() calls overlap (must stay 1)."""

    def __init__(self, answers: dict[str, str] | None = None) -> None:
        self.tokenizer = FakeTokenizer()
        self.batch = FakeBatchPipeline(answers)
        self.concurrent = 0
        self.max_concurrent = 0
        self.release = threading.Event()
        self.release.set()

    def generate(
        self, prompt: EncodedPrompt, params: SamplingParams, on_tokens: Callable[[list[int]], bool]
    ) -> None:
        self.concurrent += 1
        self.max_concurrent = max(self.max_concurrent, self.concurrent)
        try:
            handle = FakeHandle(self.batch.script_for(prompt), params, ignored=False)
            while handle.state == HandleStatus.RUNNING:
                self.release.wait(5.0)
                time.sleep(0.001)
                handle.advance()
                ids, _ = handle.read()
                if on_tokens(ids):
                    return
        finally:
            self.concurrent -= 1


def llm_manifest(files: dict[str, bytes], version: str = "1") -> Manifest:
    """A manifest of a generative model with these files (context 8192)."""
    return Manifest(
        name="tiny-llm",
        version=version,
        task="generate",
        labels=[],
        precision="INT4",
        featurizer={"kind": "openvino_genai"},
        inputs=[TensorSpec(name="text_input", datatype="BYTES", shape=[1])],
        outputs=[TensorSpec(name="text_output", datatype="BYTES", shape=[1])],
        files={n: sha256_bytes(d) for n, d in files.items()},
        created_unix=time.time(),
        llm=LLMSpec(context_length=8192, chat_template="{{ messages }}", architecture="llama"),
    )


def wait_for(condition: object, timeout: float = 5.0) -> None:
    """Poll `condition()` until it holds (AssertionError after `timeout` seconds)."""
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.005)
