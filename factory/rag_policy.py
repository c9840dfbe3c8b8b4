"""The learned escalation policy of a generate route: a small head that predicts, BEFORE
generating, whether the edge LLM's answer will be good (token F1 against the references at least
``good_f1``), from the features of :mod:`edgefleet.escalation_features` (the query's MiniLM
embedding, the retrieval scores, the best sentence's overlap, the question's type and length).

Trained on outcomes of the TUNE split only (``edgefleet rag outcomes --split tune``): standardised
features, L2-regularised logistic regression (scikit-learn), the strength chosen by 5-fold
cross-validated ROC AUC. The out-of-fold probabilities are kept with the model
(``calibration.jsonl``, one line per tune question: p(good), edge and hosted F1 and cost) so
``edgefleet route calibrate`` chooses the threshold on predictions the head did not train on.
Exported to OpenVINO as a one-layer MLP with a softmax over ``[bad, good]`` (the standardisation
folded into the weights); the manifest's featurizer is ``vector`` (the input text is the feature
vector as a JSON list), so it deploys like any classify model.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgefleet.escalation_features import FEATURE_DIM, FEATURES_VERSION
from edgefleet.rag_outcomes import Outcome
from factory.export import MLPWeights, export_mlp, mlp_tensor_specs, numpy_forward
from fleet.models.registry import write_model_version

LABELS = ["bad", "good"]
GOOD_F1 = 0.5
C_GRID = (0.0003, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0)
CALIBRATION_FILE = "calibration.jsonl"


@dataclass(frozen=True)
class PolicyResult:
    """A trained policy: where it was written and how well it separates (cross-validated)."""

    name: str
    version: str
    folder: Path
    n: int
    good_share: float
    cv_auc: float
    c: float
    oof_p_good: list[float]


def fit_policy(x: np.ndarray, y: np.ndarray, seed: int = 0) -> tuple[MLPWeights, float, float, np.ndarray]:
    """(weights, chosen C, CV AUC, out-of-fold p(good)) for features `x` [n, d] and labels `y`
    (1 = good)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    folds = StratifiedKFold(n_splits=max(2, min(5, int(min(y.sum(), len(y) - y.sum())))), shuffle=True, random_state=seed)
    best: tuple[float, float, np.ndarray] | None = None
    for c in C_GRID:
        model = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=2000))
        oof = cross_val_predict(model, x, y, cv=folds, method="predict_proba")[:, 1]
        auc = float(roc_auc_score(y, oof))
        if best is None or auc > best[1]:
            best = (c, auc, oof)
    assert best is not None
    c, auc, oof = best
    model = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=2000)).fit(x, y)
    scaler, logit = model[0], model[1]
    scale = np.where(scaler.scale_ > 0, scaler.scale_, 1.0)
    w = logit.coef_[0] / scale
    b = float(logit.intercept_[0] - np.dot(logit.coef_[0], scaler.mean_ / scale))
    out_w = np.zeros((x.shape[1], 2), dtype=np.float32)
    out_w[:, 1] = w
    out_b = np.array([0.0, b], dtype=np.float32)
    return MLPWeights(hidden=[], output=(out_w, out_b)), c, auc, oof


def train_policy(
    registry: Path, name: str, outcomes: Sequence[Outcome], good_f1: float = GOOD_F1, *, min_class: int = 5
) -> PolicyResult:
    """Train on TUNE outcomes, export, and write model `name` to the registry with its
    calibration file. ValueError when the outcomes are not from the tune split or cannot train."""
    splits = {o.split for o in outcomes}
    if splits != {"tune"}:
        raise ValueError(f"a policy trains on the tune split only; these outcomes are from {sorted(splits)}")
    x = np.asarray([o.features for o in outcomes], dtype=np.float32)
    if x.ndim != 2 or x.shape[1] != FEATURE_DIM:
        raise ValueError(f"features must be {FEATURE_DIM} wide ({FEATURES_VERSION}), got shape {x.shape}")
    y = np.asarray([o.edge.f1 >= good_f1 for o in outcomes], dtype=np.int64)
    if y.sum() < min_class or (len(y) - y.sum()) < min_class:
        raise ValueError(
            f"need at least {min_class} good and {min_class} bad edge answers, got {int(y.sum())} / {len(y) - int(y.sum())}"
        )
    weights, c, auc, oof = fit_policy(x, y)
    ir_probs, _ = numpy_forward(weights, x)
    xml, weights_bin = export_mlp(weights, model_name=name)
    inputs, outputs = mlp_tensor_specs(weights)
    calibration = "".join(
        json.dumps(
            {
                "qid": o.qid,
                "p_good": round(float(p), 6),
                "edge_f1": o.edge.f1,
                "hosted_f1": o.hosted.f1 if o.hosted else None,
                "edge_cost_usd": o.edge.cost_usd,
                "hosted_cost_usd": o.hosted.cost_usd if o.hosted else None,
                "confidence": o.edge.confidence,
            }
        )
        + "\n"
        for o, p in zip(outcomes, oof, strict=True)
    ).encode("utf-8")
    digest = hashlib.sha256(xml + weights_bin + calibration).hexdigest()[:12]
    metrics = {
        "cv_auc": round(auc, 4),
        "c": c,
        "train_questions": float(len(y)),
        "good_share": round(float(y.mean()), 4),
        "good_f1": good_f1,
        "train_auc": round(float(_auc(ir_probs[:, 1], y)), 4),
    }
    folder = write_model_version(
        registry,
        name=name,
        version=f"1-{digest}",
        task="classify",
        labels=LABELS,
        precision="FP32",
        featurizer={"kind": "vector", "dim": FEATURE_DIM, "features": FEATURES_VERSION},
        inputs=inputs,
        outputs=outputs,
        files={"model.xml": xml, "model.bin": weights_bin, CALIBRATION_FILE: calibration},
        metrics=metrics,
    )
    return PolicyResult(name, f"1-{digest}", folder, len(y), float(y.mean()), auc, c, [float(p) for p in oof])


def _auc(scores: np.ndarray, labels: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(labels, scores))
