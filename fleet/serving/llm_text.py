"""Turning a stream of token ids into a stream of text: incremental detokenization and stop strings.

Both run in the engine's step thread for every request on every step, so they do little work: the
decoder decodes only the last few tokens, the stop matcher scans only the new text plus the few
characters it holds back.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

REPLACEMENT_CHAR = "\ufffd"
CONTEXT_TOKENS = 5  # tokens decoded before the new ones, so word-initial spaces come out right
WINDOW_TOKENS = 16  # the decoded window restarts (CONTEXT_TOKENS back) once it is this long


class IncrementalDecoder:
    """Emits the text of new token ids as soon as it is complete: a token that ends inside a UTF-8
    character (decoded as U+FFFD) is held back until the next one completes it.

    Each push decodes one window of at most ``WINDOW_TOKENS`` + the new ids (a detokenizer call
    costs ~0.15 ms whatever its length, and it runs in the step thread): the text of the window
    before the new ids is remembered from the previous push, and recomputed only when the window
    restarts.
    """

    def __init__(self, decode: Callable[[Sequence[int]], str]) -> None:
        self._decode = decode
        self._ids: list[int] = []
        self._prefix = 0  # start of the context window
        self._read = 0  # ids up to here have been emitted
        self._before: str | None = ""  # text of ids[prefix:read] (None: to be decoded)

    def push(self, ids: Sequence[int]) -> str:
        """Add new ids; returns the text they complete (possibly '')."""
        if not ids:
            return ""
        self._ids.extend(ids)
        return self._emit(final=False)

    def flush(self) -> str:
        """Text of ids still held back (at the end of generation)."""
        return self._emit(final=True) if self._read < len(self._ids) else ""

    def _emit(self, final: bool) -> str:
        if self._before is None:
            self._before = self._decode(self._ids[self._prefix : self._read])
        text = self._decode(self._ids[self._prefix :])
        if len(text) <= len(self._before) or (text.endswith(REPLACEMENT_CHAR) and not final):
            return ""
        delta = text[len(self._before) :]
        self._read = len(self._ids)
        if self._read - self._prefix > WINDOW_TOKENS:
            self._prefix = self._read - CONTEXT_TOKENS
            self._before = None
        else:
            self._before = text
        return delta


class StopMatcher:
    """Finds the first stop string in the generated text, which may arrive split across chunks.

    It holds back the last ``len(longest stop) - 1`` characters, so a stop string is never emitted
    in part; the text before the stop string is released, the stop string and all after it are not.
    """

    def __init__(self, stops: Sequence[str]) -> None:
        self.stops = [s for s in stops if s]
        self._hold = max((len(s) for s in self.stops), default=1) - 1
        self._pending = ""
        self.matched: str | None = None

    def feed(self, text: str) -> str:
        """Add generated text; returns what can be released now. After a match, returns the text
        before the stop string once and '' from then on (see :attr:`matched`)."""
        if self.matched is not None:
            return ""
        if not self.stops:
            return text
        self._pending += text
        hit = -1
        for stop in self.stops:
            at = self._pending.find(stop)
            if at >= 0 and (hit < 0 or at < hit):
                hit, self.matched = at, stop
        if hit >= 0:
            out, self._pending = self._pending[:hit], ""
            return out
        cut = max(0, len(self._pending) - self._hold)
        out, self._pending = self._pending[:cut], self._pending[cut:]
        return out

    def flush(self) -> str:
        """The held-back text (at the end of generation, when no stop string matched)."""
        out, self._pending = self._pending, ""
        return out
