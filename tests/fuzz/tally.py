"""Counts of the fuzzing run: inputs per surface, crashes (a server error status, a 5xx, an
exception the server should have turned into a status, or a server that stopped answering),
hangs (no answer within the client's deadline) and the memory measured around the run."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field

import grpc
from hypothesis import HealthCheck, settings

FULL = os.environ.get("EDGEFLEET_FUZZ") == "full"
EXAMPLES = int(os.environ.get("EDGEFLEET_FUZZ_EXAMPLES", "1200" if FULL else "40"))
CLIENT_TIMEOUT_S = 20.0  # the router's own budgets are 2-5 s: a call still open after this is a hang
HANG_AFTER_S = CLIENT_TIMEOUT_S * 0.9
# Every code a server may answer on purpose; INTERNAL, UNKNOWN, DATA_LOSS... are crashes.
WELL_FORMED = {
    grpc.StatusCode.OK,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.UNAUTHENTICATED,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.OUT_OF_RANGE,
}

FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize=not FULL,  # make test: the same inputs every run; make fuzz: new ones
    suppress_health_check=list(HealthCheck),
    print_blob=True,
)


@dataclass
class Tally:
    """What the run saw."""

    inputs: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    crashes: list[str] = field(default_factory=list)
    hangs: list[str] = field(default_factory=list)
    memory: dict[str, float] = field(default_factory=dict)
    samples: dict[str, str] = field(default_factory=dict)  # one status message per outcome (-v)

    def grpc(self, surface: str, code: grpc.StatusCode | None, elapsed_s: float, details: str = "") -> str:
        """Count one gRPC outcome; returns "ok", "crash" or "hang"."""
        self.inputs[surface] += 1
        if code == grpc.StatusCode.DEADLINE_EXCEEDED and elapsed_s >= HANG_AFTER_S:
            self.hangs.append(f"{surface}: no answer in {elapsed_s:.1f} s")
            return "hang"
        if code not in WELL_FORMED:
            self.crashes.append(f"{surface}: {code} {details[:200]}")
            return "crash"
        key = f"{surface} {code.name if code else '?'}"
        self.outcomes[key] += 1
        self.samples.setdefault(f"{key}: {details[:60]}", details[:120])
        return "ok"

    def http(self, surface: str, status: int | None, elapsed_s: float, details: str = "") -> str:
        """Count one HTTP outcome (None: no response at all)."""
        self.inputs[surface] += 1
        if status is None and elapsed_s >= HANG_AFTER_S:
            self.hangs.append(f"{surface}: no answer in {elapsed_s:.1f} s")
            return "hang"
        if status is None or (status >= 500 and status not in (503, 504)):
            self.crashes.append(f"{surface}: HTTP {status} {details[:200]}")
            return "crash"
        self.outcomes[f"{surface} {status}"] += 1
        return "ok"

    def local(self, surface: str, error: BaseException | None) -> str:
        """Count one in-process call (the policy loader): only its own error type is well-formed."""
        self.inputs[surface] += 1
        if error is not None:
            self.crashes.append(f"{surface}: {type(error).__name__}: {str(error)[:200]}")
            return "crash"
        self.outcomes[f"{surface} ok"] += 1
        return "ok"

    def summary(self) -> str:
        """The line `make fuzz` ends with."""
        total = sum(self.inputs.values())
        parts = ", ".join(f"{k} {v}" for k, v in sorted(self.inputs.items()))
        mem = self.memory
        bounded = "bounded" if mem.get("bounded") else "NOT BOUNDED"
        memory = (
            f"memory {mem.get('start', 0):.0f} MB -> {mem.get('fuzzed', 0):.0f} MB after fuzzing, "
            f"{mem.get('steady_growth', 0):+.1f} MB over {int(mem.get('steady_requests', 0))} more requests ({bounded})"
            if mem
            else "memory not measured"
        )
        return (
            f"fuzz: {total} inputs ({parts}); {len(self.crashes)} crashes, {len(self.hangs)} hangs; {memory}"
        )


TALLY = Tally()
