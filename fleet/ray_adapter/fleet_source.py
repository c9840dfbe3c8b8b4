"""The router's fleet source over Ray: a local copy of the controller's snapshot, kept fresh by a
background long-poll, so routing never makes a Ray call per request."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from edgefleet.constants import CONTROLLER_NAME, DEFAULT_NAMESPACE
from edgefleet.state import FleetState
from edgefleet.versioned import Versioned
from fleet.ray_adapter.client import ControllerClient

log = logging.getLogger(__name__)


class RayFleetSource(Versioned):
    """router.fleet_source.FleetSource over ControllerClient with a background long-poll."""

    def __init__(self, client: Any, *, poll_timeout_s: float = 10.0, retry_s: float = 1.0) -> None:
        super().__init__()
        self._client = client
        self._poll_timeout_s = poll_timeout_s
        self._retry_s = retry_s
        self._task: asyncio.Task[None] | None = None
        self.last_error: str | None = None

    @classmethod
    async def connect(
        cls,
        namespace: str = DEFAULT_NAMESPACE,
        name: str = CONTROLLER_NAME,
        address: str | None = None,
        **kwargs: Any,
    ) -> RayFleetSource:
        """Connect to the controller (ControllerClient.connect; joins Ray once, blocking)
        and start polling. kwargs: poll_timeout_s, retry_s."""
        client = ControllerClient.connect(namespace, name, address)
        source = cls(client, **kwargs)
        await source.start()
        return source

    async def start(self) -> None:
        """Fetch the first state, then keep it fresh in a background task."""
        self.publish(await self._client.get_state(0, 0))
        self._task = asyncio.create_task(self._poll(), name="edgefleet-fleet-poll")

    async def _poll(self) -> None:
        while True:
            version = self.current.version if self.current is not None else 0
            try:
                st = await self._client.get_state(version, self._poll_timeout_s)
                self.last_error = None
                if st is not None and (self.current is None or st.version > self.current.version):
                    self.publish(st)
                else:
                    self.confirm()  # the fleet view is current (its age is a router metric)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 -- the loop never dies on one error
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("fleet state poll failed: %s", self.last_error)
                await asyncio.sleep(self._retry_s)

    async def state(self) -> FleetState:
        """The local copy (fetched once if polling has not started)."""
        if self.current is None:
            self.publish(await self._client.get_state(0, 0))
        return self.current

    async def watch(self, after_version: int, timeout_s: float | None = None) -> FleetState:
        """Wait for the poller to see a newer state."""
        if self.current is None:
            await self.state()
        return await self.wait_newer(after_version, timeout_s)

    async def scale(self, deployment: str, replicas: int) -> str:
        """Forward to the controller."""
        return str(await self._client.scale(deployment, replicas))

    async def drain(self, node: str, undrain: bool = False) -> str:
        """Forward to the controller."""
        return str(await self._client.drain(node, undrain))

    async def apply_policy(self, policy_yaml_text: str) -> str:
        """Forward to the controller."""
        return str(await self._client.apply_policy(policy_yaml_text))

    async def aclose(self) -> None:
        """Stop polling."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
