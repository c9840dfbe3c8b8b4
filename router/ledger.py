"""The durable cost ledger: every answered request's cost (edge and hosted; shadow calls apart) in
SQLite (WAL mode), so spend survives router restarts and feeds budgets, ``edgefleet status``, the
dashboard and ``edgefleet spend``.

Writes never block the event loop: :meth:`Ledger.record` queues the entry and a writer thread
inserts in batches. Running totals per (key, day) and (key, month) are kept in memory, loaded from
the database at start, so a budget check is a dictionary lookup.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS spend (
    id INTEGER PRIMARY KEY,
    unix REAL NOT NULL,
    request_id TEXT NOT NULL,
    api_key TEXT NOT NULL,
    route TEXT NOT NULL,
    task TEXT NOT NULL,
    tier TEXT NOT NULL,
    model TEXT NOT NULL,
    cost_usd REAL NOT NULL,
    hosted_equivalent_usd REAL NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    shadow INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS spend_key_time ON spend (api_key, unix);
"""
INSERT = (
    "INSERT INTO spend (unix, request_id, api_key, route, task, tier, model, cost_usd, "
    "hosted_equivalent_usd, prompt_tokens, completion_tokens, shadow) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"
)
BATCH = 256


@dataclass(frozen=True)
class LedgerEntry:
    """One answered request (or one shadow call) and what it cost."""

    request_id: str
    route: str
    task: str
    tier: str  # "edge" | "hosted"
    model: str
    cost_usd: float
    api_key: str = ""  # the key's id (never the key itself); "" without authentication
    hosted_equivalent_usd: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    shadow: bool = False
    unix: float = field(default_factory=time.time)


@dataclass
class SpendTotals:
    """Money in one window: edge, hosted and shadow spend (USD) and request count."""

    edge_usd: float = 0.0
    hosted_usd: float = 0.0
    shadow_usd: float = 0.0
    hosted_equivalent_usd: float = 0.0
    requests: int = 0

    @property
    def total_usd(self) -> float:
        """Edge + hosted + shadow."""
        return self.edge_usd + self.hosted_usd + self.shadow_usd

    def add(self, e: LedgerEntry) -> None:
        """Count one entry."""
        if e.shadow:
            self.shadow_usd += e.cost_usd
            return
        self.requests += 1
        self.hosted_equivalent_usd += e.hosted_equivalent_usd
        if e.tier == "edge":
            self.edge_usd += e.cost_usd
        else:
            self.hosted_usd += e.cost_usd


def day_of(unix: float) -> str:
    """The UTC day of a timestamp, ``YYYY-MM-DD``."""
    return time.strftime("%Y-%m-%d", time.gmtime(unix))


def month_of(unix: float) -> str:
    """The UTC month of a timestamp, ``YYYY-MM``."""
    return time.strftime("%Y-%m", time.gmtime(unix))


