"""cli.node_commands: labels, node records, and which node `leave` means (no Ray, no processes)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from cli.node_commands import _joined, node_join, parse_labels
from fleet.ray_adapter.node_process import NodeProcess


def test_labels_parse_and_refuse_malformed_pairs() -> None:
    assert parse_labels("site=store-7, accel=npu,,") == {"site": "store-7", "accel": "npu"}
    with pytest.raises(SystemExit, match="not key=value"):
        parse_labels("site")


def test_records_round_trip_and_leave_picks_the_only_node(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EDGEFLEET_HOME", str(tmp_path))
    with pytest.raises(SystemExit, match="joined from here: none"):
        _joined(None)
    node = NodeProcess("store-7", "10.0.0.1:6379", 4242, "/x.log", {"site": "s"}, [4243], 1.0)
    (tmp_path / "nodes").mkdir()
    (tmp_path / "nodes" / "store-7.json").write_text(node.to_json())
    assert NodeProcess.from_json(_joined(None).read_text()) == node
    (tmp_path / "nodes" / "kiosk.json").write_text(node.to_json())
    with pytest.raises(SystemExit, match="kiosk, store-7"):
        _joined(None)
    with pytest.raises(SystemExit, match="no node 'gone'"):
        _joined("gone")


def test_dry_run_prints_the_blocking_command(capsys: pytest.CaptureFixture[str]) -> None:
    args = argparse.Namespace(
        head="10.0.0.1:6379", labels="site=s", num_cpus=1.0, name="n1", dry_run=True, timeout=1.0
    )
    assert node_join(args) == 0
    out = capsys.readouterr().out
    assert (
        "start --address=10.0.0.1:6379" in out and "edgefleet.io/node=n1,site=s" in out and "--block" in out
    )
