"""The fleet package's error tree (control plane, Ray adapter, serving, model registry)."""

from __future__ import annotations

from edgefleet.errors import EdgeFleetError, UnknownDeployment, UnknownNode


class FleetError(EdgeFleetError):
    """Base of all fleet errors."""


class ModelLoadError(FleetError):
    """A model folder or bundle is missing, corrupt, truncated or does not compile."""


class PlacementError(FleetError):
    """No node satisfies a deployment's device preferences and label selector."""


class ClusterError(FleetError):
    """Starting, joining or stopping the Ray cluster failed."""


class ActorGone(FleetError):
    """An actor (or its node) is dead."""


__all__ = [
    "ActorGone",
    "ClusterError",
    "FleetError",
    "ModelLoadError",
    "PlacementError",
    "UnknownDeployment",
    "UnknownNode",
]
