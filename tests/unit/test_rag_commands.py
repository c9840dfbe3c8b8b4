"""``edgefleet rag index`` and ``rag eval`` from the command line (tiny files, FP32 queries)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli.main import main
from fleet.models.manifest import load_bundle


def test_rag_index_builds_then_skips(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "notes.md").write_text(
        "# Notes\n\nThe office opens at nine.\n\n## Parking\n\nPark behind the shop."
    )
    (tmp_path / "faq.jsonl").write_text(
        '{"id": "q1", "title": "Refunds", "text": "Refunds take five days."}\n'
    )
    registry = tmp_path / "reg"
    args = [
        "rag",
        "index",
        "--collection",
        "handbook",
        str(tmp_path / "notes.md"),
        str(tmp_path / "faq.jsonl"),
    ]
    args += ["--registry", str(registry), "--passage-precision", "FP32", "--query-precision", "FP32"]
    assert main(args) == 0
    assert "3 chunks from 2 documents, brute index" in capsys.readouterr().out
    manifest = load_bundle(registry / "handbook").manifest
    assert manifest.retrieval is not None and set(manifest.retrieval.sources) == {"notes.md", "faq.jsonl"}
    assert main(args) == 0
    assert "up to date (3 chunks)" in capsys.readouterr().out


def test_rag_index_names_a_bad_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "bad.jsonl").write_text("{oops\n")
    code = main(
        ["rag", "index", "--collection", "x", str(tmp_path / "bad.jsonl"), "--registry", str(tmp_path)]
    )
    assert code == 1 and "bad.jsonl line 1: not JSON" in capsys.readouterr().err


def test_rag_eval_without_a_collection(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rag", "eval", "--registry", str(tmp_path)]) == 1
    assert "model 'squad-dev' not found" in capsys.readouterr().err
