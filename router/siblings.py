"""Sibling replicas: when a call to one replica of an edge deployment fails (an error, or its queue
is full), the router tries another replica of the same deployment before escalating to the next
candidate or the hosted tier, at most ``router.edge_retries`` times per candidate. A timeout is not
retried: the request's time is spent.

The sibling is picked like any replica (power of two choices among the ready replicas whose
circuit breaker lets a call through), leaving out those already tried for this request.
"""

from __future__ import annotations

import random
from collections.abc import Collection, Sequence
from typing import Any

from router.choose import ReplicaLoad, power_of_two_choices
from router.estimates import Estimates


def pick_sibling(dep: Any, tried: Collection[str], estimates: Estimates, rng: random.Random) -> Any | None:
    """Another eligible replica of `dep` (an edgefleet.state.DeploymentState) than those in `tried`
    (replica ids); None when there is none."""
    candidates = [r for r in dep.replicas if r.replica_id not in tried]
    loads: Sequence[ReplicaLoad] = [estimates.replica_load(r.replica_id, r.state) for r in candidates]
    pick = power_of_two_choices(loads, rng)
    if pick is None:
        return None
    return next(r for r in candidates if r.replica_id == pick.replica_id)


def worth_a_sibling(outcome: str) -> bool:
    """Should a failed call with this trace outcome ("error", "timeout", ...) go to a sibling?"""
    return outcome == "error"
