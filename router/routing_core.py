"""What both walks, one text's (:mod:`router.text_route`) and one generation's
(:mod:`router.generate_engine`), share with :class:`router.engine.RouterEngine`: the policy, the
target caller and its estimates, and the plan of a route's candidates."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from edgefleet.policy.schema import Policy, RouteConfig
from router.choose import CandidateEstimate
from router.estimates import Estimates
from router.targets import FleetIndex, TargetCaller


class RoutingCore(Protocol):
    """The RouterEngine's state and planning, as a walk sees them."""

    policy: Policy
    targets: TargetCaller
    estimates: Estimates

    def plan(
        self,
        route: RouteConfig,
        index: FleetIndex,
        policy: Policy,
        task: str,
        text: str,
        labels: Sequence[str],
        domain: str | None,
        hosted_only: bool = False,
    ) -> list[CandidateEstimate]:
        """The estimated candidates, edge cheapest first, hosted last."""
        ...
