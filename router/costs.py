"""Cost rules (pure): edge calls cost the deployment's price per call, hosted
calls cost per 1K input/output tokens. Before a hosted call (and for the
"all-hosted" comparison) tokens are estimated exactly the way the hosted adapter
counts them when the server reports no usage (edgefleet.tokens / wire):
the chat messages (system prompt with the label list + the text) go in, a small
JSON object comes out."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from edgefleet.openai_wire import system_prompt
from edgefleet.policy.schema import HostedConfig
from edgefleet.tokens import TOKENS_PER_MESSAGE, TOKENS_REPLY_PRIMING, estimate_tokens

# estimate_tokens('{"label": "<label>", "confidence": 0.93}') without the label itself
_CLASSIFY_REPLY_CHARS = len('{"label": "", "confidence": 0.93}')


@lru_cache(maxsize=256)
def _label_tokens(labels: tuple[str, ...]) -> tuple[int, int]:
    """(system message tokens, reply tokens) of a classification among `labels` (duplicates
    dropped); cached because a route's label list is the same for every request."""
    unique = tuple(dict.fromkeys(labels))
    longest = max((len(label) for label in unique), default=0)
    system = TOKENS_PER_MESSAGE + estimate_tokens(system_prompt(unique))
    return system, estimate_tokens("x" * (_CLASSIFY_REPLY_CHARS + longest))


def estimate_classify_tokens(text: str, labels: Sequence[str]) -> tuple[int, int]:
    """(input, output) tokens of one hosted classification call among `labels`."""
    system, reply = _label_tokens(tuple(labels))
    return TOKENS_REPLY_PRIMING + system + TOKENS_PER_MESSAGE + estimate_tokens(text), reply


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
