"""The CLI as a user runs it: policy check, up --detach, status, infer, chat (an edge LLM streamed),
a generated gRPC client, the official openai SDK on the front door, down under load (nothing accepted
is lost), leaving no process behind."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import openai
import psutil
import pytest

from bench.chaos.load import read_records
from client import EdgeFleetClient, GenerateResult
from protos.edgefleet.v1 import common_pb2, router_pb2, router_pb2_grpc

ROOT = Path(__file__).resolve().parents[2]
EDGEFLEET = [sys.executable, "-m", "cli.main"]

pytestmark = pytest.mark.e2e

POLICY = """\
version: 1
registry: {registry}
router:
  listen: 127.0.0.1:0
  http_listen: 127.0.0.1:0
fleet:
  namespace: edgefleet-e2e
  reconcile_interval_s: 0.5
  head_num_cpus: 0
  simulated_nodes:
    - name: edge-small
      num_cpus: 1
      labels: {{site: store-1, size: small}}
    - name: edge-accel
      num_cpus: 1
      devices: [CPU, GPU]
      labels: {{site: store-2, accel: gpu}}
deployments:
  - {{name: domain-router, model: domain-router, replicas: 1, devices: [GPU, CPU], price_per_call_usd: 0.0000005}}
  - {{name: clinc-banking, model: clinc-banking, replicas: 1, selector: {{site: store-1}},
      price_per_call_usd: 0.000001}}
  - {{name: smollm2, model: smollm2-135m, replicas: 1, selector: {{site: store-2}}, price_per_call_usd: 0.00001,
      llm: {{max_batch: 4, max_tokens_limit: 256}}}}
hosted:
  - name: big
    stand_in: {{model: generalist, latency_ms: 0}}
    price_per_1k_input_usd: 0.0025
    price_per_1k_output_usd: 0.01
routes:
  - name: clinc
    task: classify
    domains: [banking, credit_cards, kitchen_and_dining, home, auto_and_commute,
              travel, utility, work, small_talk, meta]
    domain_model: domain-router
    specialists: {{banking: [clinc-banking]}}
    fallback: big
    min_confidence: 0.5
  - name: chat
    task: generate
    targets: [smollm2]
    fallback: big
    min_confidence: 0.0
