"""client.errors: every status code maps to its exception, with the code, details and retriability."""

from __future__ import annotations

import grpc
import pytest

from client import errors
from tests.unit.client_fakes import FakeRpcError


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        (grpc.StatusCode.INVALID_ARGUMENT, errors.InvalidArgument),
        (grpc.StatusCode.OUT_OF_RANGE, errors.InvalidArgument),
        (grpc.StatusCode.FAILED_PRECONDITION, errors.InvalidArgument),
        (grpc.StatusCode.UNAUTHENTICATED, errors.Unauthenticated),
        (grpc.StatusCode.PERMISSION_DENIED, errors.PermissionDenied),
        (grpc.StatusCode.NOT_FOUND, errors.NotFound),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, errors.Overloaded),
        (grpc.StatusCode.UNAVAILABLE, errors.Unavailable),
        (grpc.StatusCode.DEADLINE_EXCEEDED, errors.DeadlineExceeded),
        (grpc.StatusCode.CANCELLED, errors.Cancelled),
        (grpc.StatusCode.UNIMPLEMENTED, errors.Unimplemented),
        (grpc.StatusCode.INTERNAL, errors.InternalError),
        (grpc.StatusCode.UNKNOWN, errors.InternalError),
        (grpc.StatusCode.DATA_LOSS, errors.InternalError),
        (grpc.StatusCode.ABORTED, errors.EdgeFleetError),
    ],
)
def test_each_code_maps_to_its_exception(code: grpc.StatusCode, cls: type[errors.EdgeFleetError]) -> None:
    error = errors.from_rpc_error(FakeRpcError(code, "the router said no"), attempts=2)
    assert type(error) is cls
    assert error.code is code and error.details == "the router said no" and error.attempts == 2
    assert str(error) == f"{code.name}: the router said no"


def test_only_unavailable_and_resource_exhausted_are_retriable() -> None:
    retriable = {c for c in grpc.StatusCode if errors.error_for(c, "x").retriable}
    assert retriable == {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED}


def test_empty_details_read_as_the_code_name() -> None:
    error = errors.from_rpc_error(FakeRpcError(grpc.StatusCode.UNAVAILABLE))
    assert str(error) == "UNAVAILABLE: UNAVAILABLE"


def test_an_error_without_a_status_is_unknown() -> None:
    error = errors.from_rpc_error(grpc.RpcError("no status here"))
    assert isinstance(error, errors.InternalError) and error.code is grpc.StatusCode.UNKNOWN
    assert "no status here" in error.details


def test_exceptions_default_to_their_own_code() -> None:
    assert errors.Overloaded("busy").code is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert errors.Overloaded("busy").retriable
    assert isinstance(errors.Unauthenticated("no key"), errors.EdgeFleetError)
