"""The learned escalation policy of a generate route: a small head that predicts, BEFORE
generating, whether the edge LLM's answer will be good (token F1 against the references at least
``good_f1``), from the features of :mod:`edgefleet.escalation_features` (the query's MiniLM
embedding, the retrieval scores, the best sentence's overlap, the question's type and length).

Trained on outcomes of the TUNE split only (``edgefleet rag outcomes --split tune``): standardised
features, the 384-d embedding reduced to a few principal components (a few hundred questions do
not support 384 free weights), L2-regularised logistic regression (scikit-learn); the number of
components and the strength chosen by 5-fold cross-validated ROC AUC. The out-of-fold
probabilities are kept with the model
(``calibration.jsonl``, one line per tune question: p(good), edge and hosted F1 and cost) so
``edgefleet route calibrate`` chooses the threshold on predictions the head did not train on.
Exported to OpenVINO as a one-layer MLP with a softmax over ``[bad, good]`` (standardisation and
projection folded into the weights); the manifest's featurizer is ``vector`` (the input text is the feature
vector as a JSON list), so it deploys like any classify model.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgefleet.escalation_features import EMBEDDING_DIM, FEATURE_DIM, FEATURES_VERSION
from edgefleet.rag_outcomes import Outcome
from factory.export import MLPWeights, export_mlp, mlp_tensor_specs, numpy_forward
from fleet.models.registry import write_model_version

LABELS = ["bad", "good"]
GOOD_F1 = 0.5
C_GRID = (0.001, 0.01, 0.1, 1.0)
COMPONENTS = (0, 8, 32)
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
    setting: tuple[int, float]  # embedding principal components, regularisation C
    oof_p_good: list[float]


def _pipeline(components: int, c: float) -> Any:
    """Standardise; the embedding reduced to `components` principal components (0: left out),
    the scalar features as they are; L2 logistic regression."""
    from sklearn.compose import ColumnTransformer
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    embedding = slice(0, EMBEDDING_DIM)
    scalars = slice(EMBEDDING_DIM, FEATURE_DIM)
    reduce: Any = PCA(n_components=components, random_state=0) if components else "drop"
    columns = ColumnTransformer([("embedding", reduce, embedding), ("scalars", "passthrough", scalars)])
    return make_pipeline(StandardScaler(), columns, LogisticRegression(C=c, max_iter=2000))


def _fold(model: Any, components: int) -> MLPWeights:
    """The fitted pipeline as one linear layer on the raw features (softmax over [bad, good])."""
    scaler, columns, logit = model[0], model[1], model[2]
    coef = logit.coef_[0]
    wz = np.zeros(FEATURE_DIM, dtype=np.float64)
    bz = float(logit.intercept_[0])
    if components:
        pca = columns.named_transformers_["embedding"]
        w_e = coef[:components]
        wz[:EMBEDDING_DIM] = pca.components_.T @ w_e
        bz -= float(pca.mean_ @ pca.components_.T @ w_e)
    wz[EMBEDDING_DIM:] = coef[components:]
    scale = np.where(scaler.scale_ > 0, scaler.scale_, 1.0)
    w = wz / scale
    b = bz - float(np.dot(wz, scaler.mean_ / scale))
    out_w = np.zeros((FEATURE_DIM, 2), dtype=np.float32)
    out_w[:, 1] = w
    return MLPWeights(hidden=[], output=(out_w, np.array([0.0, b], dtype=np.float32)))


def fit_policy(
    x: np.ndarray, y: np.ndarray, seed: int = 0
) -> tuple[MLPWeights, tuple[int, float], float, np.ndarray]:
    """(weights, chosen setting, CV AUC, out-of-fold p(good)) for features `x` [n, FEATURE_DIM]
    and labels `y` (1 = good): the embedding's principal components and the regularisation
    strength are chosen by 5-fold cross-validated ROC AUC."""
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    minority = int(min(y.sum(), len(y) - y.sum()))
    folds = StratifiedKFold(n_splits=max(2, min(5, minority)), shuffle=True, random_state=seed)
    best: tuple[float, int, float, np.ndarray] | None = None
    for components in COMPONENTS:
        if components >= min(len(y) * 0.8, EMBEDDING_DIM):
            continue
        for c in C_GRID:
            oof = cross_val_predict(_pipeline(components, c), x, y, cv=folds, method="predict_proba")[:, 1]
            auc = float(roc_auc_score(y, oof))
            if best is None or auc > best[0]:
                best = (auc, components, c, oof)
    assert best is not None
    auc, components, c, oof = best
    model = _pipeline(components, c).fit(x, y)
    return _fold(model, components), (components, c), auc, oof


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
            f"need at least {min_class} good and {min_class} bad edge answers, "
            f"got {int(y.sum())} / {len(y) - int(y.sum())}"
        )
    weights, setting, auc, oof = fit_policy(x, y)
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
        "pca_components": float(setting[0]),
        "c": setting[1],
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
    return PolicyResult(
        name, f"1-{digest}", folder, len(y), float(y.mean()), auc, setting, [float(p) for p in oof]
    )


def _auc(scores: np.ndarray, labels: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(labels, scores))


SHIPPED_DIR = Path(__file__).resolve().parents[1] / "deploy" / "policies"


def install_shipped_policy(
    registry: Path, name: str = "squad-policy", shipped: Path = SHIPPED_DIR
) -> Path | None:
    """Copy the policy version shipped in the repository (``deploy/policies/<name>/<version>``,
    trained on the TUNE split's outcomes with the default edge LLM and collection) into the
    registry when the registry has no such model; returns the folder written (None: nothing to
    do). Retrain with ``edgefleet rag outcomes`` and ``edgefleet models policy``."""
    import shutil

    from fleet.models.manifest import load_bundle
    from fleet.models.registry import write_latest

    target = Path(registry) / name
    if (target / "latest").is_file():
        return None
    versions = sorted(p for p in (shipped / name).glob("*") if (p / "manifest.yaml").is_file())
    if not versions:
        return None
    source = versions[-1]
    load_bundle(source)  # every file's sha256 checked before it is installed
    folder = target / source.name
    shutil.copytree(source, folder, dirs_exist_ok=True)
    write_latest(Path(registry), name, source.name)
    return folder
