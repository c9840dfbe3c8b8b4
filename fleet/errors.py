"""The fleet package's error tree (control plane, replicas, models, data)."""

from __future__ import annotations


class FleetError(Exception):
    """Base of all fleet errors."""


class ModelLoadError(FleetError):
    """A model folder or bundle is missing, corrupt, truncated or does not compile."""


class DataError(FleetError):
    """A dataset is missing, fails its sha256 check or cannot be downloaded."""


class PlacementError(FleetError):
    """No node satisfies a deployment's device preferences and label selector."""


class UnknownDeployment(FleetError):
    """A scale or rollout names a deployment that the policy does not declare."""


class UnknownNode(FleetError):
    """A drain names a node that is not in the cluster."""


class ClusterError(FleetError):
    """Starting, joining or stopping the Ray cluster failed."""
