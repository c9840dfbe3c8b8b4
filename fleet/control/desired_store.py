"""Where the controller keeps its desired state between lives: a :class:`DesiredStore`.

The controller saves :meth:`fleet.control.desired.DesiredState.to_record` after every change
(scale, drain, policy) and, when Ray restarts it, loads it back instead of the policy it was
created with. The Ray adapter stores it in the GCS's internal key-value store
(:mod:`fleet.ray_adapter.desired_kv`); :class:`FileStore` keeps it in a file (e.g. under the run
folder) and :class:`MemoryStore` in memory (tests).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Protocol


class DesiredStore(Protocol):
    """Load and save one desired-state record (a JSON-able dict)."""

    def load(self) -> dict[str, Any] | None:
        """The saved record, or None when nothing was saved."""
        ...

    def save(self, record: dict[str, Any]) -> None:
        """Replace the saved record."""
        ...


class MemoryStore:
    """A DesiredStore in memory (a record survives a new FleetManager, not the process)."""

    def __init__(self, record: dict[str, Any] | None = None) -> None:
        self.record = record
        self.saves = 0

    def load(self) -> dict[str, Any] | None:
        """The saved record (a copy)."""
        return json.loads(json.dumps(self.record)) if self.record is not None else None

    def save(self, record: dict[str, Any]) -> None:
        """Keep a copy of `record`."""
        self.record = json.loads(json.dumps(record))
        self.saves += 1


class FileStore:
    """A DesiredStore in a JSON file, replaced atomically (temp file, fsync, rename)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def load(self) -> dict[str, Any] | None:
        """The saved record; None when the file is missing."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        return data if isinstance(data, dict) else None

    def save(self, record: dict[str, Any]) -> None:
        """Write `record`; a crash leaves the old file or the new one, never half of one."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(record, out, indent=1, sort_keys=True)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
