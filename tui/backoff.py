"""Capped exponential backoff for reconnecting to the router."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    """Delays initial_s, initial_s*factor, ... capped at cap_s, with +/- jitter (fraction)."""

    initial_s: float = 0.5
    cap_s: float = 15.0
    factor: float = 2.0
    jitter: float = 0.1
    attempt: int = 0
    _random: random.Random = field(default_factory=random.Random, repr=False)

    def next_delay(self) -> float:
        """The delay before the next attempt; each call doubles it up to the cap."""
        base = min(self.cap_s, self.initial_s * self.factor**self.attempt)
        self.attempt += 1
        if self.jitter:
            base *= 1 + self._random.uniform(-self.jitter, self.jitter)
        return min(self.cap_s, base)

    def reset(self) -> None:
        """Back to the initial delay (after a successful connection)."""
        self.attempt = 0
