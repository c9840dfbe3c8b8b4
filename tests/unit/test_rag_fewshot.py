"""Few-shot examples from the TUNE split (factory.rag_fewshot): typed, short answers inside the
selected sentence, stored versioned beside the collection."""

from __future__ import annotations

from pathlib import Path

from edgefleet.extractive import load_fewshot, resolve_fewshot
from factory.rag_fewshot import build_fewshot, choose_examples, save_fewshot
from factory.squad import Paragraph, Question, SquadDev

DEV = SquadDev(
    titles=["A", "B"],
    paragraphs=[
        Paragraph("0-0", 0, "A", "Rollo led the Normans. They settled in Normandy in 911."),
        Paragraph("1-0", 1, "B", "The report split text. Nobody uses it for examples."),
    ],
    questions=[
        Question("t1", "Who led the Normans?", ("Rollo",), "0-0", 0),
        Question("t2", "When did they settle in Normandy?", ("911",), "0-0", 0),
        Question("t3", "Who led the Normans?", ("a leader who came from far away lands",), "0-0", 0),
        Question("t4", "Who wrote the report?", ("Nobody",), "1-0", 1),
    ],
)


def test_examples_are_typed_short_and_inside_the_selected_sentence() -> None:
    examples = choose_examples(DEV, DEV.split("all")[:3], per_type=5)
    assert [e.id for e in examples["person"]] == ["t1"]  # t3's answer is too long
    (when,) = examples["time"]
    assert (when.passage, when.answer) == ("They settled in Normandy in 911.", "911")
    assert choose_examples(DEV, DEV.split("all")[:2], per_type=0)["person"] == ()


def test_build_uses_the_tune_split_and_saves_versions_beside_the_collection(
    tmp_path: Path, monkeypatch: object
) -> None:
    import factory.squad as squad

    dev = SquadDev(DEV.titles, DEV.paragraphs, DEV.questions)
    object.__setattr__(
        dev,
        "split",
        lambda name: [q for q in DEV.questions if q.qid in ("t1", "t2")] if name == "tune" else [],
    )
    shots = build_fewshot("tune", per_type=4, dev=dev)
    assert shots.split == "tune" and {e.id for v in shots.examples.values() for e in v} == {"t1", "t2"}
    path = save_fewshot(tmp_path, "squad-dev", shots)
    assert path == tmp_path / "squad-dev" / "fewshot" / f"{shots.version()}.json"
    assert save_fewshot(tmp_path, "squad-dev", shots) == path  # the same content: the same version
    assert load_fewshot(resolve_fewshot(tmp_path, "squad-dev")).version() == shots.version()
    assert squad.TUNE_ARTICLES == 24
