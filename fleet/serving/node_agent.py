"""A tiny per-node agent: OpenVINO devices, CPU/memory load and a heartbeat.

A plain class; :mod:`fleet.ray_adapter.backend` places one as a Ray actor (``num_cpus=0``) on every node.
Devices a node *advertises* (Ray resources ``ov_<DEV>``) but OpenVINO does not see there are
reported with ``simulated=True`` (the simulated nodes of ``edgefleet up``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import psutil

from edgefleet.state import DeviceState


def describe_devices(advertised: Sequence[str], real: Sequence[Any]) -> list[DeviceState]:
    """Advertised devices matched to OpenVINO's (``GPU`` matches ``GPU.0``); unmatched -> simulated.

    With nothing advertised, the real devices are listed as they are.
    """
    if not advertised:
        return [DeviceState(d.name, d.full_name, list(d.capabilities), False) for d in real]
    out: list[DeviceState] = []
    for name in advertised:
        match = next((d for d in real if d.name == name or d.name.split(".")[0] == name), None)
        if match is None:
            out.append(
                DeviceState(name, f"simulated {name} (not present in OpenVINO on this node)", [], True)
            )
        else:
            out.append(DeviceState(name, match.full_name, list(match.capabilities), False))
    return out


class NodeAgent:
    """Reports what its node offers and how loaded it is."""

    def __init__(self, node_name: str, advertised: Sequence[str]) -> None:
        self.node_name = node_name
        self.advertised = list(advertised)
        self._devices: list[DeviceState] | None = None
        psutil.cpu_percent(interval=None)  # prime the CPU counter

    def _discover(self) -> list[DeviceState]:
        if self._devices is None:
            try:
                from fleet.serving.runtime import available_devices

                real: list[Any] = list(available_devices())
            except Exception:  # noqa: BLE001 - OpenVINO unusable here: everything advertised is simulated
                real = []
            self._devices = describe_devices(self.advertised, real)
        return self._devices

    def report(self) -> dict[str, Any]:
        """Devices, CPU and memory percent, and the time of this report."""
        return {
            "node_name": self.node_name,
            "devices": self._discover(),
            "cpu_percent": float(psutil.cpu_percent(interval=None)),
            "memory_percent": float(psutil.virtual_memory().percent),
            "unix": time.time(),
        }
