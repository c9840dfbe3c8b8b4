"""Unit tests of fleet.ray_adapter.cluster's pure parts (no Ray started)."""

from __future__ import annotations

import json

from fleet.ray_adapter.cluster import join_command
from fleet.serving.node_agent import describe_devices
from fleet.serving.runtime import DeviceInfo


def test_join_command_advertises_devices_and_labels() -> None:
    cmd = join_command(
        "10.0.0.1:6379",
        {"edgefleet.io/node": "kiosk-7", "site": "store-9"},
        num_cpus=4,
        resources={"ov_CPU": 1.0, "ov_NPU": 1.0},
    )
    assert cmd[1:3] == ["start", "--address=10.0.0.1:6379"]
    assert "--num-cpus=4" in cmd
    resources = next(c for c in cmd if c.startswith("--resources="))
    assert json.loads(resources.split("=", 1)[1]) == {"ov_CPU": 1.0, "ov_NPU": 1.0}
    assert "--labels=edgefleet.io/node=kiosk-7,site=store-9" in cmd


def test_advertised_devices_missing_from_openvino_are_simulated() -> None:
    real = [DeviceInfo("CPU", "Some CPU", ["FP32", "INT8"]), DeviceInfo("GPU.0", "Some iGPU", ["FP16"])]
    devices = {d.name: d for d in describe_devices(["CPU", "GPU", "NPU"], real)}
    assert not devices["CPU"].simulated and devices["CPU"].capabilities == ["FP32", "INT8"]
    assert not devices["GPU"].simulated and devices["GPU"].full_name == "Some iGPU"
    assert devices["NPU"].simulated and "simulated" in devices["NPU"].full_name
    assert [d.name for d in describe_devices([], real)] == ["CPU", "GPU.0"]


def test_join_uses_the_ray_of_this_environment_and_can_block() -> None:
    import sys
    from pathlib import Path

    from fleet.ray_adapter.node_process import ray_executable

    assert ray_executable() == str(Path(sys.executable).parent / "ray")  # no PATH needed in a venv
    cmd = join_command("10.0.0.1:6379", {}, num_cpus=1, resources={}, block=True)
    assert cmd[0] == ray_executable() and cmd[-1] == "--block"
