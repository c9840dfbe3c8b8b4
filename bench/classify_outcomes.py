"""Outcomes of a classification route on a CLINC150 split, for :mod:`bench.calibrate`.

Every model the route can ask answers every request once, in process (the registry's IRs through
:class:`fleet.serving.runtime.TextModel`, batched): the domain model, the cascade of the detected
domain (cheapest first, as the router orders it) and the hosted fallback, which must be the offline
stand-in (its model answers with the stand-in's own rule, :func:`standin.handlers.pick_label`, over
the route's labels; its cost is the router's token estimate at the endpoint's prices). Then
:meth:`ClassifyOutcomes.evaluate` applies the router's rule (:mod:`router.text_route`) at any
``min_confidence`` / ``edge_oos_final_confidence``:

1. the domain model says an escalate label with at least ``edge_oos_final_confidence``: that is the
   answer; it says an escalate label or is less confident than ``min_confidence``: the hosted answer;
2. else the domain's deployments in order: the first whose label is not an escalate label and whose
   confidence reaches ``min_confidence`` answers; the last one's out-of-scope answer also stands with
   at least ``edge_oos_final_confidence``;
3. else the hosted answer. Every model asked is paid for.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.calibrate import OperatingPoint, Params
from edgefleet.policy.schema import Policy, RouteConfig

OOS = "oos"
BATCH = 64
MIN_CONFIDENCES = tuple(round(x * 0.025, 3) for x in range(40))  # 0.0 .. 0.975
OOS_FINAL = (None, *(round(0.3 + x * 0.05, 2) for x in range(14)))  # None, 0.3 .. 0.95


@dataclass(frozen=True)
class Answer:
    """One model's answer to one text."""

    label: str
    confidence: float


@dataclass(frozen=True)
class TextOutcome:
    """Everything the route's models say about one text."""

    gold: str
    domain: Answer
    cascade: tuple[tuple[Answer, float], ...]  # (answer, price per call) of the domain's deployments
    hosted: Answer
    hosted_cost_usd: float


def _predict(model: Any, texts: Sequence[str]) -> list[Answer]:
    """Argmax label and its probability, batched by length (as the router reads PROBS)."""
    out: list[Answer | None] = [None] * len(texts)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    for start in range(0, len(order), BATCH):
        idx = order[start : start + BATCH]
        probs = model.classify([texts[i] for i in idx])
        best = probs.argmax(axis=1)
        for row, i in enumerate(idx):
            out[i] = Answer(model.labels[int(best[row])], float(probs[row, best[row]]))
    return [a for a in out if a is not None]


class ClassifyOutcomes:
    """An :class:`bench.calibrate.OutcomeSource` for a classify route with a domain model."""

    task = "classify"

    def __init__(self, route: RouteConfig, outcomes: Sequence[TextOutcome], domain_price: float, split: str):
        self.route = route
        self.outcomes = list(outcomes)
        self.domain_price = domain_price
        self.split = split
        self.escalate = set(route.escalate_labels)

    def grid(self) -> list[dict[str, float | None]]:
        """min_confidence x edge_oos_final_confidence."""
        return [
            {"min_confidence": t, "edge_oos_final_confidence": f} for f in OOS_FINAL for t in MIN_CONFIDENCES
        ]

    def _route_one(self, o: TextOutcome, t: float, final_at: float | None) -> tuple[str, float, bool]:
        """(label, cost, hosted?) of one text under the router's rule."""
        esc = self.escalate
        cost = self.domain_price
        hosted = (o.hosted.label, cost + o.hosted_cost_usd, True)
        d = o.domain
        if d.label in esc:
            if final_at is not None and d.confidence >= final_at:
                return d.label, cost, False
            return hosted
        if d.confidence < t:
            return hosted
        last = len(o.cascade) - 1
        for position, (answer, price) in enumerate(o.cascade):
            cost += price
            if answer.label not in esc and answer.confidence >= t:
                return answer.label, cost, False
            if (
                position == last
                and answer.label in esc
                and final_at is not None
                and answer.confidence >= final_at
            ):
                return answer.label, cost, False
        return o.hosted.label, cost + o.hosted_cost_usd, True

    def _score(
        self, params: Params, route_one: Callable[[TextOutcome], tuple[str, float, bool]]
    ) -> OperatingPoint:
        correct = in_correct = in_total = oos_hit = oos_total = hosted = 0
        cost = 0.0
        for o in self.outcomes:
            label, c, h = route_one(o)
            ok = label == o.gold
            correct += ok
            cost += c
            hosted += h
            if o.gold == OOS:
                oos_total += 1
                oos_hit += label == OOS
            else:
                in_total += 1
                in_correct += ok
        n = max(len(self.outcomes), 1)
        return OperatingPoint(
            params=dict(params),
            requests=len(self.outcomes),
            accuracy=correct / n,
            cost_usd=cost,
            hosted_share=hosted / n,
            figures={
                "in_scope_accuracy": in_correct / max(in_total, 1),
                "oos_recall": oos_hit / max(oos_total, 1),
            },
        )

    def evaluate(self, params: Params) -> OperatingPoint:
        """The route at `params` (missing keys: the route's own values)."""
        t = params.get("min_confidence", self.route.min_confidence)
        f = params.get("edge_oos_final_confidence", self.route.edge_oos_final_confidence)
        t = float(t if t is not None else 0.0)
        return self._score(params, lambda o: self._route_one(o, t, f))

    def all_hosted(self) -> OperatingPoint:
        """Every text answered by the hosted fallback (no edge call)."""
        return self._score({}, lambda o: (o.hosted.label, o.hosted_cost_usd, True))

    def all_edge(self) -> OperatingPoint:
        """Every text answered at the edge: the domain model's oos, else the first deployment."""

        def edge(o: TextOutcome) -> tuple[str, float, bool]:
            if o.domain.label in self.escalate or not o.cascade:
                return OOS, self.domain_price, False
            answer, price = o.cascade[0]
            return answer.label, self.domain_price + price, False

        return self._score({}, edge)

    def oracle(self) -> OperatingPoint:
        """The edge's answer when any edge model asked is right (paying up to it), else the hosted one."""

        def best(o: TextOutcome) -> tuple[str, float, bool]:
            cost = self.domain_price
            if o.domain.label in self.escalate:
                if o.gold == o.domain.label:
                    return o.domain.label, cost, False
            else:
                for answer, price in o.cascade:
                    cost += price
                    if answer.label == o.gold:
                        return answer.label, cost, False
            return o.hosted.label, cost + o.hosted_cost_usd, True

        return self._score({"oracle": None}, best)


