"""The stand-in's request handling without sockets (standin/handlers.py)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from edgefleet import openai_wire as wire
from standin.handlers import (
    StandInIdentity,
    StandInRequestError,
    chat_completion,
    embeddings,
    models_list,
    pick_label,
)

IDENTITY = StandInIdentity(backing_model="fake:1")


class KeywordModel:
    """A fake model: 'rain' -> weather, 'flight' -> book_flight, else mostly oos."""

    def __init__(self) -> None:
        self.labels = ["book_flight", "weather", "oos", "play_music"]

    def classify(self, texts: Sequence[str]) -> np.ndarray:
        rows = []
        for text in texts:
            if len(text) > 100:
                raise ValueError("text too long")
            if "rain" in text:
                rows.append([0.1, 0.6, 0.1, 0.2])
            elif "flight" in text:
                rows.append([0.5, 0.1, 0.1, 0.3])
            else:
                rows.append([0.1, 0.1, 0.7, 0.1])
        return np.array(rows, dtype=np.float32)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return np.tile(np.array([0.6, 0.8], dtype=np.float32), (len(texts), 1))


MODEL = KeywordModel()


def request(text: str, labels: list[str] | None) -> dict[str, Any]:
    body = (
        wire.classify_request("gpt-whatever", text, labels or [])
        if labels
        else {"model": "m", "messages": [{"role": "user", "content": text}]}
    )
    return body


def test_structured_classification_restricted_and_renormalised() -> None:
    answer = chat_completion(request("book me a flight", ["book_flight", "weather", "oos"]), MODEL, IDENTITY)
    assert answer["object"] == "chat.completion"
    assert answer["system_fingerprint"] == wire.STAND_IN_FINGERPRINT
    assert answer["edgefleet"]["stand_in"] is True and answer["model"] == "edgefleet-stand-in"
    parsed = wire.parse_classification(answer, ["book_flight", "weather", "oos"])
    assert parsed.label == "book_flight"
    assert parsed.confidence == pytest.approx(0.5 / 0.7, abs=1e-5)  # play_music dropped
    usage = answer["usage"]
    assert (
        usage["prompt_tokens"] > 0
        and usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    )


def test_candidates_exclude_the_best_label() -> None:
    answer = chat_completion(
        request("play me a flight song", ["weather", "oos", "play_music"]), MODEL, IDENTITY
    )
    assert json.loads(answer["choices"][0]["message"]["content"])["label"] == "play_music"


def test_plain_text_without_response_format_names_the_label_and_stand_in() -> None:
    answer = chat_completion(request("is it going to rain", None), MODEL, IDENTITY)
    content = answer["choices"][0]["message"]["content"]
    assert content.startswith("weather") and "STAND-IN" in content


def test_text_parts_and_last_user_message() -> None:
    body = {
        "model": "m",
        "messages": [
            {"role": "user", "content": "book a flight"},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": [{"type": "text", "text": "will it rain"}]},
        ],
        "response_format": {"type": "json_object"},
    }
    content = json.loads(chat_completion(body, MODEL, IDENTITY)["choices"][0]["message"]["content"])
    assert content["label"] == "weather"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([], "JSON object"),
        ({"messages": [{"role": "user", "content": "x"}]}, "'model'"),
        ({"model": "m"}, "'messages'"),
        ({"model": "m", "messages": [{"role": "system", "content": "x"}]}, "user message"),
        ({"model": "m", "messages": [{"role": "user", "content": 3}]}, "content"),
        (
            {
                "model": "m",
                "messages": [{"role": "user", "content": "x"}],
                "response_format": {"type": "xml"},
            },
            "unsupported",
        ),
        (
            {
                "model": "m",
                "messages": [{"role": "user", "content": "x"}],
                "response_format": {"type": "json_schema", "json_schema": {"schema": {}}},
            },
            "label.enum",
        ),
        (request("x", ["nope", "nada"]), "none of the 2 candidate labels"),
        (request("x" * 200, ["oos"]), "too long"),
    ],
)
def test_bad_chat_requests_are_400(body: Any, message: str) -> None:
    with pytest.raises(StandInRequestError, match=message) as caught:
        chat_completion(body, MODEL, IDENTITY)
    assert caught.value.status == 400
    error = caught.value.body()["error"]
    assert error["type"] == "invalid_request_error" and "edgefleet-stand-in" in error["message"]


def test_embeddings_answer_and_validation() -> None:
    answer = embeddings({"model": "m", "input": ["a", "b"]}, MODEL, IDENTITY)
    assert [d["index"] for d in answer["data"]] == [0, 1]
    assert wire.parse_embeddings(answer, 2)[1] == pytest.approx([0.6, 0.8])
    assert embeddings({"model": "m", "input": "one"}, MODEL, IDENTITY)["usage"]["prompt_tokens"] == 1
    for bad in (
        {"model": "m", "input": []},
        {"model": "m", "input": [1]},
        {"input": ["a"]},
        {"model": "m", "input": ["a"], "encoding_format": "base64"},
    ):
        with pytest.raises(StandInRequestError):
            embeddings(bad, MODEL, IDENTITY)


def test_models_list_says_stand_in() -> None:
    listing = models_list(IDENTITY, 0.0)
    entry = listing["data"][0]
    assert entry["id"] == "edgefleet-stand-in" and "STAND-IN" in entry["description"]
    assert entry["edgefleet"]["backing_model"] == "fake:1"


def test_pick_label_uniform_when_no_mass() -> None:
    label, confidence = pick_label(np.zeros(3), ["a", "b", "c"], ["b", "c"])
    assert label == "b" and confidence == pytest.approx(0.5)


def test_pick_label_says_oos_under_the_calibrated_threshold() -> None:
    from standin.handlers import pick_label

    labels = ["balance", "transfer", "oos"]
    unsure = np.array([0.40, 0.35, 0.25])
    assert pick_label(unsure, labels, labels, oos_threshold=0.75)[0] == "oos"
    assert pick_label(unsure, labels, labels, oos_threshold=None)[0] == "balance"
    sure = np.array([0.90, 0.05, 0.05])
    assert pick_label(sure, labels, labels, oos_threshold=0.75) == ("balance", pytest.approx(0.90))
    # Without "oos" among the candidates the threshold does not apply.
    assert pick_label(unsure, labels, ["balance", "transfer"], oos_threshold=0.75)[0] == "balance"
