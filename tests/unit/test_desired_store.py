"""fleet.control.desired_store: file and memory stores of the desired-state record."""

from __future__ import annotations

from pathlib import Path

from fleet.control.desired_store import FileStore, MemoryStore


def test_file_store_saves_atomically_and_loads(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "run" / "desired.json")
    assert store.load() is None
    store.save({"format": 1, "scale_overrides": {"d": 2}})
    store.save({"format": 1, "scale_overrides": {"d": 3}})
    assert store.load() == {"format": 1, "scale_overrides": {"d": 3}}
    assert [p.name for p in (tmp_path / "run").iterdir()] == ["desired.json"]  # no temp file left


def test_file_store_ignores_a_non_object(tmp_path: Path) -> None:
    path = tmp_path / "desired.json"
    path.write_text("[1, 2]")
    assert FileStore(path).load() is None


def test_memory_store_keeps_copies() -> None:
    record = {"format": 1, "drained": ["n"]}
    store = MemoryStore()
    store.save(record)
    record["drained"].append("m")  # type: ignore[attr-defined]
    assert store.load() == {"format": 1, "drained": ["n"]} and store.saves == 1
