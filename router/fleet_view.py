"""Where the router learns about the fleet. :class:`FleetSource` is the interface;
:class:`RayFleetSource` keeps a local copy of the controller's snapshot fresh with
a background long-poll (routing never makes a Ray call per request), and
:class:`StaticFleet` is an in-memory source for tests and benchmarks."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import time
from typing import TYPE_CHECKING, Any, Protocol

from fleet.errors import UnknownDeployment, UnknownNode

if TYPE_CHECKING:
    from edgefleet.state import FleetState

log = logging.getLogger(__name__)


class FleetSource(Protocol):
    """What the router needs from the control plane."""

    async def state(self) -> FleetState:
        """The latest known fleet state."""
        ...

    async def watch(self, after_version: int, timeout_s: float | None = None) -> FleetState:
        """The first state with version > after_version (or the latest on timeout)."""
        ...

    async def scale(self, deployment: str, replicas: int) -> str:
        """Set a deployment's desired replica count; returns a human message."""
        ...

    async def drain(self, node: str, undrain: bool = False) -> str:
        """Drain (or undrain) a node by name or id; returns a human message."""
        ...

    async def apply_policy(self, policy_yaml_text: str) -> str:
        """Hand new policy YAML to the controller; returns a human message."""
        ...


class _Versioned:
    """A state holder whose waiters wake on every new version."""

    def __init__(self) -> None:
        self._state: Any = None
        self._changed = asyncio.Event()

    def _publish(self, state: Any) -> None:
        self._state = state
        self._changed.set()
        self._changed = asyncio.Event()

    async def _wait_newer(self, after_version: int, timeout_s: float | None) -> Any:
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while self._state is None or self._state.version <= after_version:
            changed = self._changed
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                break
            try:
                await asyncio.wait_for(changed.wait(), left)
            except TimeoutError:
                break
        return self._state


class StaticFleet(_Versioned):
    """An in-memory FleetSource: holds a FleetState; actions edit it and bump its version."""

    def __init__(self, state: FleetState) -> None:
        super().__init__()
        self._publish(state)
        self.actions: list[tuple[str, ...]] = []
        self.fail_next: Exception | None = None  # raised by the next action (tests)

    async def state(self) -> FleetState:
        """The current state."""
        return self._state  # type: ignore[no-any-return]

    def set_state(self, state: FleetState) -> None:
        """Replace the state (its version is raised above the old one if needed)."""
        if state.version <= self._state.version:
            state = copy.copy(state)
            state.version = self._state.version + 1
        self._publish(state)

    async def watch(self, after_version: int, timeout_s: float | None = None) -> FleetState:
        """Wait for a state newer than `after_version`."""
        return await self._wait_newer(after_version, timeout_s)  # type: ignore[no-any-return]

    def _edit(self) -> Any:
        if self.fail_next is not None:
            exc, self.fail_next = self.fail_next, None
            raise exc
        new = copy.deepcopy(self._state)
        new.version = self._state.version + 1
        new.unix_ms = time.time() * 1000.0
        return new

    async def scale(self, deployment: str, replicas: int) -> str:
        """Set the desired count of `deployment`."""
        new = self._edit()
        for dep in new.deployments:
            if dep.name == deployment:
                dep.desired = replicas
                self.actions.append(("scale", deployment, str(replicas)))
                new.events.append(f"scaled {deployment} to {replicas}")
                self._publish(new)
                return f"{deployment}: desired replicas {replicas}"
        raise UnknownDeployment(f"unknown deployment {deployment!r}")

    async def drain(self, node: str, undrain: bool = False) -> str:
        """Mark a node drained (or not)."""
        new = self._edit()
        for n in new.nodes:
            if node in (n.name, n.node_id):
                n.drained = not undrain
                self.actions.append(("undrain" if undrain else "drain", n.name))
                self._publish(new)
                return f"node {n.name} {'undrained' if undrain else 'drained'}"
        raise UnknownNode(f"unknown node {node!r}")

    async def apply_policy(self, policy_yaml_text: str) -> str:
        """Record the policy text."""
        new = self._edit()
        self.actions.append(("apply_policy", policy_yaml_text))
        self._publish(new)
        return "policy applied"


class RayFleetSource(_Versioned):
    """FleetSource over fleet.ray_adapter.backend.ControllerClient with a background long-poll."""

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
        namespace: str = "edgefleet",
        name: str = "edgefleet-controller",
        address: str | None = None,
        **kwargs: Any,
    ) -> RayFleetSource:
        """Connect to the controller (ControllerClient.connect; joins Ray once, blocking)
        and start polling. kwargs: poll_timeout_s, retry_s."""
        from fleet.ray_adapter.backend import ControllerClient

        client = ControllerClient.connect(namespace, name, address)
        source = cls(client, **kwargs)
        await source.start()
        return source

    async def start(self) -> None:
        """Fetch the first state, then keep it fresh in a background task."""
        self._publish(await self._client.get_state(0, 0))
        self._task = asyncio.create_task(self._poll(), name="edgefleet-fleet-poll")

    async def _poll(self) -> None:
        while True:
            version = self._state.version if self._state is not None else 0
            try:
                st = await self._client.get_state(version, self._poll_timeout_s)
                self.last_error = None
                if st is not None and (self._state is None or st.version > self._state.version):
                    self._publish(st)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 -- the loop never dies on one error
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("fleet state poll failed: %s", self.last_error)
                await asyncio.sleep(self._retry_s)

    async def state(self) -> FleetState:
        """The local copy (fetched once if polling has not started)."""
        if self._state is None:
            self._publish(await self._client.get_state(0, 0))
        return self._state  # type: ignore[no-any-return]

    async def watch(self, after_version: int, timeout_s: float | None = None) -> FleetState:
        """Wait for the poller to see a newer state."""
        if self._state is None:
            await self.state()
        return await self._wait_newer(after_version, timeout_s)  # type: ignore[no-any-return]

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
