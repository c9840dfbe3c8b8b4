"""The router's fleet source over Ray: a local copy of the controller's snapshot, kept fresh by a
background long-poll, so routing never makes a Ray call per request.

While the controller is unreachable (restarting, GCS lost) the router keeps routing with the last
snapshot it has; its age (``synced_unix``) is what the router's health and ``GetFleet`` judge
(:mod:`router.fleet_view`). A restarted controller publishes under a new epoch with versions
counting from 1 again: the source renumbers them after its own (``local = remote + offset``), so
the router's versions only ever go up.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from typing import Any

from edgefleet.constants import CONTROLLER_NAME, DEFAULT_NAMESPACE
from edgefleet.state import FleetState
from edgefleet.versioned import Versioned
from fleet.ray_adapter.client import ControllerClient

log = logging.getLogger(__name__)


class RayFleetSource(Versioned):
    """router.fleet_source.FleetSource over ControllerClient with a background long-poll."""

    remote_view = True  # a copy of a remote state: its age matters (router.fleet_view)

    def __init__(self, client: Any, *, poll_timeout_s: float = 10.0, retry_s: float = 1.0) -> None:
        super().__init__()
        self._client = client
        self._poll_timeout_s = poll_timeout_s
        self._retry_s = retry_s
        self._task: asyncio.Task[None] | None = None
        self.last_error: str | None = None
        self.epoch = ""  # the controller incarnation the local copy comes from
        self._offset = 0  # local version = the controller's version + offset
        self.restarts_seen = 0

    def _take(self, st: FleetState) -> None:
        """Publish `st` renumbered into the local sequence, or confirm the current copy. A state
        never published (version 0: a controller before its first pass) is not a fleet view."""
        if st.version <= 0 and self.current is not None:
            return
        epoch = getattr(st, "epoch", "")
        local = self.current.version if self.current is not None else 0
        if self.current is None or epoch != self.epoch:
            if self.current is not None:
                self.restarts_seen += 1
                log.warning("the controller restarted (epoch %s -> %s)", self.epoch or "?", epoch or "?")
            self.epoch = epoch
            self._offset = local + 1 - st.version if self.current is not None else 0
        if st.version + self._offset > local or self.current is None:
            self.publish(dataclasses.replace(st, version=st.version + self._offset))
        else:
            self.confirm()  # the fleet view is current (its age is a router metric)

    async def _get(self, timeout_s: float) -> FleetState:
        remote = self.current.version - self._offset if self.current is not None else 0
        if not self.epoch:
            return await self._client.get_state(remote, timeout_s)
        return await self._client.get_state(remote, timeout_s, self.epoch)

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
        self._take(await self._get(0))
        self._task = asyncio.create_task(self._poll(), name="edgefleet-fleet-poll")

    async def _poll(self) -> None:
        while True:
            try:
                st = await self._get(self._poll_timeout_s)
                self.last_error = None
                self._take(st)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 -- the loop never dies on one error
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("fleet state poll failed: %s", self.last_error)
                await asyncio.sleep(self._retry_s)

    async def state(self) -> FleetState:
        """The local copy (fetched once if polling has not started)."""
        if self.current is None:
            self._take(await self._get(0))
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

    async def report_outcomes(self, report: dict[str, Any]) -> None:
        """Forward the router's rollout outcomes to the controller."""
        await self._client.report_outcomes(report)

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
