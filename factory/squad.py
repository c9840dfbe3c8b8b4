"""SQuAD v1.1 dev for generative routing: articles, paragraphs, questions with their reference
answers, the tune/report split by article, and the recorded answers of a published large model
(the BERT-large ensemble) that the stand-in can replay. Files come through :mod:`factory.data`
(local copy or download, sha256-checked)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal

from factory.data import read_data_file
from factory.errors import DataError

DEV_FILE = "squad-v1.1/dev-v1.1.json"
BERT_FILE = "squad-v1.1/predictions/bert-ensemble.json"
TUNE_ARTICLES = 24  # the first 24 articles tune, the last 24 report

Split = Literal["tune", "report", "all"]


@dataclass(frozen=True)
class Paragraph:
    """One paragraph (the retrieval unit of the SQuAD collection)."""

    pid: str  # "<article index>-<paragraph index>", e.g. "3-17"
    article: int
    title: str
    text: str


@dataclass(frozen=True)
class Question:
    """One question with its reference answers and gold paragraph."""

    qid: str
    text: str
    answers: tuple[str, ...]
    pid: str
    article: int


@dataclass(frozen=True)
class SquadDev:
    """The dev set, in file order."""

    titles: list[str]
    paragraphs: list[Paragraph]
    questions: list[Question]

    def split(self, name: Split) -> list[Question]:
        """Questions of the tune split (first 24 articles), the report split (the rest) or all."""
        if name == "all":
            return list(self.questions)
        tune = name == "tune"
        return [q for q in self.questions if (q.article < TUNE_ARTICLES) == tune]

    def paragraph(self, pid: str) -> Paragraph:
        """The paragraph with this id."""
        return self._by_pid()[pid]

    def _by_pid(self) -> dict[str, Paragraph]:
        cache = self.__dict__.get("_pid_index")
        if cache is None:
            cache = {p.pid: p for p in self.paragraphs}
            object.__setattr__(self, "_pid_index", cache)
        return cache


def load_squad_dev() -> SquadDev:
    """SQuAD v1.1 dev, verified; DataError on any problem."""
    data, path = read_data_file(DEV_FILE)
    try:
        articles = json.loads(data)["data"]
    except (ValueError, KeyError, TypeError) as exc:
        raise DataError(f"{path}: SQuAD JSON cannot be parsed: {exc}") from exc
    titles: list[str] = []
    paragraphs: list[Paragraph] = []
    questions: list[Question] = []
    for a, article in enumerate(articles):
        titles.append(str(article["title"]))
        for p, para in enumerate(article["paragraphs"]):
            pid = f"{a}-{p}"
            paragraphs.append(Paragraph(pid, a, titles[-1], str(para["context"])))
            for qa in para["qas"]:
                answers = tuple(dict.fromkeys(str(x["text"]) for x in qa["answers"]))
                questions.append(Question(str(qa["id"]), str(qa["question"]), answers, pid, a))
    return SquadDev(titles, paragraphs, questions)


def load_recorded_answers() -> dict[str, str]:
    """The BERT-large ensemble's recorded answer per question id (EM 86.2 / F1 92.2 on dev)."""
    data, path = read_data_file(BERT_FILE)
    try:
        answers = json.loads(data)
    except ValueError as exc:
        raise DataError(f"{path}: predictions JSON cannot be parsed: {exc}") from exc
    if not isinstance(answers, dict):
        raise DataError(f"{path}: expected a JSON object of question id -> answer")
    return {str(k): str(v) for k, v in answers.items()}
