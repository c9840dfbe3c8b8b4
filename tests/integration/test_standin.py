"""The offline STAND-IN backed by the real `generalist` TextModel, over real HTTP on 127.0.0.1."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from edgefleet.policy.schema import HostedConfig, StandInConfig
from fleet.errors import ModelLoadError
from router.hosted.client import HostedClient
from standin.server import StandInServer
from standin.tier import HostedTier

pytestmark = pytest.mark.integration

GENERALIST = "generalist"


@pytest.fixture(scope="module")
def standin(model_registry: Path) -> Iterator[StandInServer]:
    """The stand-in on 127.0.0.1:0 serving the registry's generalist."""
    server = StandInServer.from_registry(model_registry, StandInConfig(model=GENERALIST))
    server.start()
    try:
        yield server
    finally:
        server.stop()


def domain_labels(server: StandInServer, *intents: str) -> list[str]:
    labels = list(server.model.labels)
    for intent in intents:
        assert intent in labels, f"{intent} missing from the generalist's labels"
    return [*intents, "oos"]


async def test_classify_obvious_intent_and_out_of_scope(standin: StandInServer) -> None:
    labels = list(standin.model.labels)
    client = HostedClient(HostedConfig(name="stand-in", stand_in=StandInConfig()), base_url=standin.base_url)
    try:
        weather = await client.classify("what is the weather like in new york today", labels, timeout_s=10)
        oos = await client.classify("how many tentacles does an octopus have", labels, timeout_s=10)
        few = await client.classify(
            "what's the weather forecast for tomorrow",
            domain_labels(standin, "weather", "timer"),
            timeout_s=10,
        )
    finally:
        await client.aclose()
    assert weather.label == "weather" and weather.stand_in and weather.model == "edgefleet-stand-in"
    assert oos.label == "oos"
    assert few.label == "weather" and 0.0 < few.confidence <= 1.0
    assert weather.input_tokens > 100 and weather.output_tokens > 0  # 151 labels in the prompt


async def test_embeddings_are_the_models_normalised_embedding(standin: StandInServer) -> None:
    client = HostedClient(HostedConfig(name="stand-in", stand_in=StandInConfig()), base_url=standin.base_url)
    try:
        answers = await client.embed(["book a flight to paris", "play some jazz"], timeout_s=10)
    finally:
        await client.aclose()
    expected = standin.model.embed(["book a flight to paris", "play some jazz"])
    got = np.array([a.embedding for a in answers], dtype=np.float32)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert np.linalg.norm(got[0]) == pytest.approx(1.0, abs=1e-4)


def test_models_endpoint_says_stand_in(standin: StandInServer) -> None:
    response = httpx.get(f"{standin.base_url}/models", timeout=10)
    assert response.status_code == 200 and response.headers["X-EdgeFleet-Stand-In"] == "1"
    entry = response.json()["data"][0]
    assert entry["id"] == "edgefleet-stand-in" and "STAND-IN" in entry["description"]
    assert entry["edgefleet"]["backing_model"].startswith(GENERALIST + ":")


def test_unknown_candidate_labels_are_a_400(standin: StandInServer) -> None:
    body = {
        "model": "x",
        "messages": [{"role": "user", "content": "hello"}],
        "response_format": {
            "type": "json_schema",
            "json_schema": {
                "name": "intent",
                "schema": {"type": "object", "properties": {"label": {"type": "string", "enum": ["nope"]}}},
            },
        },
    }
    response = httpx.post(f"{standin.base_url}/chat/completions", json=body, timeout=10)
    assert response.status_code == 400 and "candidate labels" in response.json()["error"]["message"]


def test_module_entry_point_serves_until_terminated(model_registry: Path) -> None:
    """`python -m standin.server` prints its base URL, answers, and exits cleanly on SIGTERM."""
    process = subprocess.Popen(
        [sys.executable, "-m", "standin.server", "--registry", str(model_registry), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        base_url = process.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/v1")
        assert httpx.get(f"{base_url}/models", timeout=10).status_code == 200
        process.terminate()
        assert process.wait(timeout=30) == 0
        assert process.stderr is not None and "STAND-IN" in process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


async def test_hosted_tier_starts_and_stops_stand_ins(model_registry: Path, tmp_path: Path) -> None:
    configs = [
        HostedConfig(name="offline", stand_in=StandInConfig(latency_ms=1)),
        HostedConfig(name="real", base_url="https://api.example.invalid/v1"),
    ]
    tier = await HostedTier.start(configs, model_registry)
    try:
        assert tier.client("real").base_url == "https://api.example.invalid/v1"
        answer = await tier.client("offline").classify("set a timer for five minutes", ["timer", "oos"], 10)
        assert answer.label == "timer" and answer.stand_in
        server = tier.stand_ins["offline"]
    finally:
        await tier.aclose()
    with pytest.raises(RuntimeError, match="not running"):
        _ = server.base_url
    with pytest.raises(ModelLoadError):
        await HostedTier.start([HostedConfig(name="x", stand_in=StandInConfig())], tmp_path / "empty")
