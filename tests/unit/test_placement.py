"""Unit tests of fleet.control.placement (pure, no Ray)."""

from __future__ import annotations

import pytest

from edgefleet.policy.schema import DeploymentConfig
from fleet.control.placement import NodeView, best_device, choose_node, selector_matches
from fleet.errors import PlacementError


def node(name: str, devices: list[str], labels: dict[str, str] | None = None, **kw: object) -> NodeView:
    resources = {"CPU": 1.0, **{f"ov_{d}": 1.0 for d in devices}}
    return NodeView(node_id=f"id-{name}", name=name, labels=labels or {}, resources=resources, **kw)  # type: ignore[arg-type]


SMALL = node("edge-small", ["CPU"], {"site": "store-1"})
ACCEL = node("edge-accel", ["CPU", "GPU"], {"accel": "gpu"})
HEAD = node("head", [])


def test_devices_come_from_ov_resources() -> None:
    assert ACCEL.devices() == ["CPU", "GPU"]
    assert HEAD.devices() == []


def test_preferred_device_wins() -> None:
    dep = DeploymentConfig(name="d", model="m", devices=["GPU", "CPU"])
    where = choose_node(dep, [SMALL, ACCEL, HEAD], {}, {})
    assert (where.node_name, where.device, where.device_prefs) == ("edge-accel", "GPU", ("GPU", "CPU"))
    assert best_device(dep, SMALL) == "CPU"


def test_selector_must_match() -> None:
    dep = DeploymentConfig(name="d", model="m", selector={"site": "store-1"})
    assert choose_node(dep, [ACCEL, SMALL], {}, {}).node_name == "edge-small"
    assert selector_matches({}, {"a": "b"})
    assert not selector_matches({"a": "c"}, {"a": "b"})


def test_spread_then_least_loaded() -> None:
    dep = DeploymentConfig(name="d", model="m")
    # edge-accel already holds a replica of this deployment -> spread to edge-small
    assert choose_node(dep, [SMALL, ACCEL], {}, {"id-edge-accel": 1}).node_name == "edge-small"
    # equal spread -> least loaded overall
    assert choose_node(dep, [SMALL, ACCEL], {"id-edge-small": 3}, {}).node_name == "edge-accel"


def test_drained_and_dead_nodes_are_skipped() -> None:
    dep = DeploymentConfig(name="d", model="m")
    drained = node("edge-small", ["CPU"], drained=True)
    dead = node("edge-accel", ["CPU"], alive=False)
    with pytest.raises(PlacementError, match="no live nodes"):
        choose_node(dep, [dead], {}, {})
    with pytest.raises(PlacementError, match="drained"):
        choose_node(dep, [drained, dead], {}, {})


def test_clear_reasons_when_nothing_fits() -> None:
    with pytest.raises(PlacementError, match="no undrained node has labels site=nowhere"):
        choose_node(DeploymentConfig(name="d", model="m", selector={"site": "nowhere"}), [SMALL], {}, {})
    with pytest.raises(PlacementError, match=r"offers any of devices \['NPU'\]"):
        choose_node(DeploymentConfig(name="d", model="m", devices=["NPU"]), [SMALL, ACCEL], {}, {})
    with pytest.raises(PlacementError, match="no nodes in the cluster"):
        choose_node(DeploymentConfig(name="d", model="m"), [], {}, {})
