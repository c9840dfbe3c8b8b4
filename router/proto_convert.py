"""Conversions shared by the router's gRPC servicers: router errors to status codes, and the
domain objects every answer carries (who served it, the route trace) to their protos."""

from __future__ import annotations

import grpc

from protos.edgefleet.v1 import common_pb2
from router.domain import ServedBy, Step
from router.errors import RouterError


def status_of(exc: RouterError) -> grpc.StatusCode:
    """The gRPC status code of a router error (its `code` attribute)."""
    return getattr(grpc.StatusCode, exc.code, grpc.StatusCode.INTERNAL)


def served_by_proto(s: ServedBy) -> common_pb2.ServedBy:
    """ServedBy -> proto."""
    tier = common_pb2.EDGE if s.tier == "edge" else common_pb2.HOSTED
    return common_pb2.ServedBy(
        model=s.model,
        version=s.version,
        replica=s.replica,
        node=s.node,
        device=s.device,
        tier=tier,
        stand_in=s.stand_in,
    )


def steps_proto(steps: tuple[Step, ...]) -> list[common_pb2.TraceStep]:
    """Trace steps -> protos."""
    return [common_pb2.TraceStep(target=s.target, outcome=s.outcome, reason=s.reason, ms=s.ms) for s in steps]