"""


def run(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*EDGEFLEET, *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=timeout
    )


def test_policy_check_ok_and_bad(tmp_path: Path) -> None:
    env = dict(os.environ)
    ok = run("policy", "check", str(ROOT / "edgefleet.yaml"), env=env)
    assert ok.returncode == 0, ok.stderr
    assert "OK" in ok.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nrouter:\n  listen: 1\n  max_batchh: 3\n")
    res = run("policy", "check", str(bad), env=env)
    assert res.returncode == 1
    assert "line 4: router.max_batchh: unknown key" in res.stderr


@pytest.fixture
def fleet_env(tmp_path: Path, llm_registry: Path) -> Iterator[tuple[dict[str, str], Path]]:
    config = tmp_path / "edgefleet.yaml"
    config.write_text(POLICY.format(registry=llm_registry))  # the test models plus SmolLM2
    env = dict(os.environ, EDGEFLEET_HOME=str(tmp_path / "home"))
    try:
        yield env, config
    finally:
        run("down", env=env, timeout=120)


def test_up_status_infer_down(fleet_env: tuple[dict[str, str], Path]) -> None:
    env, config = fleet_env
    up = run("up", "--config", str(config), "--detach", "--ready-timeout", "240", "--log-format", "json",
             env=env, timeout=300)  # fmt: skip
    assert up.returncode == 0, up.stdout + up.stderr
    state = json.loads((Path(env["EDGEFLEET_HOME"]) / "run" / "state.json").read_text())
    router = state["router"]
    supervisor_pid = state["pid"]

    status = run("status", "--json", env=env)
    assert status.returncode == 0, status.stderr
    snap = json.loads(status.stdout)
    nodes = [n for n in snap["nodes"] if n.get("labels", {}).get("site")]
    assert len(nodes) >= 2
    assert len({json.dumps(n["labels"], sort_keys=True) for n in nodes}) >= 2
    human = run("status", env=env)
    assert "edge-small" in human.stdout and "edge-accel" in human.stdout
    assert f"OpenAI-compatible API: {state['http']}" in human.stdout

    # The OpenAI-compatible front door of the same router process.
    assert state["http"].startswith("http://127.0.0.1:") and state["http"] in up.stdout
    models = httpx.get(state["http"] + "/models", timeout=10).json()
    assert [m["id"] for m in models["data"]] == ["clinc", "chat", "edgefleet/auto"]

    # Generation: `edgefleet chat` streams the edge LLM's answer (min_confidence 0: kept at the edge).
    chat = run("chat", "What is the capital of France?", "--max-tokens", "24", "--trace", env=env)
    assert chat.returncode == 0, chat.stdout + chat.stderr
    assert (
        chat.stdout.strip() and "edge: smollm2-135m" in chat.stderr and "time to first token" in chat.stderr
    )
    # ... and any OpenAI SDK app gets the same through the front door, streamed.
    client = openai.OpenAI(base_url=state["http"], api_key="unused", timeout=60)
    stream = client.chat.completions.create(
        model="chat", messages=[{"role": "user", "content": "Name a colour."}], max_tokens=16, stream=True
    )
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert text.strip()

    res = run("infer", "--text", "what is the balance in my checking account", env=env)
    assert res.returncode == 0, res.stderr
    answer = json.loads(res.stdout)["results"][0]
    assert answer["served_by"]["tier"] in ("EDGE", "HOSTED")
    assert answer["trace"], answer

    # A client generated from protos/ (the committed stubs) talks to the router directly.
    with grpc.insecure_channel(router) as channel:
        stub = router_pb2_grpc.RouterStub(channel)
        resp = stub.Infer(
            router_pb2.InferRequest(
                task="classify", text="how much money is in my savings", domain="banking"
            ),
            timeout=30,
        )
        r = resp.results[0]
        assert r.served_by.tier == common_pb2.EDGE
        assert r.served_by.model == "clinc-banking"
        assert r.served_by.node == "edge-small"
        assert r.classification.label
        assert [s.target for s in r.trace]
        with pytest.raises(grpc.RpcError) as exc:
            stub.Infer(router_pb2.InferRequest(task="classify", text=""), timeout=10)
        assert exc.value.code() == grpc.StatusCode.INVALID_ARGUMENT

    # Prometheus: the router's /metrics on the front door's port, every replica's from the snapshot.
    metrics = httpx.get(state["http"].removesuffix("/v1") + "/metrics", timeout=10).text
    assert 'edgefleet_router_requests_total{outcome="invalid_argument",route="none"' in metrics
    assert "edgefleet_fleet_replicas{" in metrics
    replicas = [r for d in json.loads(run("status", "--json", env=env).stdout)["deployments"]
                for r in d.get("replicas", [])]  # fmt: skip
    assert replicas and all(r.get("metrics_address") for r in replicas), replicas
    banking = next(r for r in replicas if r["deployment"] == "clinc-banking")
    scraped = httpx.get(f"http://{banking['metrics_address']}/metrics", timeout=10).text
    assert 'edgefleet_replica_requests_total{deployment="clinc-banking"' in scraped
    assert "Prometheus /metrics: " in run("status", env=env).stdout

    # --log-format json: the fleet log's own lines are JSON objects.
    log_lines = (Path(env["EDGEFLEET_HOME"]) / "run" / "fleet.log").read_text().splitlines()
    ours = [json.loads(line) for line in log_lines if line.startswith('{"ts"')]
    assert any(o["logger"] == "router.server" for o in ours), log_lines[:20]

    # `edgefleet down` under load loses nothing the router accepted: the classify load from another
    # process gets answers or retriable refusals, and generations in flight at the SIGTERM finish.
    work = config.parent
    texts = work / "texts.json"
    texts.write_text(json.dumps(["what is my balance", "book a flight to paris", "tell me a joke", "foo"]))
    load = subprocess.Popen(
        [sys.executable, "-m", "bench.chaos.load", "--address", router, "--texts", str(texts), "--out",
         str(work / "load.jsonl"), "--rate", "20", "--seconds", "10", "--max-requests", "200", "--deadline-s", "15"],
        cwd=ROOT, env=env,
    )  # fmt: skip
    finals: list[object] = []

    def generate() -> None:
        with (
            EdgeFleetClient(router, timeout_s=60) as ef,
            ef.generate("Write a short story about a lighthouse.", max_tokens=96, route="chat") as stream,
        ):
            finals.extend(e for e in stream if isinstance(e, GenerateResult))

    threads = [threading.Thread(target=generate) for _ in range(2)]
    for thread in threads:
        thread.start()
    started = time.monotonic()
    metrics_url = state["http"].removesuffix("/v1") + "/metrics"
    for _ in range(300):  # bounded: until both generations are in the router
        inflight = next(
            (float(line.split()[-1]) for line in httpx.get(metrics_url, timeout=10).text.splitlines()
             if line.startswith("edgefleet_router_inflight_requests ")), 0.0,
        )  # fmt: skip
        if inflight >= 2 and time.monotonic() - started >= 1.0:  # well into their ~96 tokens
            break
        time.sleep(0.05)
    down = run("down", env=env, timeout=180)
    assert down.returncode == 0, down.stdout + down.stderr
    for thread in threads:
        thread.join(120)
    assert load.wait(120) == 0
    assert len(finals) == 2, finals  # accepted before the SIGTERM: answered in full
    records = read_records(work / "load.jsonl")
    outcomes = Counter(r.outcome for r in records)
    assert outcomes["lost"] == 0 and outcomes["error"] == 0 and outcomes["ok"] > 0, outcomes
    assert not psutil.pid_exists(supervisor_pid) or psutil.Process(supervisor_pid).status() == "zombie"
    leftovers = []
    for p in psutil.process_iter(["pid"]):
        try:
            if os.getsid(p.pid) == supervisor_pid:
                leftovers.append(p)
        except (ProcessLookupError, PermissionError):
            continue
    assert leftovers == []
