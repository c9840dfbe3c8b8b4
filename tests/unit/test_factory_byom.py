"""Bring your own model: an IR registered, adapted to the EdgeFleet interface, and loaded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import openvino as ov
import openvino.opset13 as ops
import pytest

from factory.byom import read_labels, register_model
from fleet.errors import ModelLoadError
from fleet.models.manifest import load_bundle
from fleet.serving.runtime import TextModel


def _foreign_ir(folder: Path, dim: int = 64, labels: int = 3) -> Path:
    """An IR as someone else would export it: input 'x', output 'logits', no softmax."""
    rng = np.random.default_rng(0)
    x = ops.parameter([-1, dim], ov.Type.f32, name="x")
    logits = ops.matmul(x, ops.constant(rng.standard_normal((dim, labels)).astype(np.float32)), False, False)
    logits.output(0).get_tensor().set_names({"logits"})
    path = folder / "foreign.xml"
    ov.save_model(ov.Model([ops.result(logits)], [x], "foreign"), str(path))
    return path


def test_ir_is_registered_and_serves(tmp_path: Path) -> None:
    source = _foreign_ir(tmp_path)
    folder = register_model(tmp_path / "reg", source, "mine", ["a", "b", "c"], "classify")
    assert folder == tmp_path / "reg" / "mine" / "1-byom"
    assert (tmp_path / "reg" / "mine" / "latest").read_text().strip() == "1-byom"
    bundle = load_bundle(folder)
    assert bundle.manifest.featurizer["kind"] == "hashed" and bundle.manifest.featurizer["dim"] == 64
    assert [s.name for s in bundle.manifest.inputs] == ["FEATURES"]
    assert [s.name for s in bundle.manifest.outputs] == ["PROBS"]
    model = TextModel.load(bundle)
    probs = model.classify(["hello there", "another text"])
    assert probs.shape == (2, 3) and np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    again = register_model(tmp_path / "reg", source, "mine", ["a", "b", "c"], "classify")
    assert again.name == "2-byom"


def test_labels_are_required_and_checked(tmp_path: Path) -> None:
    source = _foreign_ir(tmp_path)
    with pytest.raises(ModelLoadError, match="needs labels"):
        register_model(tmp_path / "reg", source, "mine", None, "classify")
    with pytest.raises(ModelLoadError, match="3 outputs but 2 labels"):
        register_model(tmp_path / "reg", source, "mine", ["a", "b"], "classify")
    (tmp_path / "labels.txt").write_text("a\nb\n\nc\n")
    assert read_labels(tmp_path / "labels.txt") == ["a", "b", "c"]
    assert register_model(tmp_path / "reg", source, "mine", None, "classify").is_dir()  # labels.txt sidecar


def test_unreadable_or_unsupported_files_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="does not exist"):
        register_model(tmp_path, tmp_path / "missing.onnx", "m", ["a"], "classify")
    bad = tmp_path / "model.onnx"
    bad.write_bytes(b"not an onnx file")
    with pytest.raises(ModelLoadError, match="cannot read"):
        register_model(tmp_path, bad, "m", ["a"], "classify")
    other = tmp_path / "model.h5"
    other.write_bytes(b"x")
    with pytest.raises(ModelLoadError, match="unsupported"):
        register_model(tmp_path, other, "m", ["a"], "classify")


def test_pickled_pytorch_is_refused_without_trust_pickle(tmp_path: Path) -> None:
    """Unpickling runs code: a .pt/.pth file is refused (before torch is even imported) unless
    the caller passes trust_pickle, and the message says why and what to do instead."""
    evil = tmp_path / "model.pt"
    evil.write_bytes(b"\x80\x04cos\nsystem\n(S'touch pwned'\ntR.")  # a pickle that would run a command
    for suffix in (".pt", ".pth"):
        path = evil.with_suffix(suffix)
        path.write_bytes(evil.read_bytes())
        with pytest.raises(
            ModelLoadError, match=r"pickled PyTorch file.*arbitrary|runs any code.*--trust-pickle"
        ):
            register_model(tmp_path / "reg", path, "m", ["a"], "classify")
    assert not (tmp_path / "pwned").exists()
    assert not (tmp_path / "reg" / "m").exists()


def test_models_add_cli_refuses_pickle_and_says_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from cli.main import main

    evil = tmp_path / "model.pth"
    evil.write_bytes(b"not really a model")
    code = main(
        [
            "models",
            "add",
            str(evil),
            "--name",
            "m",
            "--labels",
            str(_labels(tmp_path)),
            "--registry",
            str(tmp_path),
        ]
    )
    assert code == 1
    err = capsys.readouterr().err
    assert "pickled PyTorch file" in err and "--trust-pickle" in err and "TorchScript" in err


def _labels(tmp_path: Path) -> Path:
    labels = tmp_path / "labels.txt"
    labels.write_text("a\nb\n")
    return labels
