"""Routing policy: the typed schema of ``edgefleet.yaml`` and its loader."""

from router.policy.loader import load_policy, parse_policy, policy_sha256
from router.policy.schema import Policy

__all__ = ["Policy", "load_policy", "parse_policy", "policy_sha256"]
