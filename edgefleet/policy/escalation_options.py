"""A generate route's learned escalation policy and its shadow traffic (``routes[].escalation_policy``
and ``routes[].shadow`` in ``edgefleet.yaml``). A leaf module of the kernel (pydantic only).

The policy is a deployed classify model (labels ``bad``/``good``, a ``vector`` featurizer) that
reads the signals available before generating (:mod:`edgefleet.escalation_features`); a request
whose probability of a good edge answer is under ``threshold`` goes straight to the hosted
fallback. ``edgefleet route calibrate`` sets the threshold from a target. Shadowing sends a share
of the edge-answered requests to the hosted model too, off the critical path, and logs the pair,
so the threshold can be refitted from live traffic (``calibrate --from-log``).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class EscalationPolicyConfig(BaseModel):
    """The learned policy a generate route asks before generating."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    deployment: str = Field(description="policy deployment: classify model over the feature vector")
    threshold: float = Field(
        0.5, ge=0, le=1, description="p(good edge answer) under this: straight to the hosted fallback"
    )
    good_label: str = Field("good", description="the policy's label for 'the edge answer will be good'")
    timeout_ms: float = Field(200.0, gt=0, description="longest wait for the policy (then: edge first)")


class ShadowConfig(BaseModel):
    """Shadow traffic: a share of edge-answered requests also goes to the hosted model."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    share: float = Field(0.0, ge=0, le=1, description="share of edge-answered requests shadowed")
    budget_usd_per_day: float = Field(
        1.0, ge=0, description="shadow spend per UTC day (the ledger's shadow tier); none past it"
    )
    log: str = Field(".edgefleet/shadow.jsonl", description="where the (edge, hosted) pairs go (JSON lines)")
    seed: int | None = Field(None, description="seed of the sampling (tests); null: random")
