"""The router package's error tree. Every lower-level failure is translated to one of these in one
place, and the gRPC servicers map them to status codes (policy errors are :mod:`edgefleet.errors`)."""

from __future__ import annotations

from edgefleet.errors import EdgeFleetError


class RouterError(EdgeFleetError):
    """Base of all router errors. `code` is the gRPC status code name."""

    code = "INTERNAL"


class InvalidRequest(RouterError):
    """The request is malformed (empty text, unknown task, NaN constraint...)."""

    code = "INVALID_ARGUMENT"


class Unauthenticated(RouterError):
    """Missing or wrong API key."""

    code = "UNAUTHENTICATED"


class PermissionDenied(RouterError):
    """A valid key whose role may not make this call (an app key calling the Fleet service)."""

    code = "PERMISSION_DENIED"


class Overloaded(RouterError):
    """Too many requests in flight, or every replica queue is full."""

    code = "RESOURCE_EXHAUSTED"


class LimitExceeded(Overloaded):
    """A key's rate limit or spend budget, or a request's cost cap, refuses the request; the message
    names the limit."""


class Unavailable(RouterError):
    """No target could answer (replicas down and hosted tier down)."""

    code = "UNAVAILABLE"


class DeadlineExceeded(RouterError):
    """The request's latency budget ran out before any target answered."""

    code = "DEADLINE_EXCEEDED"


class TargetError(RouterError):
    """One target (replica or hosted endpoint) failed; the router may escalate. `timeout`: it did not
    answer in time; `rate_limited`: a hosted endpoint asked us to wait (HTTP 429, Retry-After)."""

    code = "UNAVAILABLE"

    def __init__(self, message: str, *, timeout: bool = False, rate_limited: bool = False) -> None:
        super().__init__(message)
        self.timeout = timeout
        self.rate_limited = rate_limited


class TargetBusy(TargetError):
    """A target refused the call because its queue is full (gRPC RESOURCE_EXHAUSTED); the router
    escalates with reason ``queue_full``."""
