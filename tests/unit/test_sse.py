"""Server-sent events: decoding line by line and encoding (edgefleet/sse.py)."""

from __future__ import annotations

from edgefleet.sse import SseDecoder, SseEvent, encode_data, encode_json


def decode_all(text: str) -> list[SseEvent]:
    decoder = SseDecoder()
    events = [e for line in text.split("\n") if (e := decoder.feed(line)) is not None]
    last = decoder.finish()
    return [*events, last] if last is not None else events


def test_events_end_at_blank_lines_and_join_data_lines() -> None:
    text = 'data: {"a": 1}\n\n: a comment\ndata: one\ndata:two\n\nevent: error\ndata: x\nid: 7\n\n'
    assert decode_all(text) == [
        SseEvent("message", '{"a": 1}'),
        SseEvent("message", "one\ntwo"),
        SseEvent("error", "x"),
    ]


def test_blank_lines_without_data_and_an_unterminated_last_event() -> None:
    assert decode_all("\n\nevent: ping\n\ndata: [DONE]") == [SseEvent("message", "[DONE]")]


def test_encoding_round_trips() -> None:
    assert encode_data("a\nb") == b"data: a\ndata: b\n\n"
    assert encode_json({"x": [1, 2]}) == b'data: {"x":[1,2]}\n\n'
    text = (encode_json({"k": "v"}) + encode_data("[DONE]")).decode()
    assert decode_all(text) == [SseEvent("message", '{"k":"v"}'), SseEvent("message", "[DONE]")]
