"""Appending to the escalation log (schema: :mod:`edgefleet.escalation_log`) without ever failing
a request: the file is created private (0600), rotated by size (``log``, ``log.1`` ... ``log.N``),
and a write that fails is counted and reported (``write_errors``, ``last_error``), not raised: the
user already has their (paid) answer."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from pathlib import Path
from typing import IO, Protocol

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 16 * 1024 * 1024
DEFAULT_BACKUPS = 3


class LogRecord(Protocol):
    """A record that writes itself as one JSON line (escalation and shadow records)."""

    def to_line(self) -> str:
        """One JSON line with its newline."""
        ...


class EscalationLog:
    """One JSONL escalation log file with size-based rotation."""

    def __init__(
        self, path: str | Path, *, max_bytes: int = DEFAULT_MAX_BYTES, backups: int = DEFAULT_BACKUPS
    ) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.backups = backups
        self.written = 0
        self.write_errors = 0
        self.last_error = ""
        self._fh: IO[str] | None = None
        self._size = 0
        self._lock = threading.Lock()

    def write(self, record: LogRecord) -> bool:
        """Append one record; False (counted, logged once per kind) when it could not be written."""
        line = record.to_line()
        with self._lock:
            try:
                if self._fh is None:
                    self._open()
                if self._size + len(line.encode("utf-8")) > self.max_bytes and self._size > 0:
                    self._rotate()
                assert self._fh is not None
                self._fh.write(line)
                self._fh.flush()
                self._size += len(line.encode("utf-8"))
                self.written += 1
                return True
            except OSError as exc:
                self.write_errors += 1
                message = f"{type(exc).__name__}: {exc}"
                if message != self.last_error:
                    log.warning("escalation log %s: write failed: %s", self.path, message)
                self.last_error = message
                self._close()
                return False

    def close(self) -> None:
        """Close the file (it is reopened on the next write)."""
        with self._lock:
            self._close()

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._fh = os.fdopen(fd, "a", encoding="utf-8")
        self._size = os.fstat(fd).st_size

    def _rotate(self) -> None:
        self._close()
        for n in range(self.backups, 0, -1):
            src = self.path if n == 1 else self.path.with_name(f"{self.path.name}.{n - 1}")
            if src.exists():
                os.replace(src, self.path.with_name(f"{self.path.name}.{n}"))
        self._open()

    def _close(self) -> None:
        if self._fh is not None:
            with contextlib.suppress(OSError):
                self._fh.close()
            self._fh = None
