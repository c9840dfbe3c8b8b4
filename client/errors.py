"""The SDK's exceptions: one class per gRPC status code a router answers with, all `EdgeFleetError`.

Every failed call raises an `EdgeFleetError` subclass (never a raw ``grpc.RpcError``); ``str(e)``
reads ``"INVALID_ARGUMENT: no input: set text or texts"``, ``e.code`` is the ``grpc.StatusCode``
and ``e.retriable`` tells whether the SDK's retry policy may try the call again.
"""

from __future__ import annotations

import grpc

RETRIABLE_CODES = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED})
"""Status codes worth another attempt after a backoff: the router or every target was down or
full. Never INVALID_ARGUMENT, UNAUTHENTICATED, DEADLINE_EXCEEDED (the budget is spent)..."""


class EdgeFleetError(Exception):
    """A call to the router failed with gRPC status `code` and the router's `details`."""

    default_code = grpc.StatusCode.UNKNOWN

    def __init__(self, details: str, code: grpc.StatusCode | None = None, *, attempts: int = 1) -> None:
        self.code: grpc.StatusCode = code or self.default_code
        self.details = details
        self.attempts = attempts  # how many times the call was tried
        super().__init__(f"{self.code.name}: {details}")

    @property
    def retriable(self) -> bool:
        """True for the codes the retry policy may retry (UNAVAILABLE, RESOURCE_EXHAUSTED)."""
        return self.code in RETRIABLE_CODES


class InvalidArgument(EdgeFleetError):
    """The request is wrong (empty text, unknown route or domain, max_tokens out of range...):
    fix it, do not retry. Also OUT_OF_RANGE and FAILED_PRECONDITION."""

    default_code = grpc.StatusCode.INVALID_ARGUMENT


class Unauthenticated(EdgeFleetError):
    """Missing or wrong API key (the router requires ``authorization: Bearer KEY``)."""

    default_code = grpc.StatusCode.UNAUTHENTICATED


class PermissionDenied(EdgeFleetError):
    """The key is valid but may not do this."""

    default_code = grpc.StatusCode.PERMISSION_DENIED


class NotFound(EdgeFleetError):
    """The thing named does not exist (e.g. an unknown deployment or node)."""

    default_code = grpc.StatusCode.NOT_FOUND


class Overloaded(EdgeFleetError):
    """RESOURCE_EXHAUSTED: the router's ``max_inflight`` is reached, or every replica's queue is full.
    Retried with backoff."""

    default_code = grpc.StatusCode.RESOURCE_EXHAUSTED


class Unavailable(EdgeFleetError):
    """The router cannot be reached, or no target could answer. Retried with backoff."""

    default_code = grpc.StatusCode.UNAVAILABLE


class DeadlineExceeded(EdgeFleetError):
    """The call's deadline (or the request's latency budget) ran out before an answer."""

    default_code = grpc.StatusCode.DEADLINE_EXCEEDED


class Cancelled(EdgeFleetError):
    """The call was cancelled (by this client, or the channel was closed)."""

    default_code = grpc.StatusCode.CANCELLED


class Unimplemented(EdgeFleetError):
    """The server does not offer this method (an older router, or not a router at all)."""

    default_code = grpc.StatusCode.UNIMPLEMENTED


class InternalError(EdgeFleetError):
    """The router failed (INTERNAL, UNKNOWN, DATA_LOSS): see the router's log."""

    default_code = grpc.StatusCode.INTERNAL


_BY_CODE: dict[grpc.StatusCode, type[EdgeFleetError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgument,
    grpc.StatusCode.OUT_OF_RANGE: InvalidArgument,
    grpc.StatusCode.FAILED_PRECONDITION: InvalidArgument,
    grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDenied,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.RESOURCE_EXHAUSTED: Overloaded,
    grpc.StatusCode.UNAVAILABLE: Unavailable,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceeded,
    grpc.StatusCode.CANCELLED: Cancelled,
    grpc.StatusCode.UNIMPLEMENTED: Unimplemented,
    grpc.StatusCode.INTERNAL: InternalError,
    grpc.StatusCode.UNKNOWN: InternalError,
    grpc.StatusCode.DATA_LOSS: InternalError,
}


def error_for(code: grpc.StatusCode, details: str, *, attempts: int = 1) -> EdgeFleetError:
    """The exception for a status `code` (EdgeFleetError itself for codes without a class)."""
    cls = _BY_CODE.get(code, EdgeFleetError)
    return cls(details or code.name, code, attempts=attempts)


def from_rpc_error(error: grpc.RpcError, *, attempts: int = 1) -> EdgeFleetError:
    """Map a grpc (sync or aio) error to the SDK's exception, keeping its code and details."""
    code_of = getattr(error, "code", None)
    details_of = getattr(error, "details", None)
    code = code_of() if callable(code_of) else grpc.StatusCode.UNKNOWN
    details = details_of() if callable(details_of) else str(error)
    return error_for(code or grpc.StatusCode.UNKNOWN, details or "", attempts=attempts)
