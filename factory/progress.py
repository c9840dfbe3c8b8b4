"""Rich progress bars for the factory (a no-op when progress is off)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Self


class Steps:
    """One overall bar plus a bar per running step; ``enabled=False`` prints nothing."""

    def __init__(self, enabled: bool, total_steps: int, title: str = "models build") -> None:
        self.enabled = enabled
        self.title = title
        self._progress: Any = None
        self._overall: Any = None
        self._total = total_steps
        self.log: list[str] = []

    def __enter__(self) -> Self:
        if self.enabled:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                SpinnerColumn,
                TextColumn,
                TimeElapsedColumn,
            )

            self._progress = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                transient=False,
            )
            self._progress.__enter__()
            self._overall = self._progress.add_task(f"[bold]{self.title}", total=self._total)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.__exit__(None, None, None)

    @contextmanager
    def step(self, description: str, total: int | None = None) -> Iterator[Any]:
        """A sub-bar; yields ``advance(n)``. Advances the overall bar when the step ends."""
        start = time.perf_counter()
        if self._progress is None:
            try:
                yield lambda n=1: None
            finally:
                self.log.append(f"{description}: {time.perf_counter() - start:.1f} s")
            return
        task = self._progress.add_task(description, total=total)

        def advance(n: int = 1) -> None:
            self._progress.update(task, advance=n)

        try:
            yield advance
        finally:
            self.log.append(f"{description}: {time.perf_counter() - start:.1f} s")
            self._progress.update(task, completed=total if total is not None else 1, total=total or 1)
            self._progress.update(self._overall, advance=1)

    def note(self, message: str) -> None:
        """A line above the bars (or just recorded when disabled)."""
        self.log.append(message)
        if self._progress is not None:
            self._progress.console.log(message)
