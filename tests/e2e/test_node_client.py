"""A non-Python client calls the router: Node.js with @grpc/grpc-js and @grpc/proto-loader loads the
.proto files with protos/ as its root (as any grpc-js application would) and calls Router/Infer and
Fleet/GetFleet on a router started here (real KServe replicas, see tests.fixtures.router_rig).

The Node packages come from ./node_modules (`make install`), else they are installed into a
temporary folder with npm; the test is skipped only when node or npm is not on the machine.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.router_rig import real_router

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).parent / "node" / "router_client.js"
PACKAGES = ("@grpc/grpc-js", "@grpc/proto-loader")


@pytest.fixture(scope="module")
def node_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A node_modules folder holding grpc-js and proto-loader (the repository's, or a fresh one)."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node/npm not available: cannot run the Node.js client (install Node.js 20+)")
    local = ROOT / "node_modules"
    if all((local / name / "package.json").exists() for name in PACKAGES):
        return local
    wanted = json.loads((ROOT / "package.json").read_text())["devDependencies"]
    prefix = tmp_path_factory.mktemp("node")
    specs = [f"{name}@{wanted[name]}" for name in PACKAGES]
    result = subprocess.run(
        ["npm", "install", "--prefix", str(prefix), "--no-audit", "--no-fund", "--no-save", *specs],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, f"npm install failed: {result.stdout}{result.stderr}"
    return prefix / "node_modules"


async def _run_node(node_modules: Path, address: str, key: str, text: str) -> dict[str, Any]:
    proc = await asyncio.create_subprocess_exec(
        "node",
        str(SCRIPT),
        str(ROOT / "protos"),
        address,
        key,
        text,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "NODE_PATH": str(node_modules)},
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode == 0, err.decode()
    return dict(json.loads(out))


async def test_node_client_calls_infer_and_get_fleet(node_path: Path, model_registry: Path) -> None:
    async with real_router(model_registry) as rig:
        got = await _run_node(
            node_path, rig.address, rig.api_key, "what is the balance of my checking account"
        )

    infer = got["infer"]
    assert infer["ok"], infer
    (result,) = infer["value"]["results"]
    assert result["classification"]["label"] == "balance"
    assert result["output"] == "classification"  # the oneof, as proto-loader reports it
    assert result["served_by"]["tier"] == "EDGE" and result["served_by"]["model"] == "clinc-banking"
    assert result["domain"] == "banking" and result["route"] == "intents"
    assert [step["target"] for step in result["trace"]] == ["domain-router", "clinc-banking"]
    assert result["cost_usd"] == pytest.approx(0.000003) and infer["value"]["request_id"]

    assert got["badInput"] == {"ok": False, "code": "INVALID_ARGUMENT", "details": got["badInput"]["details"]}
    assert "no input" in got["badInput"]["details"]
    assert got["wrongKey"]["code"] == "UNAUTHENTICATED"

    snapshot = got["snapshot"]
    assert snapshot["ok"], snapshot
    deployments = {d["name"]: d for d in snapshot["value"]["deployments"]}
    assert set(deployments) == {"domain-router", "clinc-banking", "generalist"}
    assert deployments["clinc-banking"]["replicas"][0]["address"].startswith("127.0.0.1:")
    assert [r["name"] for r in snapshot["value"]["routes"]] == ["intents"]
