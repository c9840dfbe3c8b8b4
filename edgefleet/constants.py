"""Names and addresses that several packages must agree on (written once, here)."""

from __future__ import annotations

from typing import Literal, get_args

DEFAULT_ROUTER_ADDRESS = "127.0.0.1:50051"
"""Where the router listens unless the policy says otherwise, and where clients look first."""

DEFAULT_ROUTER_HTTP_ADDRESS = "127.0.0.1:8080"
"""Where the router's OpenAI-compatible HTTP front door listens unless the policy says otherwise."""

DEFAULT_NAMESPACE = "edgefleet"
"""The Ray namespace of the control plane."""

CONTROLLER_NAME = "edgefleet-controller"
"""The Ray actor name of the detached controller."""

DEFAULT_REGISTRY = ".edgefleet/models"
"""The model registry folder, relative to the policy file (or the working directory for the CLI)."""

API_KEY_ENV = "EDGEFLEET_API_KEY"
"""The environment variable the CLI and the dashboard read an API key from."""

InferencePrecision = Literal["auto", "f32", "bf16"]
"""A deployment's inference precision (OpenVINO's INFERENCE_PRECISION_HINT; auto: the device default)."""

INFERENCE_PRECISIONS: tuple[str, ...] = get_args(InferencePrecision)
"""The values of :data:`InferencePrecision`, in order."""

FLEET_TOKEN_METADATA = "x-edgefleet-fleet-token"
"""The gRPC metadata key carrying the fleet token from the router to replicas on real nodes."""
