"""Bring your own model: register an OpenVINO IR, an ONNX file or (when torch is installed) a PyTorch
module in the registry, converted with ``openvino.convert_model`` where needed.

The IR's interface is adapted to the EdgeFleet conventions: a single float ``[N, D]`` input becomes
``FEATURES`` (hashed featuriser of width D); ``input_ids``/``attention_mask`` inputs use the wordpiece
featuriser with a ``tokenizer.json`` (given, or found next to the model); the first output is named
``PROBS`` (classify; softmax added unless the model already ends in one) or ``EMBEDDING`` (embed).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from factory.export import serialize_model
from fleet.errors import ModelLoadError
from fleet.models.featurize import DEFAULT_HASHED_CONFIG
from fleet.models.manifest import TensorSpec
from fleet.models.registry import write_model_version

_DATATYPES = {"f32": "FP32", "f16": "FP16", "i64": "INT64", "i32": "INT32", "u8": "UINT8", "i8": "INT8"}


def read_labels(path: Path) -> list[str]:
    """One label per non-empty line."""
    try:
        labels = [
            line.strip() for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()
        ]
    except OSError as exc:
        raise ModelLoadError(f"labels file {path} cannot be read: {exc}") from exc
    if not labels:
        raise ModelLoadError(f"labels file {path} has no labels")
    return labels


PICKLE_REFUSED = (
    "{path} is a pickled PyTorch file: loading it runs any code the file holds (torch.load with "
    "weights_only=False), so it is refused. Export it to TorchScript (.ts) or ONNX (.onnx), or pass "
    "--trust-pickle if you trust where the file came from"
)


def _load_torch(path: Path, example: Any, trust_pickle: bool = False) -> Any:
    if path.suffix != ".ts" and not trust_pickle:
        raise ModelLoadError(PICKLE_REFUSED.format(path=path))
    try:
        import torch
    except ImportError:
        raise ModelLoadError(
            f"{path}: registering a PyTorch model needs torch installed (pip install torch)"
        ) from None
    import openvino as ov

    try:
        module = (
            torch.jit.load(str(path)) if path.suffix == ".ts" else torch.load(str(path), weights_only=False)
        )
    except Exception as exc:
        raise ModelLoadError(f"{path}: cannot load the PyTorch module: {exc}") from exc
    if example is None:
        example = torch.zeros(1, int(DEFAULT_HASHED_CONFIG["dim"]))
    return ov.convert_model(module, example_input=example)


def read_any_model(path: Path, example_input: Any = None, *, trust_pickle: bool = False) -> Any:
    """An ``ov.Model`` from an IR (.xml or a folder holding model.xml), ONNX file or PyTorch module
    (TorchScript; a pickled .pt/.pth only with `trust_pickle`, since unpickling runs its code)."""
    import openvino as ov

    path = Path(path)
    if path.is_dir():
        path = path / "model.xml"
    if not path.exists():
        raise ModelLoadError(f"{path} does not exist")
    suffix = path.suffix.lower()
    try:
        if suffix == ".xml":
            return ov.Core().read_model(str(path))
        if suffix == ".onnx":
            return ov.convert_model(str(path))
    except Exception as exc:
        raise ModelLoadError(f"{path}: OpenVINO cannot read it: {exc}") from exc
    if suffix in (".pt", ".pth", ".ts"):
        return _load_torch(path, example_input, trust_pickle)
    raise ModelLoadError(f"{path}: unsupported model file (expected .xml, .onnx, .pt/.pth/.ts)")


def _adapt_inputs(
    model: Any, source: Path, tokenizer: Path | None
) -> tuple[dict[str, Any], dict[str, bytes]]:
    names = [port.get_any_name() for port in model.inputs]
    if set(names) <= {"input_ids", "attention_mask", "token_type_ids"} and "input_ids" in names:
        tok = tokenizer or Path(source).with_name("tokenizer.json")
        if not Path(tok).is_file():
            raise ModelLoadError(f"{source}: a token-id model needs a tokenizer.json (none at {tok})")
        return (
            {"kind": "wordpiece", "tokenizer": "tokenizer.json", "max_len": 64},
            {"tokenizer.json": Path(tok).read_bytes()},
        )
    if len(model.inputs) == 1 and model.inputs[0].get_partial_shape().rank.get_length() == 2:
        dim = model.inputs[0].get_partial_shape()[1]
        if dim.is_dynamic:
            raise ModelLoadError(
                f"{source}: the feature input needs a static width, got {model.inputs[0].get_partial_shape()}"
            )
        model.inputs[0].get_tensor().set_names({"FEATURES"})
        model.reshape({model.inputs[0]: [-1, dim.get_length()]})
        return {**DEFAULT_HASHED_CONFIG, "dim": dim.get_length()}, {}
    raise ModelLoadError(
        f"{source}: inputs {names} fit no featuriser (one float [N, D] input, or input_ids/attention_mask)"
    )


def _adapt_output(model: Any, task: str, labels: list[str]) -> Any:
    import openvino as ov
    import openvino.opset13 as ops

    wanted = "PROBS" if task == "classify" else "EMBEDDING"
    if any(wanted in out.get_names() for out in model.outputs):
        return model
    producer = model.get_results()[0].input_value(0)
    if task == "classify":
        width = producer.get_partial_shape()[-1]
        if width.is_static and width.get_length() != len(labels):
            raise ModelLoadError(
                f"the model has {width.get_length()} outputs but {len(labels)} labels were given"
            )
        already_softmax = producer.get_node().get_type_name().startswith("Softmax")
        node = producer.get_node() if already_softmax else ops.softmax(producer, -1)
    else:
        node = producer.get_node()
    node.output(0).get_tensor().set_names({wanted})
    result = ops.result(node)
    result.output(0).get_tensor().set_names({wanted})
    return ov.Model([result], list(model.get_parameters()), model.get_friendly_name())


def _precision(model: Any) -> str:
    types = {op.get_type_name() for op in model.get_ops()}
    if "FakeQuantize" in types or "FakeConvert" in types:
        return "INT8"
    consts = {
        op.get_output_element_type(0).get_type_name()
        for op in model.get_ops()
        if op.get_type_name() == "Constant"
    }
    return "INT8" if "i8" in consts or "u8" in consts else ("FP16" if "f16" in consts else "FP32")


def _spec(port: Any, name: str) -> TensorSpec:
    dtype = _DATATYPES.get(port.get_element_type().get_type_name(), "FP32")
    shape = [d.get_length() if d.is_static else -1 for d in port.get_partial_shape()]
    return TensorSpec(name=name, datatype=dtype, shape=shape)


def register_model(
    registry: Path,
    path: Path,
    name: str,
    labels: list[str] | None,
    task: str,
    *,
    version: str | None = None,
    tokenizer: Path | None = None,
    example_input: Any = None,
    trust_pickle: bool = False,
) -> Path:
    """Convert/adapt the model at ``path`` and write it into ``registry`` as ``name`` (new latest);
    a pickled PyTorch file only with `trust_pickle`."""
    if task not in ("classify", "embed"):
        raise ModelLoadError(f"task must be 'classify' or 'embed', got {task!r}")
    if task == "classify" and not labels:
        sidecar = Path(path).with_name("labels.txt")
        if not sidecar.is_file():
            raise ModelLoadError("a classify model needs labels: pass --labels FILE (one label per line)")
        labels = read_labels(sidecar)
    model = read_any_model(Path(path), example_input, trust_pickle=trust_pickle)
    featurizer, extra_files = _adapt_inputs(model, Path(path), tokenizer)
    model = _adapt_output(model, task, labels or [])
    model_dir = Path(registry) / name
    existing = (
        [p for p in model_dir.iterdir() if p.is_dir() and not p.name.startswith(".")]
        if model_dir.is_dir()
        else []
    )
    version = version or f"{len(existing) + 1}-byom"
    xml, weights = serialize_model(model, compress_to_fp16=False)
    inputs = [_spec(p, p.get_any_name()) for p in model.inputs]
    outputs = [_spec(p, p.get_any_name()) for p in model.outputs]
    return write_model_version(
        registry,
        name=name,
        version=version,
        task=task,
        labels=list(labels or []) if task == "classify" else [],
        precision=_precision(model),
        featurizer=featurizer,
        inputs=inputs,
        outputs=outputs,
        files={"model.xml": xml, "model.bin": weights, **extra_files},
        metrics={},
        set_latest=True,
    )
