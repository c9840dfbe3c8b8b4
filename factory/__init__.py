"""The model factory: MiniLM -> OpenVINO IR (FP32 and INT8), heads, distilled students, pruning,
bring-your-own-model and the evaluation report. Build-time only (numpy, nncf, scikit-learn,
safetensors, matplotlib); the runtime needs only openvino and tokenizers.

Public entry points live in :mod:`factory.pipeline`. The only package that imports nncf and scikit-learn.
"""
