"""Routing policy: the typed schema of ``edgefleet.yaml`` and its loader."""

from edgefleet.policy.loader import load_policy, parse_policy, policy_sha256
from edgefleet.policy.schema import Policy

__all__ = ["Policy", "load_policy", "parse_policy", "policy_sha256"]
