"""The import contracts of pyproject.toml ([tool.importlinter], run by `make lint`) hold on this
tree, and they can fail: the same contracts on a copy with a forbidden import, a cross-package
import and a cycle are reported broken, each by name."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("edgefleet", "cli", "fleet", "factory", "router", "standin", "tui", "bench", "protos", "client")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--config", str(tree / "pyproject.toml")],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _copy(tmp_path: Path) -> Path:
    tree = tmp_path / "tree"
    tree.mkdir()
    for name in PACKAGES:
        shutil.copytree(ROOT / name, tree / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tree / "pyproject.toml")
    return tree


def _append(path: Path, line: str) -> None:
    path.write_text(path.read_text(encoding="utf-8") + f"\n{line}  # noqa\n", encoding="utf-8")


def test_contracts_hold_on_this_tree(tmp_path: Path) -> None:
    result = _lint(_copy(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_contracts_fail_on_a_broken_tree(tmp_path: Path) -> None:
    tree = _copy(tmp_path)
    _append(tree / "router" / "engine.py", "import ray")
    _append(tree / "router" / "targets.py", "from fleet.errors import FleetError")
    _append(tree / "fleet" / "control" / "placement.py", "from fleet.control import manager")
    _append(tree / "edgefleet" / "stats.py", "import openvino")
    _append(tree / "client" / "results.py", "from router.errors import RouterError")
    result = _lint(tree)
    out = result.stdout
    assert result.returncode != 0, out
    broken = out[out.index("Broken contracts") :]
    for contract in (
        "Ray only in the Ray adapter",
        "The router never imports the fleet",
        "No import cycles inside any package",
        "The kernel stays light",
        "The client SDK stands alone",
    ):
        assert contract in broken, out
    assert "router.engine -> ray" in out and ".placement -> .manager" in out
