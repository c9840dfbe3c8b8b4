"""The fuzzing suite's live servers (one set per session) and its summary line."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fuzz.live import LiveServers, rss_mb
from tests.fuzz.tally import TALLY


@pytest.fixture(scope="session")
def live() -> Iterator[LiveServers]:
    servers = LiveServers()
    try:
        TALLY.memory.setdefault("start", rss_mb())
        yield servers
    finally:
        servers.stop()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print the counts (inputs, crashes, hangs, memory) when fuzzing ran."""
    if not TALLY.inputs:
        return
    terminalreporter.write_line(TALLY.summary())
    for line in (TALLY.crashes + TALLY.hangs)[:20]:
        terminalreporter.write_line(f"  {line}")
    if terminalreporter.config.getoption("verbose") > 0:
        for outcome, n in sorted(TALLY.outcomes.items()):
            terminalreporter.write_line(f"  {outcome}: {n}")
    if terminalreporter.config.getoption("verbose") > 1:
        for sample in sorted(TALLY.samples):
            terminalreporter.write_line(f"    {sample}")
