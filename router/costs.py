"""Cost rules (pure): edge calls cost the deployment's price per call, hosted
calls cost per 1K input/output tokens. Before a hosted call (and for the
"all-hosted" comparison) tokens are estimated exactly the way the hosted adapter
counts them when the server reports no usage (router.hosted.tokens / wire):
the chat messages (system prompt with the label list + the text) go in, a small
JSON object comes out."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from router.hosted.tokens import TOKENS_PER_MESSAGE, TOKENS_REPLY_PRIMING, estimate_tokens
from router.hosted.wire import system_prompt
from router.policy.schema import HostedConfig

# estimate_tokens('{"label": "<label>", "confidence": 0.93}') without the label itself
_CLASSIFY_REPLY_CHARS = len('{"label": "", "confidence": 0.93}')


@lru_cache(maxsize=256)
def _system_prompt_tokens(labels: tuple[str, ...]) -> int:
    return TOKENS_PER_MESSAGE + estimate_tokens(system_prompt(labels))


def estimate_classify_tokens(text: str, labels: Sequence[str]) -> tuple[int, int]:
    """(input, output) tokens of one hosted classification call among `labels`."""
    unique = tuple(dict.fromkeys(labels))
    prompt = TOKENS_REPLY_PRIMING + _system_prompt_tokens(unique) + TOKENS_PER_MESSAGE + estimate_tokens(text)
    longest = max((len(label) for label in unique), default=0)
    return prompt, estimate_tokens("x" * (_CLASSIFY_REPLY_CHARS + longest))


def estimate_embed_tokens(text: str) -> tuple[int, int]:
    """(input, output) tokens of one hosted embedding call (embeddings bill input only)."""
    return estimate_tokens(text), 0


def hosted_call_cost(cfg: HostedConfig, input_tokens: int, output_tokens: int) -> float:
    """USD of one hosted call."""
    return (
        input_tokens / 1000.0 * cfg.price_per_1k_input_usd
        + output_tokens / 1000.0 * cfg.price_per_1k_output_usd
    )


def estimate_hosted_cost(cfg: HostedConfig, task: str, text: str, labels: Sequence[str]) -> float:
    """USD a hosted call for `text` is expected to cost."""
    tokens = estimate_classify_tokens(text, labels) if task == "classify" else estimate_embed_tokens(text)
    return hosted_call_cost(cfg, *tokens)


def edge_call_cost(price_per_call_usd: float) -> float:
    """USD of one edge call (per text)."""
    return price_per_call_usd
