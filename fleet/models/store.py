"""Crash-safe writes to the model registry.

A version folder ``REGISTRY/<name>/<version>`` is a symbolic link to an immutable folder
``REGISTRY/<name>/.store/<version>.<unique>``. A write assembles the new folder under a unique
name, syncs every file and the folder, then swaps the link with one atomic ``rename``; the old
target is deleted afterwards. A writer killed at any point therefore leaves the link pointing at
the old version or at the new one, each whole; what a crash leaves behind is an unreferenced
folder under ``.store`` that the next write of that model removes. Writers of one model take an
exclusive ``flock`` on ``REGISTRY/<name>/.lock``; readers need no lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path

STORE_DIR = ".store"
LOCK_FILE = ".lock"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def atomic_write(path: Path, data: bytes) -> None:
    """Replace the file `path` with `data`: a unique temporary file, synced, renamed into place."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        _write_synced(tmp, data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(path.parent)


@contextlib.contextmanager
def writer_lock(model_dir: Path) -> Iterator[None]:
    """Hold the exclusive writer lock of one model's folder (created when missing)."""
    model_dir.mkdir(parents=True, exist_ok=True)
    with open(model_dir / LOCK_FILE, "a+b") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def crash_point(stage: str) -> None:
    """A named point in the write sequence; tests replace this to kill a writer there."""


def publish_version(model_dir: Path, version: str, files: Mapping[str, bytes]) -> Path:
    """Write `files` as ``model_dir/version`` (replacing an existing version atomically); the
    caller holds :func:`writer_lock`. Returns the version path (the link)."""
    store = model_dir / STORE_DIR
    store.mkdir(parents=True, exist_ok=True)
    _collect_garbage(model_dir)
    target = store / f"{version}.{secrets.token_hex(6)}"
    staging = store / f".staging-{target.name}"
    staging.mkdir()
    try:
        for filename, data in files.items():
            _write_synced(staging / filename, data)
            crash_point("file-written")
        _fsync_dir(staging)
        os.rename(staging, target)
        _fsync_dir(store)
        crash_point("target-ready")
        link = model_dir / version
        old_target = _link_target(link)
        if link.exists() and old_target is None:
            _migrate_plain_folder(link, store)
            old_target = _link_target(link)
        tmp_link = model_dir / f".{version}.{secrets.token_hex(4)}.link"
        os.symlink(Path(STORE_DIR) / target.name, tmp_link)
        os.replace(tmp_link, link)
        _fsync_dir(model_dir)
        crash_point("link-swapped")
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if old_target is not None and old_target != target:
        shutil.rmtree(old_target, ignore_errors=True)
    return link


def remove_version(link: Path) -> None:
    """Delete one version (the link, then its folder)."""
    target = _link_target(link)
    if target is None:
        shutil.rmtree(link, ignore_errors=True)
        return
    link.unlink(missing_ok=True)
    shutil.rmtree(target, ignore_errors=True)


def _link_target(link: Path) -> Path | None:
    if not link.is_symlink():
        return None
    return (link.parent / os.readlink(link)).resolve()


def _migrate_plain_folder(folder: Path, store: Path) -> None:
    """A version written before versions were links: move it into the store behind a link."""
    moved = store / f"{folder.name}.{secrets.token_hex(6)}"
    os.rename(folder, moved)
    os.symlink(Path(STORE_DIR) / moved.name, folder)


def _collect_garbage(model_dir: Path) -> None:
    """Remove store folders no version links to (left by a writer that crashed)."""
    store = model_dir / STORE_DIR
    live = {t for p in model_dir.iterdir() if (t := _link_target(p)) is not None}
    for path in store.iterdir():
        if path.resolve() not in live:
            shutil.rmtree(path, ignore_errors=True)
    for path in model_dir.glob(".*.link"):
        path.unlink(missing_ok=True)
    for path in model_dir.glob(".*.tmp"):
        path.unlink(missing_ok=True)
