"""factory.squad over the shared local copy: counts, the split by article, and the recorded BERT
ensemble answers scoring their published F1 with edgefleet.qa_metrics."""

from __future__ import annotations

import pytest

from edgefleet.qa_metrics import exact_match, token_f1
from factory.data import local_data_dirs
from factory.squad import load_recorded_answers, load_squad_dev

pytestmark = pytest.mark.skipif(
    not any((d / "squad-v1.1" / "dev-v1.1.json").is_file() for d in local_data_dirs()),
    reason="no local SQuAD copy (the suite does not download 5 MB for this check)",
)


def test_counts_and_split_by_article() -> None:
    dev = load_squad_dev()
    assert (len(dev.titles), len(dev.paragraphs), len(dev.questions)) == (48, 2067, 10570)
    tune, report = dev.split("tune"), dev.split("report")
    assert len(tune) + len(report) == 10570
    assert {q.article for q in tune} == set(range(24)) and {q.article for q in report} == set(range(24, 48))
    q = tune[0]
    assert any(a in dev.paragraph(q.pid).text for a in q.answers)


def test_recorded_answers_score_the_published_figures() -> None:
    dev = load_squad_dev()
    bert = load_recorded_answers()
    em = sum(exact_match(bert[q.qid], q.answers) for q in dev.questions) / len(dev.questions)
    f1 = sum(token_f1(bert[q.qid], q.answers) for q in dev.questions) / len(dev.questions)
    assert em == pytest.approx(0.8621, abs=0.001) and f1 == pytest.approx(0.9220, abs=0.001)
