"""NNCF weight compression of an LLM IR folder (``edgefleet models add-llm --compress int8|int4``).

An IR saved from a GGUF already holds 4-bit weights behind decompression subgraphs, on which
``nncf.compress_weights`` finds nothing to do; so the weights are first constant-folded back to
floats (OpenVINO's ConstantFolding pass) and then compressed: ``int8`` is INT8_ASYM per channel,
``int4`` is INT4_ASYM with groups of 32 (the GGUF's own block size; a hidden size that 32 does not
divide falls back to a size that fits). Re-quantising cannot beat the source: see README for the
measured size, load time and speed of each variant.
"""

from __future__ import annotations

import logging
from pathlib import Path

from fleet.models.llm_manifest import MODEL_BIN, MODEL_XML

COMPRESSIONS = ("none", "int8", "int4")
INT4_GROUP = 32


def compress_ir(folder: Path, mode: str) -> str:
    """Compress ``folder/openvino_model.xml`` in place with NNCF; returns the precision label
    (``INT8_ASYM`` or ``INT4_ASYM_G32``). ValueError for an unknown mode."""
    if mode not in ("int8", "int4"):
        raise ValueError(f"compression must be one of {list(COMPRESSIONS)}, got {mode!r}")
    import nncf
    import openvino as ov
    from nncf.quantization.advanced_parameters import AdvancedCompressionParameters, GroupSizeFallbackMode

    logging.getLogger("nncf").setLevel(logging.ERROR)
    core = ov.Core()
    model = core.read_model(str(folder / MODEL_XML))
    passes = ov.passes.Manager()
    passes.register_pass(ov.passes.ConstantFolding())
    passes.run_passes(model)  # u4/u8 decompression subgraphs -> float weights
    if mode == "int8":
        model = nncf.compress_weights(model, mode=nncf.CompressWeightsMode.INT8_ASYM)
        precision = "INT8_ASYM"
    else:
        model = nncf.compress_weights(
            model,
            mode=nncf.CompressWeightsMode.INT4_ASYM,
            group_size=INT4_GROUP,
            advanced_parameters=AdvancedCompressionParameters(
                group_size_fallback_mode=GroupSizeFallbackMode.ADJUST
            ),
        )
        precision = f"INT4_ASYM_G{INT4_GROUP}"
    tmp_xml = folder / f"compressed.{MODEL_XML}"
    ov.save_model(model, str(tmp_xml), compress_to_fp16=True)
    del model
    tmp_xml.replace(folder / MODEL_XML)
    tmp_xml.with_suffix(".bin").replace(folder / MODEL_BIN)
    return precision
