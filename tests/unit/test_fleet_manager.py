"""Unit tests of fleet.control.manager.FleetManager with an in-memory backend (no Ray)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from edgefleet.policy.schema import Policy
from fleet.control.manager import FleetManager
from fleet.control.reconcile import StartReplica
from fleet.errors import FleetError, UnknownDeployment, UnknownNode
from fleet.models.llm_manifest import REQUIRED_LLM_FILES
from fleet.models.manifest import Manifest, ModelBundle, TensorSpec, sha256_bytes
from fleet.models.registry import save_bundle
from tests.unit.fleet_fakes import FakeBackend, make_manager, make_registry, node, ready_count, settle
from tests.unit.llm_fakes import llm_manifest


async def test_replicas_start_spread_and_publish(tmp_path: Path) -> None:
    mgr, _ = make_manager(tmp_path, [{"name": "d", "model": "m", "replicas": 2}], [node("a"), node("b")])
    state = await settle(mgr, lambda s: ready_count(s, "d") == 2)
    dep = state.deployment("d")
    assert dep is not None and {r.node_name for r in dep.replicas} == {"a", "b"}
    assert dep.labels == ["a", "oos"] and dep.task == "classify" and dep.version == "1"
    assert state.version > 0 and (await mgr.get_state(0)).version == state.version
    same = await mgr.get_state(state.version, timeout_s=0.05)  # nothing changed: returns after the timeout
    assert same.version == state.version


async def test_precision_reaches_replicas_and_is_published(tmp_path: Path) -> None:
    deployments = [{"name": "d", "model": "m", "precision": "f32"}, {"name": "e", "model": "m"}]
    mgr, backend = make_manager(tmp_path, deployments, [node("a")])
    state = await settle(mgr, lambda s: ready_count(s, "d") == 1 and ready_count(s, "e") == 1)
    assert {r.action.deployment: r.action.precision for r in backend.replicas.values()} == {
        "d": "f32",
        "e": "auto",
    }
    d, e = state.deployment("d"), state.deployment("e")
    assert d is not None and e is not None
    assert (d.precision_policy, e.precision_policy) == ("f32", "auto")
    assert [(r.inference_precision, r.isa) for r in d.replicas] == [("f32", ["AVX2", "AVX512", "BF16"])]
    assert [r.inference_precision for r in e.replicas] == ["bf16"]
    old_e = [r.replica_id for r in e.replicas]
    policy = mgr.desired.policy
    new_e = policy.deployments[1].model_copy(update={"precision": "bf16"})
    await mgr.apply_policy(policy.model_copy(update={"deployments": [policy.deployments[0], new_e]}))
    state = await settle(
        mgr,
        lambda s: ready_count(s, "e") == 1 and [r.replica_id for r in s.deployments[1].replicas] != old_e,
    )
    [rolled] = state.deployments[1].replicas
    assert backend.replicas[rolled.replica_id].action.precision == "bf16"
    assert state.deployments[1].precision_policy == "bf16"


async def test_dead_replica_is_replaced(tmp_path: Path) -> None:
    mgr, backend = make_manager(tmp_path, [{"name": "d", "model": "m"}], [node("a")])
    await settle(mgr, lambda s: ready_count(s, "d") == 1)
    [old] = backend.replicas.values()
    old.dead = True
    state = await settle(
        mgr, lambda s: ready_count(s, "d") == 1 and old.action.replica_id not in str(s.deployments)
    )
    assert any("died" in e for e in state.events)


async def test_model_that_fails_to_load_backs_off(tmp_path: Path) -> None:
    mgr, backend = make_manager(tmp_path, [{"name": "d", "model": "m"}], [node("a")])
    backend.fail_model = "model.bin is truncated"
    state = await settle(mgr, lambda s: "crash loop" in getattr(s.deployment("d"), "error", ""))
    dep = state.deployment("d")
    assert dep is not None and "truncated" in dep.error and dep.ready == 0
    started = len(backend.replicas)
    await mgr.reconcile_once()
    assert len(backend.replicas) == started  # blocked while backing off


async def test_missing_model_is_reported_not_started(tmp_path: Path) -> None:
    mgr, backend = make_manager(tmp_path, [{"name": "d", "model": "absent"}], [node("a")])
    await mgr.reconcile_once()
    dep = mgr.state.deployment("d")
    assert dep is not None and "cannot load model" in dep.error and "absent" in dep.error
    assert not backend.replicas


async def test_scale_drain_and_errors(tmp_path: Path) -> None:
    mgr, _ = make_manager(tmp_path, [{"name": "d", "model": "m"}], [node("a"), node("b")])
    await settle(mgr, lambda s: ready_count(s, "d") == 1)
    assert "from 1 to 3" in await mgr.scale("d", 3)
    await settle(mgr, lambda s: ready_count(s, "d") == 3)
    await mgr.drain("a")
    state = await settle(mgr, lambda s: ready_count(s, "d") == 3 and not s.node("a").replicas)  # type: ignore[union-attr]
    assert {r.node_name for r in state.deployments[0].replicas} == {"b"}
    with pytest.raises(UnknownDeployment):
        await mgr.scale("nope", 1)
    with pytest.raises(UnknownNode, match="known: a, b"):
        await mgr.drain("c")
    with pytest.raises(FleetError):
        await mgr.scale("d", -1)


async def test_loop_survives_a_failing_pass(tmp_path: Path) -> None:
    mgr, backend = make_manager(tmp_path, [{"name": "d", "model": "m"}], [node("a")])
    backend.list_errors = 1
    mgr.start()
    try:
        state = await mgr.get_state(0, timeout_s=10)
        assert state.version > 0
        assert any("reconcile pass failed" in e and "GCS unreachable" in e for e in mgr.events)
    finally:
        await mgr.shutdown()


async def test_rolled_out_versions_are_not_kept_pinned(tmp_path: Path) -> None:
    mgr, backend = make_manager(tmp_path, [{"name": "d", "model": "m", "replicas": 2}], [node("a")])
    await settle(mgr, lambda s: ready_count(s, "d") == 2)
    for version in ("2", "3", "4"):
        make_registry(tmp_path / "reg", version)
        await mgr.apply_policy(mgr.desired.policy)  # re-resolve `latest`: a rolling update
        state = await settle(
            mgr,
            lambda s, v=version: (
                ready_count(s, "d") == 2 and all(r.version == v for r in s.deployments[0].replicas)
            ),
        )
        assert {r.version for r in state.deployments[0].replicas} == {version}
        assert backend.pinned == {("m", version)}  # the retired versions were released


def make_llm_registry(root: Path, version: str) -> None:
    files = {name: f"{name} {version}".encode() for name in REQUIRED_LLM_FILES}
    save_bundle(root, ModelBundle(llm_manifest(files, version), files))


async def test_llm_deployment_ships_no_weights_and_publishes_llm_figures(tmp_path: Path) -> None:
    registry = tmp_path / "reg"
    make_llm_registry(registry, "1")
    policy = Policy.model_validate(
        {
            "registry": str(registry),
            "deployments": [
                {"name": "chat", "model": "tiny-llm", "llm": {"continuous_batching": False, "max_batch": 4}}
            ],
        }
    )
    backend = FakeBackend([node("a")])
    seen: list[tuple[StartReplica, ModelBundle]] = []
    start = backend.start_replica

    async def spy(action: StartReplica, bundle: ModelBundle, max_queue: int) -> Any:
        seen.append((action, bundle))
        replica = await start(action, bundle, max_queue)
        replica.report = lambda: {  # type: ignore[method-assign]
            "ready": True,
            "address": "10.0.0.1:1",
            "device": "CPU",
            "tokens_per_s": 123.456,
            "ttft_p50_ms": 41.7,
            "ttft_p95_ms": 187.2,
            "queue_depth": 2,
        }
        return replica

    backend.start_replica = spy  # type: ignore[method-assign]
    mgr = FleetManager(policy, tmp_path, backend)
    state = await settle(
        mgr, lambda s: ready_count(s, "chat") == 1 and s.deployments[0].replicas[0].tokens_per_s > 0
    )
    action, bundle = seen[0]
    assert bundle.files == {} and bundle.folder.endswith("tiny-llm/1")
    assert action.llm is not None and action.llm.max_batch == 4 and not action.llm.continuous_batching
    dep = state.deployments[0]
    assert dep.task == "generate" and dep.context_length == 8192
    replica = dep.replicas[0]
    assert (replica.tokens_per_s, replica.ttft_p50_ms, replica.ttft_p95_ms) == (120.0, 42.0, 190.0)
    assert replica.queue_depth == 2
    make_llm_registry(registry, "2")  # a rolling update compares versions as for any model
    await mgr.apply_policy(mgr.desired.policy)
    state = await settle(mgr, lambda s: [r.version for r in s.deployments[0].replicas] == ["2"])
    assert backend.pinned == {("tiny-llm", "2")}


def make_collection_registry(root: Path, version: str) -> None:
    """A FAKE collection (task retrieve): the required files with made-up bytes."""
    from fleet.models.collection_manifest import EncoderSpec, RetrievalSpec

    spec = RetrievalSpec(chunks=7, documents=3, encoder=EncoderSpec(graph="g", weights_sha256="w"))
    files = {name: f"{name} {version}".encode() for name in spec.required_files()}
    manifest = Manifest(
        name="docs",
        version=version,
        task="retrieve",
        labels=[],
        precision="INT8",
        featurizer={"kind": "wordpiece", "tokenizer": "tokenizer.json", "max_len": 256},
        inputs=[TensorSpec(name="TEXT", datatype="BYTES", shape=[-1])],
        outputs=[TensorSpec(name="SCORES", datatype="FP32", shape=[-1, -1])],
        files={name: sha256_bytes(data) for name, data in files.items()},
        created_unix=0.0,
        retrieval=spec,
    )
    save_bundle(root, ModelBundle(manifest, files))


async def test_retriever_deployment_ships_no_collection_and_publishes_it(tmp_path: Path) -> None:
    registry = tmp_path / "reg"
    make_collection_registry(registry, "1")
    policy = Policy.model_validate(
        {"registry": str(registry), "deployments": [{"name": "rag", "model": "docs"}]}
    )
    backend = FakeBackend([node("a"), node("b")])
    seen: list[ModelBundle] = []
    start = backend.start_replica

    async def spy(action: StartReplica, bundle: ModelBundle, max_queue: int) -> Any:
        seen.append(bundle)
        return await start(action, bundle, max_queue)

    backend.start_replica = spy  # type: ignore[method-assign]
    mgr = FleetManager(policy, tmp_path, backend)
    state = await settle(mgr, lambda s: ready_count(s, "rag") == 1)
    assert seen[0].files == {} and seen[0].folder.endswith("docs/1")  # the replica reads its node's folder
    dep = state.deployments[0]
    assert dep.task == "retrieve" and dep.collection is not None
    assert (dep.collection.chunks, dep.collection.documents, dep.collection.index) == (7, 3, "brute")
    assert dep.collection.encoder == "all-MiniLM-L6-v2 (passages FP32, queries FP32)"
    await mgr.scale("rag", 2)  # scaled like any model
    state = await settle(mgr, lambda s: ready_count(s, "rag") == 2)
    make_collection_registry(registry, "2")  # a new collection version rolls the replicas over
    await mgr.apply_policy(mgr.desired.policy)
    state = await settle(mgr, lambda s: sorted(r.version for r in s.deployments[0].replicas) == ["2", "2"])
    assert backend.pinned == {("docs", "2")}
