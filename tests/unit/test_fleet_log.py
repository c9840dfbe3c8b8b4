"""The fleet log: while a fleet runs in the process, stdout, stderr (also written at the file
descriptor level, as Ray's C++ code does) and logging go to the log; the terminal stream the
command prints its progress to stays the original stdout."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import pytest

from cli.fleet_log import export_log_format, output_to_log
from edgefleet.logfmt import LOG_FORMAT_ENV


def test_output_goes_to_the_log_and_the_terminal_stream_to_stdout(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    log_path = tmp_path / "run" / "fleet.log"
    root = logging.getLogger()
    saved, level = list(root.handlers), root.level
    try:
        with output_to_log(log_path, "json") as terminal:
            print("python stdout")
            os.write(2, b"raw fd 2 write\n")
            logging.getLogger("edgefleet.test").warning("a warning")
            sys.stderr.flush()
            print("progress for the user", file=terminal)
    finally:
        root.handlers[:] = saved
        root.setLevel(level)
    out, err = capfd.readouterr()
    text = log_path.read_text()
    assert "python stdout" in text and "raw fd 2 write" in text and '"message": "a warning"' in text
    assert "progress for the user" in out and "progress for the user" not in text
    assert "python stdout" not in out and "raw fd 2 write" not in err
    print("after")
    assert "after" in capfd.readouterr().out  # restored


def test_the_log_format_is_exported_to_child_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(LOG_FORMAT_ENV, raising=False)
    export_log_format("json")
    assert os.environ[LOG_FORMAT_ENV] == "json"