class Ledger:
    """Durable spend records with in-memory running totals. ``path`` None keeps it in memory only."""

    def __init__(self, path: str | Path | None) -> None:
        self.path = Path(path) if path is not None else None
        self.write_errors = 0
        self._lock = threading.Lock()
        self._daily: dict[tuple[str, str], SpendTotals] = defaultdict(SpendTotals)
        self._monthly: dict[tuple[str, str], SpendTotals] = defaultdict(SpendTotals)
        self.all_time = SpendTotals()
        self.on_record: Callable[[LedgerEntry], None] | None = None  # e.g. the Prometheus spend counters
        self._queue: queue.Queue[LedgerEntry | threading.Event | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._connect() as db:
                db.executescript(SCHEMA)
                self._load(db)
            self._thread = threading.Thread(target=self._writer, name="edgefleet-ledger", daemon=True)
            self._thread.start()

    def record(self, entry: LedgerEntry) -> None:
        """Count `entry` now and queue it for the database."""
        with self._lock:
            self._count(entry)
        if self.on_record is not None:
            self.on_record(entry)
        if self._thread is not None:
            self._queue.put(entry)

    def day(self, api_key: str = "", unix: float | None = None) -> SpendTotals:
        """Spend of one key (``""``: unauthenticated traffic) on the UTC day of `unix` (today)."""
        with self._lock:
            t = self._daily.get((api_key, day_of(time.time() if unix is None else unix)))
            return SpendTotals(**vars(t)) if t is not None else SpendTotals()

    def month(self, api_key: str = "", unix: float | None = None) -> SpendTotals:
        """Spend of one key in the UTC month of `unix` (this month)."""
        with self._lock:
            t = self._monthly.get((api_key, month_of(time.time() if unix is None else unix)))
            return SpendTotals(**vars(t)) if t is not None else SpendTotals()

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait (at most `timeout_s`) until what was queued so far is in the database."""
        if self._thread is None:
            return True
        done = threading.Event()
        self._queue.put(done)
        return done.wait(timeout_s)

    def close(self) -> None:
        """Write what is queued and stop the writer."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=30.0)
            self._thread = None

    # -- internals --------------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        assert self.path is not None
        db = sqlite3.connect(self.path, timeout=10.0)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        return db

    def _count(self, e: LedgerEntry) -> None:
        self._daily[(e.api_key, day_of(e.unix))].add(e)
        self._monthly[(e.api_key, month_of(e.unix))].add(e)
        self.all_time.add(e)

    def _load(self, db: sqlite3.Connection) -> None:
        since = time.time() - 32 * 86400  # running totals need this month (and today) only
        rows = db.execute(
            "SELECT unix, request_id, api_key, route, task, tier, model, cost_usd, hosted_equivalent_usd, "
            "prompt_tokens, completion_tokens, shadow FROM spend WHERE unix >= ?",
            (since,),
        ).fetchall()
        for r in rows:
            self._count(_entry(r))
        totals = db.execute(
            "SELECT tier, shadow, COUNT(*), SUM(cost_usd), SUM(hosted_equivalent_usd) FROM spend GROUP BY tier, shadow"
        ).fetchall()
        self.all_time = SpendTotals()
        for tier, shadow, n, cost, equivalent in totals:
            if shadow:
                self.all_time.shadow_usd += cost or 0.0
                continue
            self.all_time.requests += n
            self.all_time.hosted_equivalent_usd += equivalent or 0.0
            if tier == "edge":
                self.all_time.edge_usd += cost or 0.0
            else:
                self.all_time.hosted_usd += cost or 0.0

    def _writer(self) -> None:
        db = self._connect()
        try:
            while True:
                first = self._queue.get()
                batch = [first]
                while len(batch) < BATCH:
                    try:
                        batch.append(self._queue.get_nowait())
                    except queue.Empty:
                        break
                entries = [e for e in batch if isinstance(e, LedgerEntry)]
                if entries:
                    try:
                        with db:
                            db.executemany(INSERT, [_row(e) for e in entries])
                    except sqlite3.Error as exc:
                        self.write_errors += len(entries)
                        log.warning("ledger %s: %d entries not written: %s", self.path, len(entries), exc)
                for item in batch:
                    if isinstance(item, threading.Event):
                        item.set()
                if any(item is None for item in batch):
                    return
        finally:
            db.close()


def _row(e: LedgerEntry) -> tuple[object, ...]:
    return (
        e.unix, e.request_id, e.api_key, e.route, e.task, e.tier, e.model, e.cost_usd,
        e.hosted_equivalent_usd, e.prompt_tokens, e.completion_tokens, int(e.shadow),
    )  # fmt: skip


def _entry(r: tuple[object, ...]) -> LedgerEntry:
    unix, request_id, key, route, task, tier, model, cost, equivalent, pin, pout, shadow = r
    return LedgerEntry(
        request_id=str(request_id), route=str(route), task=str(task), tier=str(tier), model=str(model),
        cost_usd=float(cost), api_key=str(key), hosted_equivalent_usd=float(equivalent),  # type: ignore[arg-type]
        prompt_tokens=int(pin), completion_tokens=int(pout), shadow=bool(shadow), unix=float(unix),  # type: ignore[call-overload, arg-type]
    )  # fmt: skip


def spend_report(path: Path, days: int = 30) -> list[tuple[str, str, str, int, float, float]]:
    """(day, route, tier, requests, cost USD, shadow USD) rows of the last `days` days, newest first
    (what ``edgefleet spend`` prints); reads the database directly."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10.0)
    try:
        rows = db.execute(
            "SELECT strftime('%Y-%m-%d', unix, 'unixepoch') AS day, route, tier, "
            "SUM(CASE WHEN shadow = 0 THEN 1 ELSE 0 END), SUM(CASE WHEN shadow = 0 THEN cost_usd ELSE 0 END), "
            "SUM(CASE WHEN shadow = 1 THEN cost_usd ELSE 0 END) FROM spend WHERE unix >= ? "
            "GROUP BY day, route, tier ORDER BY day DESC, route, tier",
            (time.time() - days * 86400,),
        ).fetchall()
    finally:
        db.close()
    return [(str(d), str(r), str(t), int(n), float(c or 0.0), float(s or 0.0)) for d, r, t, n, c, s in rows]
