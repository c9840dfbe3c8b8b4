"""Shared proto conversions: status codes, served_by, trace steps."""

from __future__ import annotations

import grpc

from protos.edgefleet.v1 import common_pb2
from router.domain import ServedBy, Step
from router.errors import DeadlineExceeded, RouterError, TargetBusy, Unauthenticated
from router.proto_convert import served_by_proto, status_of, steps_proto


def test_status_of_follows_the_error_code() -> None:
    assert status_of(Unauthenticated("x")) == grpc.StatusCode.UNAUTHENTICATED
    assert status_of(DeadlineExceeded("x")) == grpc.StatusCode.DEADLINE_EXCEEDED
    assert status_of(TargetBusy("x")) == grpc.StatusCode.UNAVAILABLE
    assert status_of(RouterError("x")) == grpc.StatusCode.INTERNAL


def test_served_by_and_steps() -> None:
    msg = served_by_proto(ServedBy("big-model", "", "big", "api.example", "", "hosted", stand_in=True))
    assert msg.tier == common_pb2.HOSTED and msg.stand_in and msg.node == "api.example"
    (step,) = steps_proto((Step("hosted:big", "ok", "3 tokens", 12.5),))
    assert (step.target, step.outcome, step.reason, step.ms) == ("hosted:big", "ok", "3 tokens", 12.5)
