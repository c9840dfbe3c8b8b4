"""The desired state: the policy as written, plus the operator's overrides kept apart from it.

``edgefleet.yaml`` says what the fleet should run; an operator's ``Scale`` and ``Drain`` are
overrides on top of it. They are stored separately so that the policy stays what the file says
(what ``GetFleet`` shows as the policy, what a reload compares against), and so that a policy
reload keeps an operator's scale unless the new policy changes that deployment's ``replicas``.
The controller's own decisions live here too: the replica count the autoscaler chose for
deployments with ``autoscale``, and each deployment's model versions (stable, canary, rolled back;
:class:`fleet.control.rollout.VersionTrack`).

The whole desired state is what the controller persists (:meth:`DesiredState.to_record`, a JSON-able
dict, in a :class:`fleet.control.desired_store.DesiredStore`) and re-reads when Ray restarts it
(:meth:`DesiredState.from_record`), so a controller restart keeps the operator's scale and drains.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from edgefleet.errors import UnknownDeployment
from edgefleet.policy.schema import DeploymentConfig, Policy
from fleet.control.rollout import VersionTrack
from fleet.errors import FleetError

MAX_REPLICAS = 1000
RECORD_FORMAT = 1


@dataclass
class DesiredState:
    """The policy, replica-count overrides by deployment, the drained node ids, the autoscaled
    replica counts and the model version tracks."""

    policy: Policy
    scale_overrides: dict[str, int] = field(default_factory=dict)
    drained: set[str] = field(default_factory=set)
    autoscaled: dict[str, int] = field(default_factory=dict)
    versions: dict[str, VersionTrack] = field(default_factory=dict)

    def deployments(self) -> list[DeploymentConfig]:
        """The policy's deployments with the scale overrides (or, for autoscaled ones, the
        autoscaler's count, within its bounds) applied."""
        out = []
        for d in self.policy.deployments:
            replicas = self.scale_overrides.get(d.name, d.replicas)
            if d.autoscale is not None:
                replicas = d.autoscale.clamp(self.autoscaled.get(d.name, replicas))
            out.append(d if replicas == d.replicas else d.model_copy(update={"replicas": replicas}))
        return out

    def deployment(self, name: str) -> DeploymentConfig:
        """One effective deployment (UnknownDeployment when the policy has none by that name)."""
        for d in self.deployments():
            if d.name == name:
                return d
        known = ", ".join(d.name for d in self.policy.deployments) or "none"
        raise UnknownDeployment(f"unknown deployment {name!r}; known: {known}")

    def scale(self, name: str, replicas: int) -> int:
        """Override a deployment's replica count; returns the count it had."""
        cap = min(MAX_REPLICAS, self.policy.fleet.max_replicas_per_deployment)
        if replicas < 0 or replicas > cap:
            raise FleetError(
                f"replicas must be between 0 and {cap} (fleet.max_replicas_per_deployment), got {replicas}"
            )
        dep = self.deployment(name)
        if dep.autoscale is not None:  # the autoscaler goes on from the operator's count
            self.autoscaled[name] = dep.autoscale.clamp(replicas)
        else:
            self.scale_overrides[name] = replicas
        return dep.replicas

    def replace_policy(self, policy: Policy) -> list[str]:
        """Adopt a new policy; returns the deployments whose scale override it cleared (those it
        removed, or whose ``replicas`` it changed: the file's new word wins)."""
        old = {d.name: d.replicas for d in self.policy.deployments}
        new = {d.name: d.replicas for d in policy.deployments}
        cleared = sorted(n for n in self.scale_overrides if n not in new or new[n] != old.get(n))
        for name in cleared:
            del self.scale_overrides[name]
        old_scaling = {d.name: d.autoscale for d in self.policy.deployments}
        new_scaling = {d.name: d.autoscale for d in policy.deployments}
        for name in [n for n in self.autoscaled if new_scaling.get(n) != old_scaling.get(n)]:
            del self.autoscaled[name]
        for name in [n for n in self.versions if n not in new]:
            del self.versions[name]
        self.policy = policy
        return cleared

    def to_record(self) -> dict[str, Any]:
        """The desired state as plain JSON-able data (what the controller persists)."""
        return {
            "format": RECORD_FORMAT,
            "policy": self.policy.model_dump(mode="json"),
            "scale_overrides": dict(sorted(self.scale_overrides.items())),
            "drained": sorted(self.drained),
            "autoscaled": dict(sorted(self.autoscaled.items())),
            "versions": {name: track.to_record() for name, track in sorted(self.versions.items())},
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> DesiredState:
        """A desired state from :meth:`to_record`'s data (the policy is validated again;
        FleetError when the record is not one)."""
        if not isinstance(record, dict) or record.get("format") != RECORD_FORMAT:
            raise FleetError(f"not a desired-state record of format {RECORD_FORMAT}")
        try:
            policy = Policy.model_validate(record["policy"])
            overrides = {str(k): int(v) for k, v in dict(record.get("scale_overrides") or {}).items()}
            drained = {str(n) for n in record.get("drained") or []}
            autoscaled = {str(k): int(v) for k, v in dict(record.get("autoscaled") or {}).items()}
            versions = {
                str(k): VersionTrack.from_record(v) for k, v in dict(record.get("versions") or {}).items()
            }
        except (KeyError, TypeError, ValueError) as exc:
            raise FleetError(f"unreadable desired-state record: {exc}") from exc
        known = {d.name for d in policy.deployments}
        return cls(
            policy,
            {k: v for k, v in overrides.items() if k in known},
            drained,
            {k: v for k, v in autoscaled.items() if k in known},
            {k: v for k, v in versions.items() if k in known},
        )
