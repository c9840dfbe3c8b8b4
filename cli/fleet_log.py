"""The fleet log: while a local fleet runs in this process (``edgefleet up`` in the foreground,
``edgefleet demo``), everything written to this process's stdout and stderr -- Python logging,
Ray's driver messages (``(raylet) WARNING: ...``), C++ core worker logs -- goes to the log file
under the run folder; the user's terminal gets only what the command prints on purpose, through
the stream :func:`output_to_log` yields.

Redirection is at the file-descriptor level (``dup2`` of 1 and 2), so output from libraries that
captured ``sys.stderr`` early, or that write from C++, lands in the log too.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from cli.runstate import home
from edgefleet.logfmt import LOG_FORMAT_ENV, LogFormat, configure_logging


def fleet_log_path() -> Path:
    """``$EDGEFLEET_HOME/run/fleet.log``: the supervisor's log (``edgefleet up --detach`` writes it
    too)."""
    return home() / "run" / "fleet.log"


def export_log_format(fmt: LogFormat) -> None:
    """Hand the log format to the processes started from here (Ray's raylets, so every actor)."""
    os.environ[LOG_FORMAT_ENV] = fmt


@contextlib.contextmanager
def output_to_log(path: Path, fmt: LogFormat = "text") -> Iterator[TextIO]:
    """Send this process's stdout, stderr and logging (in `fmt`) to `path` (truncated) while the
    block runs; yields a line-buffered stream to the original stdout (the terminal)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    log_fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    terminal = os.fdopen(os.dup(saved[0]), "w", buffering=1)
    streams = sys.stdout, sys.stderr
    try:
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        # Python-level writes too, even where sys.stdout/stderr were replaced (as test runners do)
        sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115 -- closed below
        sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115 -- closed below
        configure_logging(fmt, stream=sys.stderr)
        yield terminal
    finally:
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
            stream.close()
        sys.stdout, sys.stderr = streams
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        configure_logging(fmt, logging.WARNING, stream=sys.stderr)  # not to the closed log stream
        for fd in (*saved, log_fd):
            os.close(fd)
        terminal.close()
