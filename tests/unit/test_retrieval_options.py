"""routes[].retrieval in the policy: defaults, placeholder checks, the deployment reference and
the task; every error names the key path and the line."""

from __future__ import annotations

import pytest

from edgefleet.policy import parse_policy
from edgefleet.policy.retrieval_options import (
    SYSTEM_TEMPLATE,
    USER_TEMPLATE,
    RetrievalConfig,
    template_fields,
)
from tests.unit.test_policy import issues

BASE = """\
version: 1
deployments:
  - {name: llm, model: smollm}
  - {name: retriever, model: squad-dev}
hosted:
  - {name: big, base_url: "http://127.0.0.1:9/v1"}
routes:
  - name: qa
    task: generate
    targets: [llm]
    fallback: big
    retrieval: RETRIEVAL
"""


def policy_with(retrieval: str) -> str:
    return BASE.replace("RETRIEVAL", retrieval)


def test_defaults() -> None:
    route = parse_policy(policy_with("{deployment: retriever}")).routes[0]
    cfg = route.retrieval
    assert cfg is not None and cfg.top_k == 5 and cfg.placement == "user" and cfg.send_to_hosted
    assert cfg.prompt_template() == USER_TEMPLATE and cfg.passage_template == "[{n}] {title}: {text}"
    assert RetrievalConfig(deployment="r", placement="system").prompt_template() == SYSTEM_TEMPLATE


def test_template_fields() -> None:
    assert template_fields("a {passages} b {question:>10} {{literal}}") == ["passages", "question"]
    with pytest.raises(ValueError, match="malformed"):
        template_fields("{passages")
    with pytest.raises(ValueError, match="named placeholders only"):
        template_fields("{0} {passages}")


@pytest.mark.parametrize(
    ("retrieval", "expected"),
    [
        ("{deployment: nope}", "line 12: routes[0].retrieval.deployment: unknown deployment 'nope'"),
        (
            '{deployment: retriever, template: "{passages} {question} {foo}"}',
            "line 12: routes[0].retrieval.template: unknown placeholder(s) {foo}; allowed: {passages}, {question}",
        ),
        (
            '{deployment: retriever, template: "Q: {question}"}',
            "line 12: routes[0].retrieval.template: the template must contain {passages}",
        ),
        (
            '{deployment: retriever, template: "{passages}"}',
            "line 12: routes[0].retrieval: template: with placement 'user' the template replaces",
        ),
        (
            '{deployment: retriever, passage_template: "[{n}] {title}"}',
            "line 12: routes[0].retrieval.passage_template: the template must contain {text}",
        ),
        (
            '{deployment: retriever, passage_template: "{text} {url}"}',
            "line 12: routes[0].retrieval.passage_template: unknown placeholder(s) {url}",
        ),
        ("{deployment: retriever, top_k: 0}", "line 12: routes[0].retrieval.top_k: Input should be greater"),
        ("{deployment: retriever, colour: red}", "line 12: routes[0].retrieval.colour: unknown key"),
        (
            "{deployment: retriever, placement: middle}",
            "line 12: routes[0].retrieval.placement: Input should be",
        ),
    ],
)
def test_errors_name_the_key(retrieval: str, expected: str) -> None:
    found = issues(policy_with(retrieval))
    assert any(i.startswith(expected) for i in found), found


def test_system_placement_needs_no_question() -> None:
    cfg = parse_policy(policy_with('{deployment: retriever, placement: system, template: "Ctx: {passages}"}'))
    assert cfg.routes[0].retrieval is not None and cfg.routes[0].retrieval.template == "Ctx: {passages}"


def test_retrieval_is_for_generate_routes_only() -> None:
    text = policy_with("{deployment: retriever}").replace("task: generate", "task: classify")
    assert any("routes[0].retrieval: applies to task 'generate' only" in i for i in issues(text)), issues(
        text
    )
