"""Which model versions each deployment runs, for the manager: loading the bundles, rolling
updates, canaries and their verdicts.

Mixed into :class:`fleet.control.manager.FleetManager`. Every pass resolves each deployment's
model (the registry's ``latest``, or the version/path the policy names) and moves its
:class:`fleet.control.rollout.VersionTrack` (kept in the desired state, so it survives a
controller restart): without ``rollout`` a new version rolls over at once (make-before-break),
with it the new version runs as a canary beside the stable one. Routers report each version's
answers (:meth:`record_outcomes`); :meth:`judge_canaries` promotes or rolls back a canary on them
(:func:`fleet.control.rollout.judge`), or at once when a canary replica fails.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from edgefleet.policy.schema import ModelRef
from fleet.control.desired import DesiredState
from fleet.control.reconcile import DEAD, READY, UNHEALTHY, Canary, StartReplica
from fleet.control.rollout import VersionStats, VersionTrack, judge, merged, next_track, promote, roll_back
from fleet.control.snapshot import ReplicaRecord
from fleet.errors import FleetError
from fleet.models.manifest import ModelBundle, load_bundle, resolve_model_dir

REPORT_TTL_S = 3600.0  # a router silent this long no longer counts


class ModelVersions:
    """Bundles, version tracks and canary verdicts (see the module docstring)."""

    desired: DesiredState
    base_dir: Path
    registry: Path
    replicas: dict[str, ReplicaRecord]
    bundles: dict[str, ModelBundle]  # deployment -> its stable version's bundle
    canary_bundles: dict[str, ModelBundle]  # deployment -> its canary's bundle
    bundle_errors: dict[str, str]
    backoff: dict[str, tuple[float, int, str]]
    outcome_reports: dict[str, tuple[dict[str, Any], float]]  # router id -> (report, monotonic time)
    rollout_notes: dict[str, str]  # deployment -> the running canary's measurements so far
    _bundle_cache: dict[Path, ModelBundle]

    def event(self, message: str) -> None:
        """Record a human-readable event (FleetManager implements it)."""
        raise NotImplementedError

    async def persist(self) -> None:
        """Save the desired state (FleetManager implements it)."""
        raise NotImplementedError

    # -- loading -------------------------------------------------------------------------------
    def _model_path(self, ref: ModelRef, version: str | None = None) -> Path:
        if ref.path:
            if version is not None:
                raise FleetError(f"model {ref.name} is a fixed folder ({ref.path}); no other version of it")
            return self.base_dir / ref.path
        return resolve_model_dir(self.registry, ref.name, version or ref.version)

    async def _bundle_at(self, path: Path, used: dict[Path, ModelBundle]) -> ModelBundle:
        bundle = used.get(path) or self._bundle_cache.get(path)
        if bundle is None:
            bundle = await asyncio.to_thread(load_bundle, path)
        used[path] = bundle
        return bundle

    async def _load_bundles(self) -> None:
        """Resolve every deployment's model, move its version track, load the stable (and
        canary) bundles; a model that does not load is a standing error of its deployment."""
        policy = self.desired.policy
        used: dict[Path, ModelBundle] = {}
        changed = False
        for dep in self.desired.deployments():
            ref = policy.model(dep.model)
            try:
                latest = await self._bundle_at(self._model_path(ref), used)
                before = self.desired.versions.get(dep.name)
                track, note = next_track(before, latest.version, dep.rollout)
                if note:
                    self.event(f"{dep.name}: {note}")
                stable, canary = latest, None
                if track.stable != latest.version or (track.canary and track.canary != latest.version):
                    try:
                        if track.stable != latest.version:
                            stable = await self._bundle_at(self._model_path(ref, track.stable), used)
                        if track.canary:
                            canary = await self._bundle_at(self._model_path(ref, track.canary), used)
                    except FleetError as exc:
                        self.event(f"{dep.name}: {exc}; running {latest.version} on every replica")
                        track, stable, canary = (
                            VersionTrack(latest.version, "", track.rejected, str(exc)),
                            latest,
                            None,
                        )
                elif track.canary:
                    canary = latest
                if track != before:
                    self.desired.versions[dep.name] = track
                    changed = True
                self.bundles[dep.name] = stable
                if canary is not None:
                    self.canary_bundles[dep.name] = canary
                else:
                    self.canary_bundles.pop(dep.name, None)
                if dep.name in self.bundle_errors:
                    self.event(f"{dep.name}: model {ref.name} loads again")
                self.bundle_errors.pop(dep.name, None)
            except FleetError as exc:
                if self.bundle_errors.get(dep.name) != str(exc):
                    self.event(f"{dep.name}: cannot load model: {exc}")
                self.bundle_errors[dep.name] = f"cannot load model: {exc}"
        self._bundle_cache = used or self._bundle_cache
        if changed:
            await self.persist()

    def bundle_for(self, action: StartReplica) -> ModelBundle:
        """The bundle a new replica starts with: its canary's, or the stable version's."""
        canary = self.canary_bundles.get(action.deployment)
        if action.version and canary is not None and canary.version == action.version:
            return canary
        return self.bundles[action.deployment]

    def stable_versions(self) -> dict[str, str]:
        """Deployment -> the version its (non-canary) replicas should run."""
        return {name: bundle.version for name, bundle in self.bundles.items()}

    def canaries(self) -> dict[str, Canary]:
        """Deployment -> its canary in progress (for reconcile.plan)."""
        out: dict[str, Canary] = {}
        for dep in self.desired.deployments():
            bundle = self.canary_bundles.get(dep.name)
            if dep.rollout is not None and bundle is not None:
                out[dep.name] = Canary(bundle.version, dep.rollout.canary_replicas)
        return out

    # -- measurements and verdicts -------------------------------------------------------------
    def record_outcomes(self, report: dict[str, Any]) -> None:
        """Keep a router's latest report of per-version outcomes (see router.rollout_tracker)."""
        router = str(report.get("router") or "")
        if router:
            self.outcome_reports[router] = (report, time.monotonic())

    def _reports(self) -> list[dict[str, Any]]:
        now = time.monotonic()
        for router in [r for r, (_, t) in self.outcome_reports.items() if now - t > REPORT_TTL_S]:
            del self.outcome_reports[router]
        return [report for report, _ in self.outcome_reports.values()]

    async def judge_canaries(self) -> None:
        """Promote or roll back each canary that has a verdict; note the others' progress."""
        changed = False
        reports = self._reports()
        for dep in self.desired.deployments():
            track = self.desired.versions.get(dep.name)
            if track is None or not track.canary:
                self.rollout_notes.pop(dep.name, None)
                continue
            if dep.rollout is None:
                verdict, reason = "promote", "the policy no longer asks for a canary"
            else:
                trial = [
                    r
                    for r in self.replicas.values()
                    if r.deployment == dep.name and r.version == track.canary
                ]
                failed = next((r for r in trial if r.state in (UNHEALTHY, DEAD)), None)
                if failed is not None:
                    verdict, reason = (
                        "rollback",
                        f"canary replica {failed.replica_id} failed: {failed.detail or failed.state}",
                    )
                elif not any(r.state == READY for r in trial):
                    self.rollout_notes[dep.name] = f"canary {track.canary}: starting"
                    continue
                else:
                    stats = merged(reports, dep.name, track.canary)
                    verdict, reason = judge(
                        dep.rollout,
                        stats.get(track.stable, VersionStats()),
                        stats.get(track.canary, VersionStats()),
                    )
            if verdict == "wait":
                share = dep.rollout.canary_share if dep.rollout is not None else 0.0
                self.rollout_notes[dep.name] = f"canary {track.canary} at {share:.0%}: {reason}"
                continue
            new = promote(track, reason) if verdict == "promote" else roll_back(track, reason)
            self.desired.versions[dep.name] = new
            self.rollout_notes.pop(dep.name, None)
            if verdict == "rollback":
                self.canary_bundles.pop(dep.name, None)
                self.backoff.pop(dep.name, None)  # the stable version is not the one failing
            self.event(f"{dep.name}: {new.last}")
            changed = True
        if changed:
            await self.persist()

    def rollout_view(self) -> dict[str, tuple[str, float, float, str]]:
        """Deployment -> (canary version, canary share, shadow share, summary) for the snapshot."""
        out: dict[str, tuple[str, float, float, str]] = {}
        for dep in self.desired.deployments():
            track = self.desired.versions.get(dep.name)
            if track is None:
                continue
            bundle = self.canary_bundles.get(dep.name)
            if bundle is not None and dep.rollout is not None:
                note = self.rollout_notes.get(dep.name, f"canary {bundle.version}")
                out[dep.name] = (bundle.version, dep.rollout.canary_share, dep.rollout.shadow_share, note)
            elif track.last:
                out[dep.name] = ("", 0.0, 0.0, track.last)
        return out
