"""INT8 post-training quantisation of OpenVINO models with NNCF (``nncf.quantize``).

Calibration runs the model on real texts (a CLINC150 train sample), featurised by the model's own
featuriser, one text per calibration item. The defaults were chosen by measuring on this kind of CPU
(AVX2, no VNNI); see the eval report for the resulting FP32 vs INT8 latency and accuracy.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import openvino as ov


@dataclass(frozen=True)
class QuantizeOptions:
    """Knobs of ``nncf.quantize`` that matter for a BERT encoder."""

    transformer: bool = True  # nncf.ModelType.TRANSFORMER: keeps softmax/LayerNorm paths in FP32
    preset: str = "mixed"  # "mixed" (asymmetric activations) or "performance" (symmetric)
    fast_bias_correction: bool = True
    subset_size: int = 300


def quantize_model(
    model: ov.Model,
    calibration_texts: Sequence[str],
    featurize: Callable[[Sequence[str]], dict[str, np.ndarray]],
    options: QuantizeOptions = QuantizeOptions(),
) -> ov.Model:
    """An INT8 copy of ``model`` calibrated on ``calibration_texts`` (original left untouched)."""
    import nncf

    logging.getLogger("nncf").setLevel(logging.ERROR)
    items = [featurize([text]) for text in calibration_texts]
    if not items:
        raise ValueError("quantisation needs at least one calibration text")
    dataset = nncf.Dataset(items)
    kwargs: dict[str, Any] = {
        "subset_size": min(options.subset_size, len(items)),
        "fast_bias_correction": options.fast_bias_correction,
        "preset": nncf.QuantizationPreset.MIXED
        if options.preset == "mixed"
        else nncf.QuantizationPreset.PERFORMANCE,
    }
    if options.transformer:
        kwargs["model_type"] = nncf.ModelType.TRANSFORMER
    return nncf.quantize(model.clone(), dataset, **kwargs)
