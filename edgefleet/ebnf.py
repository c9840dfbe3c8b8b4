"""A checker for the EBNF grammars a generation request may carry (``SamplingParams.grammar``).

OpenVINO GenAI compiles a request's grammar inside the continuous-batching step, where a syntax
error fails every running request and leaves the KV-cache blocks leaked. So the replica admits
only grammars that this checker accepts: the subset of the GBNF/xgrammar syntax that the pipeline
parses for sure::

    rule        := NAME "::=" alternation            (one rule per line or more; "root" required)
    alternation := sequence ("|" sequence)*
    sequence    := (atom quantifier?)+
    atom        := "string" | [character class] | NAME | "(" alternation ")"
    quantifier  := "?" | "*" | "+"

String escapes: ``\\\\ \\" \\n \\t \\r``; every referenced rule must be defined, once. Pure (no I/O).
"""

from __future__ import annotations

import re

_TOKEN = re.compile(
    r"""(?P<ws>[ \t\r\n]+)
      |(?P<def>::=)
      |(?P<string>"(?:[^"\\\n]|\\[\\"ntr])*")
      |(?P<cls>\[(?:[^\]\\\n]|\\[\\\]\[ntr^-])+\])
      |(?P<name>[A-Za-z_][A-Za-z0-9_-]*)
      |(?P<sym>[|()?*+])""",
    re.VERBOSE,
)


class GrammarError(ValueError):
    """A grammar outside the accepted subset (the message says where)."""


def _tokens(text: str) -> list[tuple[str, str, int]]:
    out: list[tuple[str, str, int]] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise GrammarError(f"unexpected {text[pos : pos + 12]!r} at character {pos}")
        kind = m.lastgroup or ""
        if kind != "ws":
            out.append((kind, m.group(), pos))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, tokens: list[tuple[str, str, int]]) -> None:
        self.toks = tokens
        self.i = 0
        self.refs: list[tuple[str, int]] = []

    def peek(self, offset: int = 0) -> tuple[str, str, int] | None:
        j = self.i + offset
        return self.toks[j] if j < len(self.toks) else None

    def at_rule_start(self) -> bool:
        a, b = self.peek(), self.peek(1)
        return a is not None and b is not None and a[0] == "name" and b[0] == "def"

    def alternation(self) -> None:
        self.sequence()
        while (t := self.peek()) is not None and t[1] == "|":
            self.i += 1
            self.sequence()

    def sequence(self) -> None:
        count = 0
        while (t := self.peek()) is not None and not self.at_rule_start():
            kind, value, pos = t
            if kind in ("string", "cls"):
                self.i += 1
            elif kind == "name":
                self.refs.append((value, pos))
                self.i += 1
            elif value == "(":
                self.i += 1
                self.alternation()
                close = self.peek()
                if close is None or close[1] != ")":
                    raise GrammarError(f"unclosed '(' at character {pos}")
                self.i += 1
            else:
                break
            count += 1
            if (q := self.peek()) is not None and q[1] in "?*+" and q[0] == "sym":
                self.i += 1
        if count == 0:
            t = self.peek()
            where = f"at character {t[2]} ({t[1]!r})" if t else "at the end"
            raise GrammarError(f"expected a string, a character class, a rule name or '(' {where}")


def check_grammar(text: str) -> list[str]:
    """The rule names of `text`; GrammarError when it is outside the accepted subset, has no
    ``root`` rule, defines a rule twice or uses an undefined one."""
    parser = _Parser(_tokens(text))
    names: list[str] = []
    while parser.peek() is not None:
        if not parser.at_rule_start():
            t = parser.peek()
            assert t is not None
            raise GrammarError(f"expected 'name ::=' at character {t[2]}, got {t[1]!r}")
        name = parser.toks[parser.i][1]
        if name in names:
            raise GrammarError(f"rule {name!r} is defined twice")
        names.append(name)
        parser.i += 2
        parser.alternation()
    if "root" not in names:
        raise GrammarError("the grammar has no 'root' rule")
    defined = set(names)
    for ref, pos in parser.refs:
        if ref not in defined:
            raise GrammarError(f"rule {ref!r} (character {pos}) is not defined")
    return names