def build_outcomes(
    policy: Policy, route: RouteConfig, registry: Any, examples: Sequence[tuple[str, str]], split: str
) -> ClassifyOutcomes:
    """Run every model of `route` on `examples` ((text, gold) pairs) and collect the outcomes."""
    from fleet.models.manifest import load_bundle, resolve_model_dir
    from fleet.serving.runtime import TextModel
    from router.costs import estimate_hosted_cost
    from standin.handlers import oos_threshold_of, pick_label

    if route.task != "classify" or not route.domain_model or not route.fallback:
        raise ValueError(
            f"route {route.name!r}: calibration needs a classify route with a domain model and a fallback"
        )
    hosted_cfg = policy.hosted_endpoint(route.fallback)
    if hosted_cfg.stand_in is None:
        raise ValueError(
            f"hosted endpoint {hosted_cfg.name!r} is not the offline stand-in: its answers cannot be computed "
            "here (calibrate against the stand-in, or supply an outcome source that calls the endpoint)"
        )

    def load(model: str) -> Any:
        return TextModel.load(load_bundle(resolve_model_dir(registry, model)), ("CPU",))

    texts = [t for t, _ in examples]
    domain_dep = policy.deployment(route.domain_model)
    domain_answers = _predict(load(domain_dep.model), texts)
    by_domain: dict[str, list[int]] = {}
    for i, a in enumerate(domain_answers):
        by_domain.setdefault(a.label, []).append(i)
    cascades: list[list[tuple[Answer, float]]] = [[] for _ in texts]
    labels: dict[str, None] = {}
    for domain, names in route.specialists.items():
        ordered = sorted(enumerate(names), key=lambda p: (policy.deployment(p[1]).price_per_call_usd, p[0]))
        for _, name in ordered:
            dep = policy.deployment(name)
            model = load(dep.model)
            labels.update(dict.fromkeys(model.labels))
            idx = by_domain.get(domain, [])
            for i, answer in zip(idx, _predict(model, [texts[i] for i in idx]), strict=True):
                cascades[i].append((answer, dep.price_per_call_usd))
    labels.update(dict.fromkeys(route.escalate_labels))
    candidates = list(labels)
    generalist = load(hosted_cfg.stand_in.model)
    threshold = oos_threshold_of(generalist)
    hosted: list[Answer] = []
    for start in range(0, len(texts), BATCH):
        probs = generalist.classify(texts[start : start + BATCH])
        for row in np.asarray(probs):
            label, conf = pick_label(row, list(generalist.labels), candidates, threshold)
            hosted.append(Answer(label, conf))
    outcomes = [
        TextOutcome(
            gold=gold,
            domain=domain_answers[i],
            cascade=tuple(cascades[i]),
            hosted=hosted[i],
            hosted_cost_usd=estimate_hosted_cost(hosted_cfg, "classify", text, candidates),
        )
        for i, (text, gold) in enumerate(examples)
    ]
    return ClassifyOutcomes(route, outcomes, domain_dep.price_per_call_usd, split)
