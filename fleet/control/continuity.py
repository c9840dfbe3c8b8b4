"""Continuity across controller restarts, for the manager: the desired state saved after every
change and restored by a restarted controller, and the replicas it finds running adopted instead
of duplicated.

Mixed into :class:`fleet.control.manager.FleetManager` (which owns the state these methods read
and write). The desired state goes to a :class:`fleet.control.desired_store.DesiredStore`; the
running replicas come from the backend's ``list_replicas`` and describe themselves in their health
reports (:meth:`fleet.control.snapshot.ReplicaRecord.adopted`).
"""

from __future__ import annotations

import asyncio

from edgefleet.policy.schema import Policy
from fleet.control.desired import DesiredState
from fleet.control.desired_store import DesiredStore
from fleet.control.lifecycle import FleetBackend
from fleet.control.snapshot import ReplicaRecord
from fleet.errors import FleetError


class Continuity:
    """Saving/restoring the desired state and adopting running replicas (see module docstring)."""

    store: DesiredStore
    desired: DesiredState
    backend: FleetBackend
    replicas: dict[str, ReplicaRecord]
    _adopted: bool

    def event(self, message: str) -> None:
        """Record a human-readable event (FleetManager implements it)."""
        raise NotImplementedError

    def _initial_desired(self, policy: Policy, restore: bool) -> DesiredState:
        """The saved desired state when restoring and there is one, else `policy` (saved)."""
        record = None
        if restore:
            try:
                record = self.store.load()
            except Exception as exc:  # noqa: BLE001 - an unreadable store must not keep the controller down
                self.event(f"cannot read the saved desired state ({exc}); starting from the policy")
        if record is not None:
            try:
                desired = DesiredState.from_record(record)
            except FleetError as exc:
                self.event(f"saved desired state refused ({exc}); starting from the policy")
            else:
                kept = ", ".join(f"{k}={v}" for k, v in sorted(desired.scale_overrides.items())) or "none"
                self.event(
                    f"controller restarted: desired state restored (scale overrides: {kept}; "
                    f"drained nodes: {len(desired.drained)})"
                )
                return desired
        desired = DesiredState(policy)
        self._save(desired)
        return desired

    def _save(self, desired: DesiredState) -> None:
        try:
            self.store.save(desired.to_record())
        except Exception as exc:  # noqa: BLE001 - the fleet keeps running; the event says what is at risk
            self.event(f"cannot save the desired state ({exc}); a controller restart would lose changes")

    async def persist(self) -> None:
        """Save the desired state (after every change to it)."""
        await asyncio.to_thread(self._save, self.desired)

    async def adopt(self) -> None:
        """Take over the replicas already running for this controller (started by its previous
        incarnation): ask each for its health report, which says what it is; kill those that do
        not answer or cannot say."""
        found = [(rid, h) for rid, h in await self.backend.list_replicas() if rid not in self.replicas]
        timeout = self.desired.policy.fleet.health_timeout_s
        reports = await asyncio.gather(
            *(self.backend.call(h, "health", timeout_s=timeout) for _, h in found), return_exceptions=True
        )
        adopted: list[str] = []
        for (rid, handle), report in zip(found, reports, strict=True):
            record = None if isinstance(report, BaseException) else ReplicaRecord.adopted(rid, handle, report)
            if record is None:
                why = report if isinstance(report, BaseException) else "no identity in its health report"
                self.event(f"not adopting replica {rid}: {why}; stopping it")
                await self.backend.kill(handle)
                continue
            self.replicas[rid] = record
            adopted.append(
                f"{rid} ({record.deployment} on {record.node_name or record.node_id}, {record.state})"
            )
        self._adopted = True
        if adopted:
            self.event(f"adopted {len(adopted)} running replica(s): {', '.join(sorted(adopted))}")
