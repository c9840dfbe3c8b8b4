"""The chaos suite's steady load: a separate process that sends classify requests to one router at
a fixed rate (open loop) through the client SDK, bounded in count and time, on loopback, and
records what became of each request.

Every request ends as exactly one :class:`Outcome`:

- ``ok``: answered; ``degraded``: answered with the best edge answer (offline mode);
- ``retriable``: failed with a status a client may retry (UNAVAILABLE, RESOURCE_EXHAUSTED, or the
  router's own DEADLINE_EXCEEDED), after the SDK's own retries;
- ``lost``: no answer at all: the client's deadline passed without a status from the router, or
  the call was cut (CANCELLED, UNKNOWN, DATA_LOSS);
- ``error``: any other status (a bug: INVALID_ARGUMENT, INTERNAL, ...).

Run as ``python -m bench.chaos.load --address HOST:PORT --texts FILE --out FILE.jsonl`` (one JSON
line per request: index, send and end time on ``time.monotonic()`` -- the same clock in every
process of the machine -- outcome, status code, tier).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import grpc

from client import AsyncEdgeFleetClient, EdgeFleetError, RetryPolicy

Outcome = Literal["ok", "degraded", "retriable", "lost", "error"]
RETRIABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.ABORTED}
CUT = {grpc.StatusCode.CANCELLED, grpc.StatusCode.UNKNOWN, grpc.StatusCode.DATA_LOSS}
CLIENT_DEADLINE = "Deadline Exceeded"  # grpc's own words when the caller's deadline passes
# The app's side: reconnect quickly to a router that comes back (grpc's default backoff grows to 2 min).
CHANNEL_OPTIONS = (
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 500),
)


@dataclass(frozen=True)
class Record:
    """What became of one request."""

    index: int
    sent: float  # time.monotonic() when it was sent
    done: float
    outcome: Outcome
    code: str = "OK"
    tier: str = ""
    attempts: int = 1
    detail: str = ""


def classify_error(exc: EdgeFleetError) -> Outcome:
    """The outcome of a call that ended with `exc` (see the module doc)."""
    if exc.code in RETRIABLE:
        return "retriable"
    if exc.code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return "lost" if exc.details.strip() in (CLIENT_DEADLINE, "") else "retriable"
    if exc.code in CUT:
        return "lost"
    return "error"


async def one(ef: AsyncEdgeFleetClient, index: int, text: str, deadline_s: float) -> Record:
    """Send one request and record its outcome."""
    sent = time.monotonic()
    try:
        result = (await ef.infer(text, timeout_s=deadline_s)).result
    except EdgeFleetError as exc:
        return Record(index, sent, time.monotonic(), classify_error(exc), exc.code.name,
                      attempts=exc.attempts, detail=exc.details[:200])  # fmt: skip
    except Exception as exc:  # noqa: BLE001 -- whatever it is, the request got no answer
        return Record(index, sent, time.monotonic(), "lost", type(exc).__name__, detail=str(exc)[:200])
    outcome: Outcome = "degraded" if result.degraded else "ok"
    detail = result.degraded_reason if result.degraded else ""
    return Record(
        index, sent, time.monotonic(), outcome, tier=result.served_by.tier.name.lower(), detail=detail
    )


async def run_load(
    address: str, texts: list[str], rate: float, seconds: float, max_requests: int, deadline_s: float
) -> list[Record]:
    """Send ``texts`` round robin at `rate` per second for `seconds` (at most `max_requests`); wait
    for every answer (each bounded by `deadline_s`)."""
    retry = RetryPolicy(max_attempts=6, initial_backoff_s=0.2, max_backoff_s=1.0)
    tasks: list[asyncio.Task[Record]] = []
    async with AsyncEdgeFleetClient(
        address, timeout_s=deadline_s, retry=retry, channel_options=CHANNEL_OPTIONS
    ) as ef:
        start = time.monotonic()
        for i in range(max_requests):
            due = start + i / rate
            if due - start > seconds:
                break
            await asyncio.sleep(max(0.0, due - time.monotonic()))  # the open-loop schedule
            tasks.append(asyncio.create_task(one(ef, i, texts[i % len(texts)], deadline_s)))
        return list(await asyncio.gather(*tasks))


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.chaos.load``: run one load and write its records as JSON lines."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--address", required=True)
    parser.add_argument("--texts", required=True, help="JSON file: a list of texts")
    parser.add_argument("--out", required=True)
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--max-requests", type=int, default=1000)
    parser.add_argument("--deadline-s", type=float, default=6.0)
    args = parser.parse_args(argv)
    if not args.address.startswith(("127.", "localhost", "[::1]")):
        parser.error("the chaos load only targets loopback addresses")
    texts = json.loads(Path(args.texts).read_text(encoding="utf-8"))
    records = asyncio.run(
        run_load(args.address, texts, args.rate, args.seconds, args.max_requests, args.deadline_s)
    )
    with open(args.out, "w", encoding="utf-8") as fh:
        for record in records:
            fh.write(json.dumps(asdict(record)) + "\n")
    return 0


def read_records(path: Path) -> list[Record]:
    """The records a load process wrote."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return [Record(**json.loads(line)) for line in lines if line.strip()]


if __name__ == "__main__":
    sys.exit(main())
