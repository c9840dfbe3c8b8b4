"""Money and rate limits per caller and per request.

:class:`KeyGate` holds, per API key id, a token bucket (``rate_per_s``, ``burst``) and the spend
budgets per UTC day and month, checked against the durable ledger (:class:`router.ledger.Ledger`,
which counts edge and hosted spend of every answered request per key). It also counts what the
key's requests in flight have spent or reserved but not yet recorded, so concurrent requests
cannot spend the same remainder twice.

:class:`CostBudget` is one request's money: the least of the caller's ``max_cost_usd``,
``router.limits.max_cost_usd_per_request`` and what is left of the key's budgets, shared by
all the request's texts (a batch spends at most that in total, not that per text). A candidate's
estimated cost is reserved before it is called and settled with what the answer really cost;
what a request spent without being recorded (a failed paid attempt) is written to the ledger when
the request closes, so budgets hold against what requests actually cost, fallbacks included.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from edgefleet.policy.security_options import KeyLimits
from router.errors import LimitExceeded
from router.ledger import Ledger, LedgerEntry

EPS = 1e-12


@dataclass
class _Bucket:
    rate: float
    burst: float
    tokens: float
    last: float


@dataclass
class _KeyState:
    limits: KeyLimits
    bucket: _Bucket | None = None
    pending_usd: float = 0.0  # spent or reserved by requests in flight, not yet in the ledger


class KeyGate:
    """Per-key rate limits and budgets (keys are named by id, never by the key itself)."""

    def __init__(self, ledger: Ledger, clock: Callable[[], float] = time.monotonic) -> None:
        self.ledger = ledger
        self._clock = clock
        self._keys: dict[str, _KeyState] = {}

    def admit(self, key_id: str, limits: KeyLimits) -> None:
        """Count one request of `key_id` against its rate limit; LimitExceeded when over it."""
        state = self._state(key_id, limits)
        rate = limits.rate_per_s
        if rate is None:
            return
        burst = float(limits.burst or max(1.0, math.ceil(2 * rate)))
        now = self._clock()
        b = state.bucket
        if b is None or b.rate != rate or b.burst != burst:
            b = state.bucket = _Bucket(rate, burst, burst, now)
        b.tokens = min(b.burst, b.tokens + (now - b.last) * b.rate)
        b.last = now
        if b.tokens < 1.0:
            wait = (1.0 - b.tokens) / b.rate
            raise LimitExceeded(
                f"rate limit of key {key_id!r} exceeded: {rate:g} requests/s, burst {burst:g}; "
                f"retry in {wait:.2f} s"
            )
        b.tokens -= 1.0

    def budget(self, key_id: str, request_max: float | None, router_max: float | None) -> CostBudget:
        """The money a new request of `key_id` may spend; LimitExceeded when a budget is spent."""
        limit, what = _least(
            (request_max, "the request's max_cost_usd"),
            (router_max, "router.limits.max_cost_usd_per_request"),
        )
        state = self._keys.get(key_id)
        if state is not None:
            now = time.time()
            for budget, spent, window in (
                (state.limits.budget_usd_per_day, self.ledger.day(key_id, now).total_usd, "daily"),
                (state.limits.budget_usd_per_month, self.ledger.month(key_id, now).total_usd, "monthly"),
            ):
                if budget is None:
                    continue
                left = budget - spent - state.pending_usd
                if left <= EPS:
                    raise LimitExceeded(
                        f"{window} budget of key {key_id!r} is spent: ${spent + state.pending_usd:.6f} of "
                        f"${budget:.6f} (UTC {'day' if window == 'daily' else 'month'})"
                    )
                if limit is None or left < limit:
                    limit, what = left, f"what is left of the {window} budget of key {key_id!r}"
        return CostBudget(limit, what, key_id, state, self.ledger)

    def _state(self, key_id: str, limits: KeyLimits) -> _KeyState:
        state = self._keys.get(key_id)
        if state is None:
            state = self._keys[key_id] = _KeyState(limits)
        else:
            state.limits = limits
        return state


@dataclass
class CostBudget:
    """One request's money; `limit` None = no limit. `what` names the limit that binds."""

    limit: float | None
    what: str = ""
    key_id: str = ""
    _key: _KeyState | None = field(default=None, repr=False)
    _ledger: Ledger | None = field(default=None, repr=False)
    reserved: float = 0.0
    spent: float = 0.0
    recorded: float = 0.0

    @property
    def imposed(self) -> bool:
        """True when the binding limit is the router's or the key's, not the caller's own."""
        return self.limit is not None and not self.what.startswith("the request's")

    def remaining(self) -> float | None:
        """What is left to reserve (None: unlimited)."""
        return None if self.limit is None else self.limit - self.reserved - self.spent

    def reserve(self, amount: float) -> bool:
        """Reserve `amount` before a call; False (nothing reserved) when it does not fit."""
        left = self.remaining()
        if left is not None and amount > left + EPS:
            return False
        self.reserved += amount
        if self._key is not None:
            self._key.pending_usd += amount
        return True

    def settle(self, reserved: float, actual: float) -> None:
        """A call reserved `reserved` and cost `actual`."""
        self.reserved -= reserved
        self.spent += actual
        if self._key is not None:
            self._key.pending_usd += actual - reserved

    def recorded_cost(self, amount: float) -> None:
        """`amount` of the spend is now in the ledger (an answered text)."""
        self.recorded += amount

    def close(self, request_id: str = "", route: str = "", task: str = "") -> None:
        """The request is over: spend not recorded with an answer goes to the ledger now."""
        unrecorded = self.spent - self.recorded
        if unrecorded > EPS and self._ledger is not None:
            self._ledger.record(
                LedgerEntry(request_id, route, task, "hosted", "(no answer)", unrecorded, api_key=self.key_id)
            )
        if self._key is not None:
            self._key.pending_usd = max(0.0, self._key.pending_usd - self.reserved - self.spent)
        self.reserved = 0.0
        self.recorded = self.spent


def _least(*limits: tuple[float | None, str]) -> tuple[float | None, str]:
    found: tuple[float | None, str] = (None, "")
    for value, what in limits:
        if value is not None and (found[0] is None or value < found[0]):
            found = (value, what)
    return found
