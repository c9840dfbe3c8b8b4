"""Reading documents (text, Markdown, JSON lines) and cutting them into chunks."""

from __future__ import annotations

from pathlib import Path

import pytest

from factory.errors import DataError
from factory.rag_chunking import (
    Document,
    chunk_documents,
    markdown_document,
    read_documents,
    split_paragraphs,
    unique_ids,
    windows,
)
from fleet.models.collection_manifest import ChunkingSpec


def words_as_pieces(texts: list[str]) -> list[int]:
    """A stand-in tokenizer: one wordpiece per word, plus [CLS] and [SEP]."""
    return [len(t.split()) + 2 for t in texts]


def test_paragraphs_are_blank_line_separated_blocks() -> None:
    assert split_paragraphs("a  b\nc\n\n\n  \nd\r\n\r\ne ") == ["a b c", "d", "e"]


def test_markdown_headings_prefix_the_next_paragraph_and_h1_is_the_title() -> None:
    doc = markdown_document("guide.md", "# Guide\n\nIntro text.\n\n## Setup\n\nRun make.\n\n## Empty")
    assert doc.title == "Guide"
    assert doc.paragraphs == ("Intro text.", "Setup: Run make.", "Empty")
    assert markdown_document("x.md", "no heading").title == "x.md"


def test_read_documents_by_suffix(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("one\n\ntwo", encoding="utf-8")
    (tmp_path / "b.jsonl").write_text(
        '{"id": "d1", "title": "T", "text": "x\\n\\ny"}\n\n{"text": "z"}\n', encoding="utf-8"
    )
    assert read_documents(tmp_path / "a.txt") == [Document("a.txt", "a", ("one", "two"))]
    assert read_documents(tmp_path / "b.jsonl") == [
        Document("d1", "T", ("x", "y")),
        Document("b.jsonl:3", "", ("z",)),
    ]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("bad.jsonl", '{"text": "ok"}\nnot json\n', "line 2: not JSON"),
        ("bad2.jsonl", '{"title": "no text"}\n', 'line 1: expected an object with a string "text"'),
        ("doc.pdf", "x", "unknown kind of file '.pdf'"),
    ],
)
def test_bad_files_name_the_file_and_line(tmp_path: Path, name: str, content: str, message: str) -> None:
    (tmp_path / name).write_text(content, encoding="utf-8")
    with pytest.raises(DataError, match=message):
        read_documents(tmp_path / name)


def test_windows_cover_the_paragraph_and_the_last_one_ends_at_its_end() -> None:
    words = [str(i) for i in range(300)]
    got = windows(words, 128, 64)
    assert [w[0] for w in got] == ["0", "64", "128", "172"]
    assert got[-1][-1] == "299" and all(len(w) == 128 for w in got)
    assert windows(words[:10], 128, 64) == [words[:10]]


def test_short_paragraphs_are_one_chunk_long_ones_are_windowed() -> None:
    long = " ".join(f"w{i}" for i in range(300))
    docs = [Document("d", "Title", ("short paragraph", long)), Document("e", "", ("x",))]
    chunks = chunk_documents(docs, words_as_pieces, ChunkingSpec())
    assert [(c.doc, c.chunk) for c in chunks] == [("d", 0), ("d", 1), ("d", 2), ("d", 3), ("d", 4), ("e", 0)]
    assert chunks[0].text == "short paragraph" and chunks[0].title == "Title"
    assert chunks[1].text.split()[0] == "w0" and chunks[4].text.split()[-1] == "w299"


def test_the_wordpiece_limit_counts_special_tokens() -> None:
    spec = ChunkingSpec(max_wordpieces=12, window_words=8, stride_words=4)
    ten = " ".join(["w"] * 10)
    eleven = " ".join(["w"] * 11)
    assert len(chunk_documents([Document("d", "", (ten,))], words_as_pieces, spec)) == 1
    assert len(chunk_documents([Document("d", "", (eleven,))], words_as_pieces, spec)) == 2


def test_merging_short_paragraphs() -> None:
    spec = ChunkingSpec(merge_under_words=3)
    chunks = chunk_documents([Document("d", "", ("a", "b c", "d e f", "g"))], words_as_pieces, spec)
    assert [c.text for c in chunks] == ["a b c", "d e f", "g"]


def test_unique_ids() -> None:
    docs = [Document("a", "", ("x",)), Document("a", "", ("y",)), Document("b", "", ("z",))]
    assert [d.id for d in unique_ids(docs)] == ["a", "a#2", "b"]
