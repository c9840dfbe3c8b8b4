"""fleet.models.store: a registry writer killed at any point leaves the old or the new version
whole; concurrent writers do not lose a version; names cannot leave the registry."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from fleet.errors import ModelLoadError
from fleet.models.manifest import TensorSpec, load_bundle, resolve_model_dir
from fleet.models.registry import list_models, prune_old_versions, write_latest, write_model_version

ROOT = Path(__file__).resolve().parents[2]

WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from fleet.models import store
    from fleet.models.manifest import TensorSpec
    from fleet.models.registry import write_model_version

    registry, version, fill, stop_at = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]

    def crash_point(stage: str) -> None:
        if stage == stop_at:
            print(stage, flush=True)
            sys.stdin.read()  # blocks until the parent kills this process

    store.crash_point = crash_point
    files = {f"part{i}.bin": fill.encode() * 4096 for i in range(8)}
    files.update({"model.xml": b"<net/>", "model.bin": fill.encode()})
    write_model_version(
        Path(registry), name="m", version=version, task="classify", labels=["a", "oos"], precision="FP32",
        featurizer={"kind": "hashed", "dim": 4}, inputs=[TensorSpec(name="FEATURES", datatype="FP32", shape=[-1, 4])],
        outputs=[TensorSpec(name="PROBS", datatype="FP32", shape=[-1, 2])], files=files,
    )
    print("done", flush=True)
    """
)


def _writer(registry: Path, version: str, fill: str, stop_at: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, str(registry), version, fill, stop_at],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )


def _fill_of(registry: Path, version: str) -> str:
    bundle = load_bundle(resolve_model_dir(registry, "m", version))  # verifies every sha256
    return bundle.files["model.bin"].decode()


def _write_whole(registry: Path, version: str, fill: str) -> None:
    proc = _writer(registry, version, fill, stop_at="never")
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0 and "done" in out


@pytest.mark.parametrize(
    ("stage", "expected"), [("file-written", "a"), ("target-ready", "a"), ("link-swapped", "b")]
)
def test_a_writer_killed_mid_way_leaves_a_whole_version(tmp_path: Path, stage: str, expected: str) -> None:
    _write_whole(tmp_path, "1", "a")
    proc = _writer(tmp_path, "1", "b", stop_at=stage)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == stage
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert _fill_of(tmp_path, "1") == expected
    _write_whole(tmp_path, "1", "c")  # the next write succeeds and clears what the crash left
    assert _fill_of(tmp_path, "1") == "c"
    assert len(list((tmp_path / "m" / ".store").iterdir())) == 1


def test_concurrent_writers_keep_every_version(tmp_path: Path) -> None:
    procs = [_writer(tmp_path, str(v), "x", stop_at="never") for v in range(1, 5)]
    for proc in procs:
        proc.communicate(timeout=60)
        assert proc.returncode == 0
    [entry] = list_models(tmp_path)
    assert entry.versions == ["1", "2", "3", "4"]
    for v in entry.versions:
        assert _fill_of(tmp_path, v) == "x"
    write_latest(tmp_path, "m", "2")
    prune_old_versions(tmp_path)
    assert list_models(tmp_path)[0].versions == ["2"] and _fill_of(tmp_path, "2") == "x"


@pytest.mark.parametrize("name", ["../escape", "a/b", "..", ".hidden", "", "x" * 200])
def test_names_cannot_leave_the_registry(tmp_path: Path, name: str) -> None:
    with pytest.raises(ModelLoadError, match="not allowed"):
        resolve_model_dir(tmp_path, name)
    with pytest.raises(ModelLoadError, match="not allowed"):
        write_model_version(
            tmp_path,
            name=name,
            version="1",
            task="classify",
            labels=["a"],
            precision="FP32",
            featurizer={"kind": "hashed", "dim": 4},
            inputs=[TensorSpec(name="F", datatype="FP32", shape=[-1, 4])],
            outputs=[TensorSpec(name="PROBS", datatype="FP32", shape=[-1, 1])],
            files={"model.xml": b"x"},
        )


def test_a_latest_file_pointing_outside_is_refused(tmp_path: Path) -> None:
    _write_whole(tmp_path, "1", "a")
    (tmp_path / "m" / "latest").write_text("../../etc\n")
    with pytest.raises(ModelLoadError, match="not allowed"):
        resolve_model_dir(tmp_path, "m")
