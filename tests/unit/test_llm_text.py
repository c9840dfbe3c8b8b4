"""fleet.serving.llm_text: incremental detokenization (split UTF-8 characters) and stop strings."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from fleet.serving.llm_text import IncrementalDecoder, StopMatcher


# A byte-level vocabulary: each id is one byte, so multi-byte characters span several tokens.
def byte_decode(ids: Sequence[int]) -> str:
    return bytes(ids).decode("utf-8", errors="replace")


def test_decoder_holds_back_split_characters() -> None:
    decoder = IncrementalDecoder(byte_decode)
    text = "héllo wörld €!"
    out = [decoder.push([b]) for b in text.encode()]
    assert "".join(out) + decoder.flush() == text
    assert "\ufffd" not in "".join(out)
    euro = text.encode().index("€".encode())
    assert out[euro] == "" and out[euro + 1] == "" and out[euro + 2] == "€"


def test_decoder_flushes_a_dangling_byte_at_the_end() -> None:
    decoder = IncrementalDecoder(byte_decode)
    assert decoder.push([*b"ab", 0xE2]) == ""  # held until the character completes
    assert decoder.flush() == "ab\ufffd"
    assert decoder.push([]) == ""


def test_decoder_decodes_only_a_window() -> None:
    calls: list[int] = []

    def decode(ids: Sequence[int]) -> str:
        calls.append(len(ids))
        return byte_decode(ids)

    decoder = IncrementalDecoder(decode)
    for b in b"x" * 200:
        decoder.push([b])
    assert max(calls) <= 17  # a bounded window, whatever the answer's length
    assert len(calls) < 200 * 1.2  # about one detokenizer call per push


@pytest.mark.parametrize(
    ("pieces", "stops", "released", "matched"),
    [
        (["Hello", " wor", "ld"], [], "Hello world", None),
        (["Hello", " ST", "OP", " more"], [" STOP"], "Hello", " STOP"),
        (["a\n", "\nb"], ["\n\n", "zz"], "a", "\n\n"),
        (["abc", "de"], ["x", "cd"], "ab", "cd"),
        (["one two"], ["two", "one"], "", "one"),
        (["no stop here"], ["STOP"], "no stop here", None),
    ],
)
def test_stop_matcher(pieces: list[str], stops: list[str], released: str, matched: str | None) -> None:
    matcher = StopMatcher(stops)
    out = "".join(matcher.feed(p) for p in pieces)
    if matcher.matched is None:
        out += matcher.flush()
    assert out == released and matcher.matched == matched


def test_stop_matcher_never_releases_part_of_a_stop() -> None:
    matcher = StopMatcher(["</end>"])
    assert matcher.feed("text </e") == "tex"
    assert matcher.feed("nd> tail") == "t "
    assert matcher.feed("more") == ""
