"""The learned escalation policy (factory.rag_policy): trained on TUNE outcomes only, exported to
OpenVINO with the standardisation folded in (the IR agrees with scikit-learn), written to the
registry as a classify model with a vector featurizer and its out-of-fold calibration file."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from edgefleet.escalation_features import EMBEDDING_DIM, FEATURE_DIM, FEATURES_VERSION, encode_vector
from edgefleet.rag_outcomes import Outcome, TierAnswer
from factory.rag_policy import CALIBRATION_FILE, LABELS, train_policy
from fleet.models.manifest import load_bundle, resolve_model_dir
from fleet.serving.runtime import TextModel


def outcomes(n: int = 60, split: str = "tune", seed: int = 0) -> list[Outcome]:
    """Synthetic outcomes whose edge F1 follows the top retrieval score (a learnable signal)."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        vec = [rng.gauss(0.0, 0.2) for _ in range(FEATURE_DIM)]
        vec[EMBEDDING_DIM] = rng.gauss(0.0, 1.0)
        good = vec[EMBEDDING_DIM] + rng.gauss(0.0, 0.3) > 0
        out.append(
            Outcome(
                qid=f"q{i}",
                split=split,
                question="Who?",
                features=vec,
                edge=TierAnswer(
                    answer="a", f1=1.0 if good else 0.0, em=float(good), confidence=0.5, cost_usd=1e-5
                ),
                hosted=TierAnswer(answer="b", f1=0.9, em=1.0, cost_usd=0.002),
            )
        )
    return out


def test_trains_exports_and_registers_a_policy(tmp_path: Path) -> None:
    data = outcomes()
    result = train_policy(tmp_path, "squad-policy", data)
    assert result.cv_auc > 0.8 and 0.2 < result.good_share < 0.8 and len(result.oof_p_good) == len(data)
    bundle = load_bundle(resolve_model_dir(tmp_path, "squad-policy"))
    manifest = bundle.manifest
    assert manifest.task == "classify" and manifest.labels == LABELS
    assert manifest.featurizer == {"kind": "vector", "dim": FEATURE_DIM, "features": FEATURES_VERSION}
    assert manifest.metrics["cv_auc"] == pytest.approx(result.cv_auc, abs=1e-4)
    rows = [json.loads(line) for line in bundle.file(CALIBRATION_FILE).decode().splitlines()]
    assert [r["qid"] for r in rows] == [o.qid for o in data] and rows[0]["hosted_cost_usd"] == 0.002
    assert [r["p_good"] for r in rows] == pytest.approx(result.oof_p_good, abs=1e-5)
    model = TextModel.load(bundle)
    probs = model.classify([encode_vector(o.features) for o in data[:8]])
    assert probs.shape == (8, 2) and np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    good = np.array([o.edge.f1 >= 0.5 for o in data[:8]])
    assert ((probs[:, 1] > 0.5) == good).mean() >= 0.75


def test_refuses_other_splits_wrong_widths_and_one_class(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="tune split only"):
        train_policy(tmp_path, "p", outcomes(split="report"))
    narrow = [o.model_copy(update={"features": o.features[:10]}) for o in outcomes(20)]
    with pytest.raises(ValueError, match="features must be"):
        train_policy(tmp_path, "p", narrow)
    all_good = [o.model_copy(update={"edge": o.edge.model_copy(update={"f1": 1.0})}) for o in outcomes(20)]
    with pytest.raises(ValueError, match="at least 5 good and 5 bad"):
        train_policy(tmp_path, "p", all_good)


def test_the_exported_layer_equals_the_scikit_learn_pipeline() -> None:
    from factory.export import numpy_forward
    from factory.rag_policy import _fold, _pipeline

    data = outcomes(80, seed=3)
    x = np.asarray([o.features for o in data], dtype=np.float32)
    y = np.asarray([o.edge.f1 >= 0.5 for o in data], dtype=np.int64)
    for components in (0, 8):
        model = _pipeline(components, 0.1).fit(x, y)
        probs, _ = numpy_forward(_fold(model, components), x)
        assert np.allclose(probs[:, 1], model.predict_proba(x)[:, 1], atol=1e-4)


def test_the_shipped_policy_installs_once_and_verifies(tmp_path: Path) -> None:
    from factory.rag_policy import SHIPPED_DIR, install_shipped_policy

    folder = install_shipped_policy(tmp_path)
    assert folder is not None and folder.parent == tmp_path / "squad-policy"
    assert install_shipped_policy(tmp_path) is None  # already there: left alone
    manifest = load_bundle(resolve_model_dir(tmp_path, "squad-policy")).manifest
    assert manifest.featurizer["dim"] == FEATURE_DIM and manifest.featurizer["features"] == FEATURES_VERSION
    assert install_shipped_policy(tmp_path / "other", shipped=tmp_path / "none") is None
    assert (SHIPPED_DIR / "squad-policy").is_dir()
