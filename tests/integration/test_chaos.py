"""The chaos suite's short version (``make chaos`` runs all of it): a real fleet (Ray cluster, the
controller and its replicas, the stand-in behind the fault proxy, the router in its own process)
under a steady load from a separate process, one fault after the other: the hosted tier down, a
replica killed, the router restarted, the router stopped with SIGTERM. No request may be lost."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def test_short_chaos_loses_no_request(tmp_path: Path) -> None:
    out = tmp_path / "out"
    run = subprocess.run(
        [sys.executable, "-m", "bench.chaos", "--short", "--out", str(out), "--work", str(tmp_path / "work")],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    report = json.loads((out / "chaos.json").read_text()) if (out / "chaos.json").exists() else None
    assert report is not None, run.stdout[-3000:] + run.stderr[-3000:]
    rows = {s["name"]: s for s in report["scenarios"]}
    assert list(rows) == ["hosted-down", "replica-kill", "router-restart", "sigterm"], run.stdout[-3000:]
    for name, row in rows.items():
        assert row["sent"] > 0 and row["lost"] == 0 and row["errors"] == 0, (name, row)
        assert row["sent"] == row["ok"] + row["degraded"] + row["retriable"], (name, row)
    assert rows["replica-kill"]["fleet_back_after_s"] is not None, rows["replica-kill"]  # replaced
    assert rows["sigterm"]["ok"] > 0 and "drained and exited 0" in rows["sigterm"]["fault"], rows["sigterm"]
    assert run.returncode == 0, run.stdout[-3000:]
    assert "| scenario | fault | sent | OK | degraded | retriable | lost |" in run.stdout
