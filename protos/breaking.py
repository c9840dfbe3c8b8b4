"""Fail when the .proto files break compatibility with a base commit (``buf breaking``; ``make lint``).

Run from the repository root: ``python -m protos.breaking [--against REF]``. The base is:

- ``--against REF`` (or ``$EDGEFLEET_BUF_AGAINST``) when given;
- on a branch that has diverged from ``main``: the merge base with ``main``, i.e. everything the
  branch changes (not what ``main`` gained since the branch started);
- otherwise (on ``main`` itself, e.g. CI after a merge): ``HEAD~1``, the previous commit (a merge's
  first parent). With no such commit (a one-commit or shallow clone) there is nothing to compare.

The working tree's protos (uncommitted edits included) are compared. The base's ``protos/`` and
``buf.yaml`` are exported with ``git archive`` into a temporary folder: no clone, no network, so
``make lint`` stays offline. The same check by hand is
``buf breaking --against '.git#ref=REF'`` (buf clones the repository for that).

A base from before the proto-root layout (no ``buf.yaml``; files imported each other by
repository path, ``protos/edgefleet/v1/common.proto``) has other file names, so it is compared at
the PACKAGE level (files may move; no message, field, enum value or rpc may change), the rest with
the rules in ``buf.yaml`` (FILE).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUF_ENV = "EDGEFLEET_BUF"
AGAINST_ENV = "EDGEFLEET_BUF_AGAINST"
PACKAGE_CONFIG = {"version": "v2", "modules": [{"path": "protos"}], "breaking": {"use": ["PACKAGE"]}}


class BaseNotFound(Exception):
    """There is no base commit to compare with (not a git checkout, or no previous commit)."""


def buf_binary(root: Path = ROOT) -> str:
    """``$EDGEFLEET_BUF``, else ``root/node_modules/.bin/buf`` (``make install``), else buf on PATH."""
    env = os.environ.get(BUF_ENV)
    if env:
        return env
    local = root / "node_modules" / ".bin" / "buf"
    if local.exists():
        return str(local)
    found = shutil.which("buf")
    if found is None:
        raise SystemExit("buf not found: run `make install` (npm installs @bufbuild/buf into node_modules)")
    return found


def _git(root: Path, *args: str) -> str | None:
    """stdout of `git args` in `root`, stripped; None when git fails."""
    try:
        result = subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, timeout=60, check=False
        )
    except FileNotFoundError:
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def resolve_base(root: Path, against: str | None = None) -> tuple[str, str]:
    """(commit, why) of the base to compare with (see the module doc); BaseNotFound when none."""
    head = _git(root, "rev-parse", "--verify", "--quiet", "HEAD^{commit}")
    if head is None:
        raise BaseNotFound(f"{root} is not a git checkout with a commit")
    if against:
        commit = _git(root, "rev-parse", "--verify", "--quiet", f"{against}^{{commit}}")
        if commit is None:
            raise SystemExit(f"--against {against}: no such commit")
        return commit, f"{against} (as asked)"
    for main in ("main", "origin/main"):
        if _git(root, "rev-parse", "--verify", "--quiet", f"{main}^{{commit}}") is None:
            continue
        fork = _git(root, "merge-base", "HEAD", main)
        if fork and fork != head:
            return fork, f"the merge base with {main}"
        break
    previous = _git(root, "rev-parse", "--verify", "--quiet", "HEAD~1^{commit}")
    if previous is None:
        raise BaseNotFound("HEAD has no parent commit (a one-commit or shallow clone)")
    return previous, "HEAD~1 (the previous commit)"


def export_base(root: Path, commit: str, dest: Path) -> bool:
    """Write the base's protos/ (and buf.yaml when it has one) into `dest`; True when it has one."""
    paths = ["protos"]
    has_config = _git(root, "cat-file", "-e", f"{commit}:buf.yaml") is not None
    if has_config:
        paths.append("buf.yaml")
    archive = subprocess.run(
        ["git", "archive", "--format=tar", commit, "--", *paths],
        cwd=root,
        capture_output=True,
        timeout=60,
        check=True,
    )
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(dest, filter="data")
    return has_config


def check(root: Path = ROOT, against: str | None = None) -> int:
    """Run buf breaking against the base; 0 when compatible (or nothing to compare), else buf's code."""
    try:
        commit, why = resolve_base(root, against)
    except BaseNotFound as exc:
        print(f"buf breaking: nothing to compare ({exc})")
        return 0
    buf = buf_binary(root)
    with tempfile.TemporaryDirectory(prefix="edgefleet-protos-base-") as tmp:
        modern = export_base(root, commit, Path(tmp))
        args = [buf, "breaking", "--against", tmp]
        level = "buf.yaml rules"
        if not modern:
            args += ["--config", json.dumps(PACKAGE_CONFIG)]
            level = "PACKAGE level (the base predates the proto-root layout)"
        result = subprocess.run(args, cwd=root, timeout=300, check=False)
    short = commit[:12]
    if result.returncode == 0:
        print(f"buf breaking: protos compatible with {short}, {why}; {level}")
    else:
        print(f"buf breaking: protos break compatibility with {short}, {why}; {level}", file=sys.stderr)
    return result.returncode


def main() -> int:
    """Command line: ``python -m protos.breaking [--against REF]``."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--against", default=os.environ.get(AGAINST_ENV) or None, help="base commit or ref")
    args = parser.parse_args()
    return check(ROOT, args.against)


if __name__ == "__main__":
    sys.exit(main())
