"""Helpers shared by the suites: models, texts, request payloads and router specs."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import yaml

from bench.stats import summarize

SPECIALIST_DOMAIN = "banking"  # the specialist measured by tax and throughput


def model_dir(registry: Path, name: str) -> Path:
    """The latest version folder of `name` (ModelLoadError with a clear message when absent)."""
    from fleet.models.manifest import resolve_model_dir

    return resolve_model_dir(registry, name)


def deployment_record(
    registry: Path, deployment: str, model: str, price: float, address: str
) -> dict[str, Any]:
    """What the router's StaticFleet needs of one deployment served at `address`."""
    from fleet.models.registry import read_manifest

    manifest = read_manifest(model_dir(registry, model))
    return {
        "name": deployment,
        "model": manifest.name,
        "version": manifest.version,
        "precision": manifest.precision,
        "task": manifest.task,
        "labels": list(manifest.labels),
        "price_per_call_usd": price,
        "address": address,
    }


def clinc_texts(domain: str | None, n: int, seed: int = 5) -> list[str]:
    """`n` CLINC150 test texts (of `domain` when given), in a fixed shuffled order."""
    from factory.data import load_clinc150

    data = load_clinc150()
    pool = data.in_domain(data.test, domain) if domain else list(data.test)
    texts = [t for t, _ in pool]
    random.Random(seed).shuffle(texts)
    return (texts * (n // max(len(texts), 1) + 1))[:n]


def router_request(text: str, domain: str | None = None, task: str = "classify") -> bytes:
    """A serialised router InferRequest for one text."""
    from protos.edgefleet.v1 import router_pb2

    request = router_pb2.InferRequest(task=task, text=text)
    if domain:
        request.domain = domain
    return bytes(request.SerializeToString())


def kserve_request(model: str, version: str, text: str, task: str = "classify") -> bytes:
    """A serialised KServe v2 ModelInferRequest, built exactly as the router builds it."""
    from router.edge_client import build_request

    return bytes(build_request(model, version, [text], task).SerializeToString())


def bench_policy_yaml(policy: dict[str, Any]) -> str:
    """Policy YAML for a benchmark router: listen on a free port, no escalation log, no durable
    ledger and no HTTP front door (a benchmark must not write the user's files or take ports)."""
    data = dict(policy)
    router = dict(data.get("router", {}))
    router["listen"] = "127.0.0.1:0"
    router["escalation_log"] = None
    router["ledger"] = None
    router["http_listen"] = None
    data["router"] = router
    return yaml.safe_dump(data, sort_keys=False)


def single_specialist_policy(deployment: str, model: str, domain: str, price: float) -> dict[str, Any]:
    """A policy with one route -> one specialist, never escalating (tax and throughput)."""
    return {
        "version": 1,
        "deployments": [{"name": deployment, "model": model, "price_per_call_usd": price}],
        "routes": [
            {
                "name": "bench",
                "task": "classify",
                "domains": [domain],
                "specialists": {domain: [deployment]},
                "min_confidence": 0.0,
                "escalate_labels": [],
            }
        ],
    }


def latency_table_row(name: str, values_ms: list[float]) -> list[Any]:
    """[name, n, p50, p95, p99, mean] for a report table."""
    s = summarize(values_ms)
    return [name, s["n"], s["p50_ms"], s["p95_ms"], s["p99_ms"], s["mean_ms"]]


LATENCY_HEADER = ["path", "n", "p50 ms", "p95 ms", "p99 ms", "mean ms"]


def in_registry(registry: Path, model: str) -> bool:
    """True when `model` has a latest version in `registry`."""
    from fleet.errors import ModelLoadError

    try:
        model_dir(registry, model)
    except ModelLoadError:
        return False
    return True


def trim_policy(raw: dict[str, Any], registry: Path) -> tuple[dict[str, Any], list[str]]:
    """The policy dict without the deployments whose model is not in `registry` (and every
    reference to them; a route left with no candidate is dropped), plus the dropped names."""
    data = dict(raw)
    missing = [d["name"] for d in data.get("deployments", []) if not in_registry(registry, d["model"])]
    if not missing:
        return data, []
    gone = set(missing)
    data["deployments"] = [d for d in data["deployments"] if d["name"] not in gone]
    routes = []
    for route in data.get("routes", []):
        route = dict(route)
        specialists = {
            dom: [n for n in names if n not in gone] for dom, names in route.get("specialists", {}).items()
        }
        route["specialists"] = {dom: names for dom, names in specialists.items() if names}
        route["targets"] = [n for n in route.get("targets", []) if n not in gone]
        if route.get("domain_model") in gone:
            route["domain_model"] = None
        if (route.get("retrieval") or {}).get("deployment") in gone:
            route.pop("retrieval")
        if (route.get("escalation_policy") or {}).get("deployment") in gone:
            route.pop("escalation_policy")
        if route["specialists"] or route["targets"] or route.get("fallback"):
            routes.append(route)
    data["routes"] = routes
    return data, missing
