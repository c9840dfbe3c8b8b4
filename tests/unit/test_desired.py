"""fleet.control.desired: overrides kept apart from the policy, and the persisted record."""

from __future__ import annotations

import json

import pytest

from edgefleet.policy.schema import Policy
from fleet.control.desired import DesiredState
from fleet.errors import FleetError


def policy(d_replicas: int = 1) -> Policy:
    return Policy.model_validate(
        {
            "deployments": [
                {"name": "d", "model": "m", "replicas": d_replicas},
                {"name": "e", "model": "m", "replicas": 2, "selector": {"site": "s"}},
            ]
        }
    )


def test_reload_keeps_a_scale_unless_the_file_changes_that_deployment() -> None:
    desired = DesiredState(policy())
    assert desired.scale("d", 4) == 1 and desired.scale("e", 5) == 2
    assert desired.replace_policy(policy()) == []  # same file: both operator scales kept
    assert {d.name: d.replicas for d in desired.deployments()} == {"d": 4, "e": 5}
    assert desired.replace_policy(policy(d_replicas=3)) == ["d"]  # the file's new word wins for d
    assert {d.name: d.replicas for d in desired.deployments()} == {"d": 3, "e": 5}
    assert desired.policy.deployments[1].replicas == 2  # the policy stays what the file says


def test_record_round_trips_through_json() -> None:
    desired = DesiredState(policy())
    desired.scale("e", 3)
    desired.drained.add("node-1")
    record = json.loads(json.dumps(desired.to_record()))
    back = DesiredState.from_record(record)
    assert back.policy == desired.policy
    assert back.scale_overrides == {"e": 3} and back.drained == {"node-1"}
    assert back.deployment("e").selector == {"site": "s"}


def test_bad_records_are_refused() -> None:
    with pytest.raises(FleetError, match="format"):
        DesiredState.from_record({"format": 2})
    with pytest.raises(FleetError, match="unreadable"):
        DesiredState.from_record({"format": 1, "policy": {"deployments": [{"name": "x"}]}})
    record = DesiredState(policy()).to_record()
    record["scale_overrides"] = {"gone": 2, "d": 2}
    assert DesiredState.from_record(record).scale_overrides == {"d": 2}  # no longer in the policy
