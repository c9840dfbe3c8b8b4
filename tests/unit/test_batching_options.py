"""deployments[].batching in the policy: defaults, an explicit setting, bad values refused with the key."""

from __future__ import annotations

import pytest

from edgefleet.errors import PolicyError
from edgefleet.policy.batching_options import BatchingOptions
from edgefleet.policy.loader import parse_policy

POLICY = """
version: 1
deployments:
  - name: d
    model: m
    {batching}
hosted: []
routes: [{{name: r, task: classify, targets: [d]}}]
"""


def test_defaults() -> None:
    options = BatchingOptions()
    assert (options.max_batch, options.max_delay_us, options.adaptive) == (32, 500, True)
    policy = parse_policy(POLICY.format(batching=""), source="t")
    assert policy.deployments[0].batching == options


def test_an_explicit_setting() -> None:
    policy = parse_policy(
        POLICY.format(batching="batching: {max_batch: 8, max_delay_us: 0, adaptive: false}"), source="t"
    )
    assert policy.deployments[0].batching == BatchingOptions(max_batch=8, max_delay_us=0, adaptive=False)


@pytest.mark.parametrize("bad", ["{max_batch: 0}", "{max_delay_us: -1}", "{window: 3}"])
def test_bad_values_are_refused_with_the_key(bad: str) -> None:
    with pytest.raises(PolicyError, match="batching"):
        parse_policy(POLICY.format(batching=f"batching: {bad}"), source="t")
