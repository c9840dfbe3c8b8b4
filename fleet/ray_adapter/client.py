"""The async client of the controller actor: what the router's fleet source, the CLI and the
supervisor use to read snapshots and ask for scale, drain and policy changes."""

from __future__ import annotations

import contextlib
from typing import Any

import ray

from edgefleet.constants import CONTROLLER_NAME, DEFAULT_NAMESPACE
from edgefleet.state import FleetState
from fleet.errors import ActorGone, FleetError
from fleet.ray_adapter.backend import await_ref


class ControllerClient:
    """Async client of the controller actor (what the router, CLI and TUI use)."""

    def __init__(self, handle: Any, call_timeout_s: float = 60.0) -> None:
        self._handle = handle
        self.call_timeout_s = call_timeout_s

    @classmethod
    def connect(
        cls, namespace: str = DEFAULT_NAMESPACE, name: str = CONTROLLER_NAME, address: str | None = None
    ) -> ControllerClient:
        """Find the running controller; connects this process to Ray first when needed
        (`address` None = the local cluster, found automatically)."""
        if not ray.is_initialized():
            ray.init(address=address or "auto", namespace=namespace, log_to_driver=False)
        try:
            return cls(ray.get_actor(name, namespace=namespace))
        except ValueError as exc:
            raise FleetError(
                f"no EdgeFleet controller {name!r} in Ray namespace {namespace!r}: is the fleet up?"
            ) from exc

    async def _call(self, method: str, *args: Any, timeout_s: float | None = None) -> Any:
        try:
            return await await_ref(
                getattr(self._handle, method).remote(*args), timeout_s or self.call_timeout_s
            )
        except ActorGone as exc:
            raise FleetError(f"the EdgeFleet controller is gone: {exc}") from exc

    async def get_state(self, min_version: int = 0, timeout_s: float = 0, epoch: str = "") -> FleetState:
        """The fleet state once its version exceeds `min_version` (or after `timeout_s`); at once
        when the controller's epoch is not `epoch` (it was restarted since)."""
        state: FleetState = await self._call(
            "get_state", min_version, timeout_s, epoch, timeout_s=timeout_s + 30.0
        )
        return state

    async def scale(self, deployment: str, replicas: int) -> str:
        """Set the replica count of a deployment."""
        return str(await self._call("scale", deployment, replicas))

    async def drain(self, node: str, undrain: bool = False) -> str:
        """Move replicas off `node` (name or id) and keep new ones away; `undrain` reverses it."""
        return str(await self._call("drain", node, undrain))

    async def report_outcomes(self, report: dict[str, Any]) -> None:
        """Hand the controller a router's per-version outcomes of canaried deployments."""
        await self._call("report_outcomes", report, timeout_s=10.0)

    async def apply_policy(self, policy_yaml_text: str) -> str:
        """Validate and apply a new policy; an invalid one is refused and the old one stays."""
        return str(await self._call("apply_policy", policy_yaml_text))

    async def wait_ready(self, timeout_s: float = 300.0) -> FleetState:
        """Wait until every deployment has its replicas ready, or has a standing error."""
        return await self._call_wait(timeout_s)

    async def _call_wait(self, timeout_s: float) -> FleetState:
        state: FleetState = await self._call("wait_settled", timeout_s, timeout_s=timeout_s + 30.0)
        return state

    @staticmethod
    def disconnect() -> None:
        """Disconnect this process from Ray (after :meth:`connect`)."""
        ray.shutdown()

    async def shutdown(self) -> None:
        """Stop every replica and agent, then the controller actor itself."""
        with contextlib.suppress(FleetError):
            await self._call("shutdown", timeout_s=60.0)
        with contextlib.suppress(Exception):  # already gone
            ray.kill(self._handle, no_restart=True)
