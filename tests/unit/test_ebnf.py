"""The EBNF subset a generation request's grammar must keep to (edgefleet.ebnf)."""

from __future__ import annotations

import pytest

from edgefleet.ebnf import GrammarError, check_grammar


def test_accepts_rules_literals_classes_groups_and_quantifiers() -> None:
    grammar = 'root ::= (a | b "x")? "\\n"\na ::= " one" [0-9]+ ("y")*\nb ::= "two \\"q\\""'
    assert check_grammar(grammar) == ["root", "a", "b"]


@pytest.mark.parametrize(
    ("grammar", "message"),
    [
        ('root ::= ("a" | ', "expected a string"),
        ('x ::= "a"', "no 'root' rule"),
        ("root ::= b", "rule 'b' (character 9) is not defined"),
        ('root ::= "a\\q"', "unexpected"),
        ('root ::= "a"\nroot ::= "b"', "defined twice"),
        ('root ::= ("a"', "unclosed '('"),
        ('"a" ::= root', "expected 'name ::='"),
        ("root ::= {", "unexpected"),
    ],
)
def test_refuses_what_would_fail_inside_the_pipeline(grammar: str, message: str) -> None:
    with pytest.raises(GrammarError, match=message.replace("(", r"\(").replace(")", r"\)")):
        check_grammar(grammar)
