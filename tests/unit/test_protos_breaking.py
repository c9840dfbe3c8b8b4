"""`python -m protos.breaking` (buf breaking against the base commit) on throw-away git repositories.

Each test copies protos/ and buf.yaml into a fresh repository, commits, edits and runs the check
there as `make lint` does. Needs buf from `make install` (node_modules); skipped without it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUF = ROOT / "node_modules" / ".bin" / "buf"
COMMON = Path("protos/edgefleet/v1/common.proto")

pytestmark = pytest.mark.skipif(not BUF.exists(), reason="buf is not installed: run `make install` (npm)")


def _git(repo: Path, *args: str) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.invalid",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.invalid",
    }
    out = subprocess.run(["git", *args], cwd=repo, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout


def _repo(tmp_path: Path, *, old_layout: bool = False) -> Path:
    """A repository whose first commit (on main) holds the protos (as before buf, when asked)."""
    repo = tmp_path / "repo"
    shutil.copytree(ROOT / "protos", repo / "protos", ignore=shutil.ignore_patterns("__pycache__", "*_pb2*"))
    if old_layout:  # imports by repository path, no buf.yaml: the layout this change replaced
        for proto in (repo / "protos").rglob("*.proto"):
            text = proto.read_text().replace('import "edgefleet/', 'import "protos/edgefleet/')
            proto.write_text(text)
    else:
        shutil.copy(ROOT / "buf.yaml", repo / "buf.yaml")
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "base")
    return repo


def _commit_all(repo: Path, message: str) -> None:
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", message)


def _edit(repo: Path, old: str, new: str, path: Path = COMMON) -> None:
    text = (repo / path).read_text()
    assert old in text
    (repo / path).write_text(text.replace(old, new))


def _check(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "protos.breaking", *args],
        cwd=repo,
        env={**os.environ, "EDGEFLEET_BUF": str(BUF), "EDGEFLEET_BUF_AGAINST": ""},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_branch_is_compared_with_its_merge_base_not_with_mains_tip(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    _git(repo, "checkout", "-q", "-b", "feature")
    _edit(repo, "  double ms = 4;", "  double ms = 4;\n  string note = 5;")  # compatible: a new field
    _commit_all(repo, "feature: a new field")
    _git(repo, "checkout", "-q", "main")
    _edit(repo, "  bool stand_in = 7;", "  bool stand_in = 7;\n  string zone = 8;")  # main moved on
    _commit_all(repo, "main: another field")
    _git(repo, "checkout", "-q", "feature")
    ok = _check(repo)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "the merge base with main" in ok.stdout
    _edit(repo, "  string reason = 3;", "  string reason = 6;")  # renumbered: breaks the wire
    bad = _check(repo)
    assert bad.returncode != 0
    assert '"reason"' in bad.stdout and "TraceStep" in bad.stdout


def test_on_main_the_previous_commit_is_the_base(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    _edit(repo, "  double ms = 4;", "")  # a deleted field
    _commit_all(repo, "drop a field")
    bad = _check(repo)
    assert bad.returncode != 0 and "HEAD~1" in bad.stderr
    assert 'Previously present field "4" with name "ms"' in bad.stdout


def test_a_base_from_before_the_proto_root_layout_is_compared_by_package(tmp_path: Path) -> None:
    repo = _repo(tmp_path, old_layout=True)
    for proto in (repo / "protos").rglob("*.proto"):
        proto.write_text((ROOT / proto.relative_to(repo)).read_text())
    shutil.copy(ROOT / "buf.yaml", repo / "buf.yaml")
    _commit_all(repo, "proto root layout")
    moved = _check(repo)
    assert moved.returncode == 0, moved.stdout + moved.stderr
    assert "PACKAGE level" in moved.stdout
    _edit(repo, "HOSTED = 2;", "HOSTED = 3;")
    assert _check(repo).returncode != 0


def test_nothing_to_compare_without_a_previous_commit(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    result = _check(repo)
    assert result.returncode == 0 and "nothing to compare" in result.stdout
    asked = _check(repo, "--against", "no-such-ref")
    assert asked.returncode != 0 and "no such commit" in asked.stderr
