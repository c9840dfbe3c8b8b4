"""Per-deployment control-plane settings: canary rollouts (``deployments[].rollout``) and
autoscaling (``deployments[].autoscale``) in ``edgefleet.yaml``. A leaf module of the kernel
(pydantic only); the decisions themselves are pure functions in ``fleet/control``.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class RolloutConfig(BaseModel):
    """A new model version starts as a canary: `canary_replicas` replicas of it get `canary_share`
    of the deployment's traffic, side by side with the current version, until it has answered
    `min_requests` requests; it is then promoted (rolled over to every replica) or rolled back on
    the error rate, latency and agreement the routers measured."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    canary_share: float = Field(
        0.1, gt=0, le=1, description="share of the deployment's requests the canary serves"
    )
    canary_replicas: int = Field(1, ge=1, le=100, description="replicas of the new version during the canary")
    min_requests: int = Field(100, ge=1, description="canary answers measured before a verdict")
    max_error_rate: float = Field(0.01, ge=0, le=1, description="most failed canary calls (share) to promote")
    max_latency_ratio: float = Field(
        1.5, gt=0, description="most canary p95 latency / current version's p95 latency to promote"
    )
    min_agreement: float = Field(
        0.9, ge=0, le=1, description="least share of shadowed requests where canary and current version agree"
    )
    shadow_share: float = Field(
        0.2,
        ge=0,
        le=1,
        description="share of canary answers the router also asks the current version for (off the caller's "
        "path) to measure agreement; 0 judges on errors and latency only",
    )


class AutoscaleConfig(BaseModel):
    """The controller sets the replica count between `min` and `max` (and within what the fitting
    nodes can host) from the replicas' measured load: outstanding requests per replica against
    `target_queue`, and/or their p95 latency against `target_p95_ms`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min: int = Field(1, ge=0, le=1000, description="fewest replicas")
    max: int = Field(4, ge=1, le=1000, description="most replicas")
    target_queue: float | None = Field(
        None, gt=0, description="outstanding requests (in flight + waiting) per replica to aim for"
    )
    target_p95_ms: float | None = Field(None, gt=0, description="replicas' p95 latency (ms) to stay under")
    cooldown_s: float = Field(
        30.0, ge=0, description="after any change, no scale-down for this long (scale-up: a third of it)"
    )
    window_s: float = Field(5.0, gt=0, le=300, description="measurements are averaged over this window")

    @model_validator(mode="after")
    def _sound(self) -> AutoscaleConfig:
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) is above max ({self.max})")
        if self.target_queue is None and self.target_p95_ms is None:
            raise ValueError("set target_queue or target_p95_ms (or both)")
        return self

    def clamp(self, replicas: int) -> int:
        """`replicas` within [min, max]."""
        return max(self.min, min(self.max, replicas))
