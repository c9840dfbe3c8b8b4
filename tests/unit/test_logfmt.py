"""Log formats: JSON lines with ts, level, logger, message and the request/trace ids when known."""

from __future__ import annotations

import io
import json
import logging

import pytest

from edgefleet.logfmt import LOG_FORMAT_ENV, JsonFormatter, configure_logging, format_from_env


def _record(**extra: object) -> logging.LogRecord:
    record = logging.LogRecord(
        "edgefleet.router", logging.WARNING, __file__, 1, "queue %s full", ("a",), None
    )
    for key, value in extra.items():
        setattr(record, key, value)
    return record


def test_a_json_line_has_the_fields_and_the_ids_when_known() -> None:
    line = json.loads(JsonFormatter().format(_record(request_id="r-1", trace_id="ab" * 16)))
    assert line["level"] == "warning" and line["logger"] == "edgefleet.router"
    assert line["message"] == "queue a full" and line["ts"].endswith("Z") and "T" in line["ts"]
    assert (line["request_id"], line["trace_id"]) == ("r-1", "ab" * 16)
    assert "request_id" not in json.loads(JsonFormatter().format(_record()))


def test_an_exception_is_one_json_line_with_its_traceback() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        record = _record()
        record.exc_info = sys.exc_info()
    text = JsonFormatter().format(record)
    assert "\n" not in text and "ValueError: boom" in json.loads(text)["exc"]


def test_configure_logging_replaces_the_root_handlers(monkeypatch: pytest.MonkeyPatch) -> None:
    root = logging.getLogger()
    saved, level = list(root.handlers), root.level
    stream = io.StringIO()
    try:
        configure_logging("json", stream=stream)
        logging.getLogger("edgefleet.test").info("hello", extra={"request_id": "x"})
        assert json.loads(stream.getvalue())["request_id"] == "x"
    finally:
        root.handlers[:] = saved
        root.setLevel(level)


def test_the_format_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(LOG_FORMAT_ENV, "JSON")
    assert format_from_env() == "json"
    monkeypatch.setenv(LOG_FORMAT_ENV, "yaml")
    assert format_from_env() == "text"
