"""Rough token counting for hosted calls when the server reports no usage.

We do not ship a real tokenizer for every hosted model; instead we use the
common rule of thumb for English text with BPE tokenizers (GPT-style, ~4
characters per token), rounded up, plus a small fixed overhead per chat
message (role markers) and for priming the reply, as OpenAI documents for its
chat format. The figures are estimates for cost accounting only; whenever the
server returns ``usage`` the client uses the server's numbers instead.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

CHARS_PER_TOKEN = 4.0
"""Average characters per token assumed for English text."""

TOKENS_PER_MESSAGE = 4
"""Overhead per chat message (role and separators)."""

TOKENS_REPLY_PRIMING = 3
"""Overhead added once per chat request for the assistant reply header."""


def estimate_tokens(text: str) -> int:
    """Estimated token count of `text`: ceil(chars / 4); 0 for empty text."""
    if not text:
        return 0
    return max(1, math.ceil(len(text) / CHARS_PER_TOKEN))


def estimate_chat_tokens(contents: Iterable[str]) -> int:
    """Estimated prompt tokens of a chat request whose messages hold `contents`."""
    total = TOKENS_REPLY_PRIMING
    for content in contents:
        total += TOKENS_PER_MESSAGE + estimate_tokens(content)
    return total


def split_tokens(total: int, texts: list[str]) -> list[int]:
    """Share `total` tokens among `texts` in proportion to their estimated sizes.

    Used to attribute one batched usage figure (e.g. an embeddings call) to the
    individual inputs; the parts always add up to `total`.
    """
    if not texts:
        return []
    weights = [max(1, estimate_tokens(t)) for t in texts]
    scale = total / sum(weights)
    parts = [math.floor(w * scale) for w in weights]
    remainder = total - sum(parts)
    for i in range(remainder):
        parts[i % len(parts)] += 1
    return parts
