"""Deferred escalations: what the hosted tier could not answer while it was down, sent once it is
back, so the flywheel loses nothing.

A route with ``defer_escalations: true`` that answered a request with a degraded edge answer
(:mod:`router.offline`) queues the escalation here: one row in a SQLite file (WAL,
``router.deferred_queue``) holding what the hosted model needs (the text and the candidate labels,
or the conversation and sampling settings) and what the edge said. A background task
(:meth:`DeferredEscalations.run`) sends the queued rows to their hosted endpoint once its circuit
lets calls through and no Retry-After is in force, oldest first; each answer is written to the
escalation log (``deferred: true``) and its cost to the ledger as shadow spend (no caller was
answered with it); the row is deleted only then. A failed call is retried later with a capped
backoff; rows survive router restarts. At most ``router.deferred_max`` rows are kept: beyond that a
new one is refused and counted (``refused``), never silently dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from edgefleet.policy.schema import HostedConfig, RouteConfig
from router.accounting import Accounting
from router.deferred_send import send_one
from router.domain import Result, TargetAnswer
from router.errors import TargetError
from router.targets import hosted_down_reason

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS deferred (
    id INTEGER PRIMARY KEY,
    unix REAL NOT NULL,
    fallback TEXT NOT NULL,
    payload TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_try REAL NOT NULL DEFAULT 0,
    last_error TEXT NOT NULL DEFAULT ''
);
"""
MAX_BACKOFF_S = 60.0
CALL_TIMEOUT_S = 30.0


class DeferredEscalations:
    """The durable queue of deferred escalations and the task that sends them."""

    def __init__(
        self,
        path: str | Path,
        hosted: Mapping[str, Any],
        configs: Mapping[str, HostedConfig],
        accounting: Accounting,
        *,
        max_items: int = 10_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`hosted`: the clients by endpoint name, `configs` their policy entries (prices)."""
        self.path = Path(path)
        self.hosted = hosted
        self.configs = configs
        self.accounting = accounting
        self.max_items = max_items
        self._clock = clock
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # a committed row survives a crash of the router
        self._db.executescript(SCHEMA)
        self.queued = int(self._db.execute("SELECT COUNT(*) FROM deferred").fetchone()[0])
        self.sent = 0
        self.refused = 0
        self.failed_calls = 0
        self._draining = asyncio.Lock()  # one drain at a time: a row is sent once

    def counts(self) -> tuple[int, int, int]:
        """(queued, sent, refused)."""
        return self.queued, self.sent, self.refused

    def defer_classify(
        self,
        request_id: str,
        route: RouteConfig,
        text: str,
        labels: Sequence[str],
        result: Result,
        edge_answers: Sequence[TargetAnswer],
    ) -> bool:
        """Queue a classify escalation (`result`: the degraded answer given); False when refused."""
        edge = [
            {"model": a.served_by.model, "label": a.label, "confidence": round(a.confidence, 4)}
            for a in edge_answers
        ]
        if not edge:
            edge = [{"model": result.served_by.model, "label": result.label, "confidence": result.confidence}]
        payload = {
            "task": "classify",
            "request_id": request_id,
            "route": route.name,
            "domain": result.domain,
            "text": text,
            "labels": list(labels),
            "edge": edge,
            "reasons": [result.degraded_reason],
        }
        return self._put(route.fallback or "", payload)

    def defer_generate(
        self,
        request_id: str,
        route: RouteConfig,
        messages: Sequence[Mapping[str, str]],
        params: Mapping[str, Any],
        domain: str,
        drafts: Sequence[Mapping[str, Any]],
        reason: str,
    ) -> bool:
        """Queue a generation escalation (the conversation as sent to the hosted model); False when
        refused."""
        payload = {
            "task": "generate",
            "request_id": request_id,
            "route": route.name,
            "domain": domain,
            "messages": [dict(m) for m in messages],
            "params": dict(params),
            "edge": [dict(d) for d in drafts],
            "reasons": [reason],
        }
        return self._put(route.fallback or "", payload)

    def _put(self, fallback: str, payload: dict[str, Any]) -> bool:
        if self.queued >= self.max_items:
            self.refused += 1
            log.warning("deferred escalation queue full (%d); request %s not queued", self.queued,
                        payload["request_id"])  # fmt: skip
            return False
        try:
            self._db.execute(
                "INSERT INTO deferred (unix, fallback, payload) VALUES (?, ?, ?)",
                (self._clock(), fallback, json.dumps(payload, ensure_ascii=False)),
            )
        except sqlite3.Error as exc:
            self.refused += 1
            log.warning("deferred escalation queue %s: write failed: %s", self.path, exc)
            return False
        self.queued += 1
        return True

    async def drain_once(self, batch: int = 32) -> int:
        """Send the due rows whose hosted endpoint takes calls (oldest first, at most `batch`);
        returns how many were answered (and removed)."""
        async with self._draining:
            return await self._drain(batch)

    async def _drain(self, batch: int) -> int:
        now = self._clock()
        rows = self._db.execute(
            "SELECT id, fallback, payload, attempts FROM deferred WHERE next_try <= ? ORDER BY id LIMIT ?",
            (now, batch),
        ).fetchall()
        done = 0
        blocked: set[str] = set()
        for row_id, fallback, payload, attempts in rows:
            client, cfg = self.hosted.get(fallback), self.configs.get(fallback)
            if fallback in blocked or client is None or cfg is None or hosted_down_reason(client) is not None:
                blocked.add(fallback)
                continue
            try:
                await send_one(client, cfg, json.loads(payload), self.accounting, CALL_TIMEOUT_S)
            except TargetError as exc:
                self.failed_calls += 1
                blocked.add(fallback)  # the next rows for it wait as well
                delay = min(MAX_BACKOFF_S, 2.0 ** min(attempts, 6))
                self._db.execute(
                    "UPDATE deferred SET attempts = attempts + 1, next_try = ?, last_error = ? WHERE id = ?",
                    (self._clock() + delay, str(exc)[:500], row_id),
                )
                continue
            self._db.execute("DELETE FROM deferred WHERE id = ?", (row_id,))
            self.queued -= 1
            self.sent += 1
            done += 1
        return done

    async def run(self, interval_s: float = 1.0) -> None:
        """Send queued rows until cancelled, looking every `interval_s` (the hosted tier coming back
        is noticed by its circuit letting a call through)."""
        while True:
            try:
                sent = await self.drain_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("deferred escalations: drain failed")
                sent = 0
            if sent == 0:
                await asyncio.sleep(interval_s)  # a poll period, not a synchronisation

    def close(self) -> None:
        """Close the database (rows stay for the next start)."""
        with contextlib.suppress(sqlite3.Error):
            self._db.close()
