"""The generative-model part of a manifest (task ``generate``) and checks of a model folder on disk.

An LLM version folder holds the OpenVINO GenAI layout (``openvino_model.xml/.bin``, the tokenizer
and detokenizer IRs, ``config.json``, ``generation_config.json``) next to ``manifest.yaml``; the
manifest's :class:`LLMSpec` records the chat template, the context length and which files are
which. LLM weights are large (about 95 MB for SmolLM2-135M), so unlike the small models they are
never read into a :class:`fleet.models.manifest.ModelBundle`: a replica loads them from the
registry folder on its node after :func:`verify_folder` has checked every sha256.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from fleet.errors import ModelLoadError

GENERATE_TASK = "generate"
MODEL_XML = "openvino_model.xml"
MODEL_BIN = "openvino_model.bin"
TOKENIZER_XML = "openvino_tokenizer.xml"
TOKENIZER_BIN = "openvino_tokenizer.bin"
DETOKENIZER_XML = "openvino_detokenizer.xml"
DETOKENIZER_BIN = "openvino_detokenizer.bin"
REQUIRED_LLM_FILES = (MODEL_XML, MODEL_BIN, TOKENIZER_XML, TOKENIZER_BIN, DETOKENIZER_XML, DETOKENIZER_BIN)
CONFIG_JSON = "config.json"
GENERATION_CONFIG_JSON = "generation_config.json"
_BLOCK = 1 << 20


class LLMSpec(BaseModel):
    """What serving a generative model needs beyond the common manifest fields."""

    model_config = ConfigDict(extra="forbid")

    context_length: int = Field(gt=0, description="most tokens (prompt + answer) the model attends to")
    chat_template: str = Field(description="Jinja chat template applied by the replica")
    architecture: str = ""
    source: str = Field("", description="what it was built from, e.g. the GGUF file name")
    source_sha256: str | None = None
    compression: str = Field("none", description="NNCF weight compression applied: none, int8, int4")
    bos_token_id: int | None = None
    eos_token_id: int | None = None
    model_xml: str = MODEL_XML
    model_bin: str = MODEL_BIN
    tokenizer_xml: str = TOKENIZER_XML
    tokenizer_bin: str = TOKENIZER_BIN
    detokenizer_xml: str = DETOKENIZER_XML
    detokenizer_bin: str = DETOKENIZER_BIN

    def required_files(self) -> list[str]:
        """The model, tokenizer and detokenizer files the folder must hold."""
        return [
            self.model_xml,
            self.model_bin,
            self.tokenizer_xml,
            self.tokenizer_bin,
            self.detokenizer_xml,
            self.detokenizer_bin,
        ]


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks (never whole into memory)."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_folder(folder: Path, files: Mapping[str, str], required: list[str], *, where: str) -> None:
    """Check that `folder` holds every file of `files` (name -> sha256) with that sha256, and that
    every `required` file is listed. Raises ModelLoadError naming the file and the problem."""
    for name in required:
        if name not in files:
            raise ModelLoadError(f"{where}: manifest does not list required file {name!r}")
    for name, expected in files.items():
        if Path(name).name != name:
            raise ModelLoadError(f"{where}: file name {name!r} must be a plain name in the folder")
        path = Path(folder) / name
        try:
            size = path.stat().st_size
            actual = file_sha256(path)
        except FileNotFoundError:
            raise ModelLoadError(f"{where}: file {name!r} is missing from {folder}") from None
        except OSError as exc:
            raise ModelLoadError(f"{where}: file {name!r} cannot be read: {exc}") from exc
        if actual != expected.lower():
            what = "is empty" if size == 0 else f"is corrupt or truncated ({size} bytes)"
            raise ModelLoadError(
                f"{where}: file {name!r} {what}: sha256 {actual[:16]}... does not match the "
                f"manifest's {expected[:16]}..."
            )
