"""The model factory's error tree."""

from __future__ import annotations

from edgefleet.errors import EdgeFleetError


class FactoryError(EdgeFleetError):
    """Base of all model factory errors."""


class DataError(FactoryError):
    """A dataset is missing, fails its sha256 check or cannot be downloaded."""
