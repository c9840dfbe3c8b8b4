"""edgefleet.policy.llm_options: deployments[].llm in the policy (defaults, bounds, unknown keys)."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgefleet.errors import PolicyError
from edgefleet.policy.llm_options import LLMOptions
from edgefleet.policy.loader import load_policy, parse_policy

ROOT = Path(__file__).resolve().parents[2]
POLICY = """
deployments:
  - name: chat
    model: smollm2-135m
    llm: {LLM}
"""


def test_defaults_and_values() -> None:
    assert LLMOptions().continuous_batching and LLMOptions().max_batch == 8
    policy = parse_policy(POLICY.replace("{LLM}", "{continuous_batching: false, max_batch: 2}"))
    llm = policy.deployment("chat").llm
    assert llm is not None and not llm.continuous_batching and llm.max_batch == 2
    assert parse_policy(POLICY.replace("    llm: {LLM}\n", "")).deployment("chat").llm is None


@pytest.mark.parametrize(
    ("value", "where"), [("{max_batch: 0}", "max_batch"), ("{batching: true}", "batching")]
)
def test_bad_values_name_the_key(value: str, where: str) -> None:
    with pytest.raises(PolicyError, match=rf"deployments\[0\]\.llm\.{where}"):
        parse_policy(POLICY.replace("{LLM}", value))


def test_the_default_policy_deploys_the_edge_llm() -> None:
    policy = load_policy(ROOT / "edgefleet.yaml")
    chat = next(d for d in policy.deployments if d.model == "smollm2-135m")
    assert chat.llm is not None and chat.llm.continuous_batching
