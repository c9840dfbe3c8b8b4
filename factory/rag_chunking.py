"""Documents in, chunks out: reading plain text, Markdown and JSON lines, and cutting them into the
passages a collection indexes.

The recipe (measured on SQuAD, README "Retrieval"): a paragraph of up to ``max_wordpieces``
wordpieces (256, MiniLM's own limit) is one chunk; a longer one is cut into windows of
``window_words`` words starting every ``stride_words`` words (128 / 64), the last window aligned to
the paragraph's end. Paragraphs are separated by blank lines. A Markdown heading is not a chunk of
its own: it is put in front of the paragraph that follows it, and a document's first ``#`` heading
is its title (else the file name). A JSON lines file holds one document per line:
``{"id": optional, "title": optional, "text": required}``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from factory.errors import DataError
from fleet.models.collection_manifest import ChunkingSpec
from fleet.retrieval.collection import Chunk

TEXT_SUFFIXES = (".txt", ".text")
MARKDOWN_SUFFIXES = (".md", ".markdown")
JSONL_SUFFIXES = (".jsonl", ".ndjson")
_BLANK = re.compile(r"\n\s*\n")
_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
CountFn = Callable[[Sequence[str]], list[int]]


@dataclass(frozen=True)
class Document:
    """One source document: id, title and its paragraphs."""

    id: str
    title: str
    paragraphs: tuple[str, ...]


def split_paragraphs(text: str) -> list[str]:
    """Blank-line separated blocks, white space inside each collapsed; empty blocks dropped."""
    return [" ".join(block.split()) for block in _BLANK.split(text.replace("\r\n", "\n")) if block.strip()]


def markdown_document(doc_id: str, text: str) -> Document:
    """A Markdown file: headings prefixed to the next paragraph, the first ``#`` heading the title."""
    title = ""
    paragraphs: list[str] = []
    pending: list[str] = []
    for block in split_paragraphs(text):
        match = _HEADING.match(block)
        if match and "\n" not in block:
            heading = match.group(2).strip()
            if match.group(1) == "#" and not title:
                title = heading
            elif heading:
                pending.append(heading)
            continue
        paragraphs.append(": ".join([*pending, block]) if pending else block)
        pending = []
    if pending:
        paragraphs.append(": ".join(pending))
    return Document(doc_id, title or doc_id, tuple(paragraphs))


def read_documents(path: Path) -> list[Document]:
    """The documents of one file (by suffix: text, Markdown or JSON lines). DataError naming the
    file (and line) when it cannot be read."""
    path = Path(path)
    suffix = path.suffix.lower()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot be read as UTF-8 text: {exc}") from exc
    if suffix in MARKDOWN_SUFFIXES:
        return [markdown_document(path.name, text)]
    if suffix in TEXT_SUFFIXES:
        return [Document(path.name, path.stem, tuple(split_paragraphs(text)))]
    if suffix in JSONL_SUFFIXES:
        return _jsonl_documents(path, text)
    known = ", ".join(TEXT_SUFFIXES + MARKDOWN_SUFFIXES + JSONL_SUFFIXES)
    raise DataError(f"{path}: unknown kind of file {suffix or '(no suffix)'!r}; expected one of {known}")


def _jsonl_documents(path: Path, text: str) -> list[Document]:
    docs: list[Document] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
        except ValueError as exc:
            raise DataError(f"{path} line {number}: not JSON ({exc})") from exc
        if not isinstance(raw, dict) or not isinstance(raw.get("text"), str):
            raise DataError(f'{path} line {number}: expected an object with a string "text"')
        doc_id = str(raw.get("id") or f"{path.name}:{number}")
        title = str(raw.get("title") or "")
        docs.append(Document(doc_id, title, tuple(split_paragraphs(raw["text"]))))
    return docs


def unique_ids(docs: Sequence[Document]) -> list[Document]:
    """The documents with ids made unique (``id#2``, ``id#3`` for repeats), in order."""
    seen: dict[str, int] = {}
    out: list[Document] = []
    for doc in docs:
        count = seen.get(doc.id, 0) + 1
        seen[doc.id] = count
        out.append(doc if count == 1 else Document(f"{doc.id}#{count}", doc.title, doc.paragraphs))
    return out


def windows(words: Sequence[str], size: int, stride: int) -> list[list[str]]:
    """``size``-word windows every ``stride`` words; the last one ends at the last word."""
    if len(words) <= size:
        return [list(words)]
    starts = [*range(0, len(words) - size, stride), len(words) - size]
    return [list(words[s : s + size]) for s in dict.fromkeys(starts)]


def chunk_documents(docs: Sequence[Document], count_wordpieces: CountFn, spec: ChunkingSpec) -> list[Chunk]:
    """Every document's chunks, in order (see the module docstring). ``count_wordpieces`` gives the
    wordpiece count of each text, special tokens included."""
    out: list[Chunk] = []
    for doc in docs:
        paragraphs = _merge_short(list(doc.paragraphs), spec.merge_under_words)
        counts = count_wordpieces(paragraphs) if paragraphs else []
        index = 0
        for paragraph, count in zip(paragraphs, counts, strict=True):
            pieces = (
                [paragraph]
                if count <= spec.max_wordpieces
                else [" ".join(w) for w in windows(paragraph.split(), spec.window_words, spec.stride_words)]
            )
            for piece in pieces:
                out.append(Chunk(doc.id, index, doc.title, piece))
                index += 1
    return out


def _merge_short(paragraphs: list[str], under_words: int) -> list[str]:
    """Join paragraphs of fewer than ``under_words`` words to the next one."""
    if under_words <= 0:
        return paragraphs
    merged: list[str] = []
    carry = ""
    for paragraph in paragraphs:
        text = f"{carry} {paragraph}".strip() if carry else paragraph
        if len(text.split()) < under_words:
            carry = text
        else:
            merged.append(text)
            carry = ""
    if carry:
        merged.append(carry)
    return merged
