"""bench.suites.common.trim_policy: deployments missing from the registry and their references go."""

from __future__ import annotations

from pathlib import Path

import yaml

from bench.suites.common import trim_policy
from edgefleet.policy.loader import parse_policy


def test_a_missing_retriever_takes_the_route_retrieval_with_it(tmp_path: Path) -> None:
    (tmp_path / "smollm" / "1").mkdir(parents=True)
    (tmp_path / "smollm" / "latest").write_text("1\n")
    raw = {
        "deployments": [{"name": "llm", "model": "smollm"}, {"name": "rag", "model": "squad-dev"}],
        "routes": [
            {"name": "qa", "task": "generate", "targets": ["llm"], "retrieval": {"deployment": "rag"}},
        ],
    }
    data, missing = trim_policy(raw, tmp_path)
    assert missing == ["rag"] and "retrieval" not in data["routes"][0]
    assert parse_policy(yaml.safe_dump(data)).routes[0].retrieval is None


def test_a_missing_policy_model_takes_the_route_escalation_policy_with_it(tmp_path: Path) -> None:
    (tmp_path / "smollm" / "1").mkdir(parents=True)
    (tmp_path / "smollm" / "latest").write_text("1\n")
    raw = {
        "deployments": [{"name": "llm", "model": "smollm"}, {"name": "pol", "model": "squad-policy"}],
        "routes": [
            {
                "name": "qa",
                "task": "generate",
                "targets": ["llm"],
                "escalation_policy": {"deployment": "pol"},
            },
        ],
    }
    data, missing = trim_policy(raw, tmp_path)
    assert missing == ["pol"] and "escalation_policy" not in data["routes"][0]
    assert parse_policy(yaml.safe_dump(data)).routes[0].escalation_policy is None
