"""Dataset loading: CLINC150 and Banking77, from a local copy or the public source, sha256-checked.

Where the files come from, in order:
1. ``$EDGEFLEET_DATA_DIR`` (must hold ``clinc150/`` and/or ``banking77/``);
2. ``../shared/data`` next to the repository root, or ``./../shared/data`` from the working folder;
3. the dataset's public GitHub source at a pinned commit, downloaded once into
   ``~/.cache/edgefleet/data`` (override with ``$EDGEFLEET_CACHE_DIR``).
Every file, local or downloaded, is checked against its pinned sha256; a mismatch raises
:class:`factory.errors.DataError`.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import random
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from factory.errors import DataError

DATA_DIR_ENV = "EDGEFLEET_DATA_DIR"
CACHE_DIR_ENV = "EDGEFLEET_CACHE_DIR"
OOS_LABEL = "oos"

_CLINC_BASE = "https://raw.githubusercontent.com/clinc/oos-eval/828f8093932c8fe6ca7936c3d2e52903b1c523de/data"
_SQUAD_DEV_URL = "https://rajpurkar.github.io/SQuAD-explorer/dataset/dev-v1.1.json"
_SQUAD_MODELS = "https://raw.githubusercontent.com/rajpurkar/SQuAD-explorer/eee5fdbf62f8613a7812b03419e6b29617b74fd1/models/1.1"
_BANKING_BASE = (
    "https://raw.githubusercontent.com/PolyAI-LDN/task-specific-datasets/"
    "57ec275d8078af65b7731c2a98be812d844a6d6b/banking_data"
)


@dataclass(frozen=True)
class DataFile:
    """A pinned dataset file: path relative to the data folder, public URL and sha256."""

    relpath: str
    url: str
    sha256: str
    local_sha256: str | None = None  # a local copy that differs from the download, byte for byte


DATA_FILES: dict[str, DataFile] = {
    f.relpath: f
    for f in (
        DataFile(
            "clinc150/data_full.json",
            f"{_CLINC_BASE}/data_full.json",
            "36923c3705a59e08fe9c3883d8bc2dd966ef93e22cb78ac41171782a698d56e0",
        ),
        DataFile(
            "clinc150/domains.json",
            f"{_CLINC_BASE}/domains.json",
            "b947b579d3b8e74b06f93b01083d8efaff2888b43a3e362533bd88a6e1211b3a",
        ),
        DataFile(
            "banking77/train.csv",
            f"{_BANKING_BASE}/train.csv",
            "b06e26ac675513959a63135f11b94ea7786ed02da65db93a5650d8838cbc664b",
        ),
        # The shared copy was rebuilt from the official article pages (same content, recomputed
        # answer offsets), so it hashes differently from the official file that a download fetches.
        DataFile(
            "squad-v1.1/dev-v1.1.json",
            _SQUAD_DEV_URL,
            "95aa6a52d5d6a735563366753ca50492a658031da74f301ac5238b03966972c9",
            local_sha256="0e657ce21fbfda5a3dce9e442c563afae5e207de79f5b95f832eada543a9bc68",
        ),
        DataFile(
            "squad-v1.1/predictions/bert-ensemble.json",
            f"{_SQUAD_MODELS}/bert-ensemble.json",
            "619e9d716d7f211eb1433841ecf2e8e0845f0fc46b59d08bff615f27d5d4601d",
        ),
    )
}

Example = tuple[str, str]


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def local_data_dirs() -> list[Path]:
    """Candidate local data folders, in the order they are tried."""
    candidates: list[Path] = []
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        candidates.append(Path(env).expanduser())
    repo_root = Path(__file__).resolve().parents[1]
    candidates.append(repo_root.parent / "shared" / "data")
    candidates.append(Path.cwd().parent / "shared" / "data")
    return candidates


def cache_dir() -> Path:
    """Download cache: ``$EDGEFLEET_CACHE_DIR`` or ``~/.cache/edgefleet/data``."""
    env = os.environ.get(CACHE_DIR_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "edgefleet" / "data"


def download(url: str, dest: Path, expected_sha256: str, timeout_s: float = 60.0) -> bytes:
    """Fetch ``url``, check its sha256 and write it atomically to ``dest``; returns the bytes."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            data: bytes = response.read()
    except OSError as exc:
        raise DataError(f"cannot download {url}: {exc}") from exc
    actual = _sha256(data)
    if actual != expected_sha256:
        raise DataError(
            f"downloaded {url} has sha256 {actual}, expected {expected_sha256}; refusing to use it"
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, dest)
    return data


def read_data_file(relpath: str, *, allow_download: bool = True) -> tuple[bytes, Path]:
    """Bytes and location of a pinned dataset file, verified against its sha256.

    Raises DataError when a local copy fails the check, or no copy exists and downloading fails.
    """
    spec = DATA_FILES[relpath]
    for folder in local_data_dirs():
        path = folder / relpath
        if path.is_file():
            data = path.read_bytes()
            actual = _sha256(data)
            if actual not in (spec.sha256, spec.local_sha256):
                raise DataError(
                    f"{path}: sha256 {actual} does not match the pinned {spec.sha256} "
                    f"(corrupt or different copy; delete it or set ${DATA_DIR_ENV})"
                )
            return data, path
    cached = cache_dir() / relpath
    if cached.is_file():
        data = cached.read_bytes()
        if _sha256(data) == spec.sha256:
            return data, cached
    if not allow_download:
        raise DataError(f"{relpath} not found locally (looked in {[str(p) for p in local_data_dirs()]})")
    return download(spec.url, cached, spec.sha256), cached


def data_sha256(relpaths: Sequence[str]) -> str:
    """A combined sha256 identifying a set of pinned dataset files (for model manifests)."""
    joined = "\n".join(f"{p}={DATA_FILES[p].sha256}" for p in sorted(relpaths))
    return _sha256(joined.encode("utf-8"))


@dataclass(frozen=True)
class Clinc150:
    """CLINC150 splits as lists of ``(text, intent)``; oos splits are labelled ``"oos"``."""

    train: list[Example]
    val: list[Example]
    test: list[Example]
    oos_train: list[Example]
    oos_val: list[Example]
    oos_test: list[Example]
    domains: dict[str, list[str]]
    intent_to_domain: dict[str, str] = field(repr=False)
    sha256: str = ""

    @property
    def intents(self) -> list[str]:
        """The 150 in-scope intents, grouped by domain in ``domains.json`` order."""
        return [intent for intents in self.domains.values() for intent in intents]

    @property
    def domain_names(self) -> list[str]:
        """The 10 domain names in ``domains.json`` order."""
        return list(self.domains)

    def split(self, name: str) -> list[Example]:
        """A split by name (``train``, ``val``, ``test``, ``oos_train``, ``oos_val``, ``oos_test``)."""
        if name not in {"train", "val", "test", "oos_train", "oos_val", "oos_test"}:
            raise KeyError(f"unknown CLINC150 split {name!r}")
        examples: list[Example] = getattr(self, name)
        return examples

    def domain_of(self, intent: str) -> str:
        """Domain of an intent, ``"oos"`` for the out-of-scope label."""
        return OOS_LABEL if intent == OOS_LABEL else self.intent_to_domain[intent]

    def as_domains(self, examples: Sequence[Example]) -> list[Example]:
        """The same texts labelled with their domain (``"oos"`` stays ``"oos"``)."""
        return [(text, self.domain_of(intent)) for text, intent in examples]

    def in_domain(self, examples: Sequence[Example], domain: str) -> list[Example]:
        """Only the examples whose intent belongs to ``domain``."""
        return [(t, i) for t, i in examples if i != OOS_LABEL and self.intent_to_domain[i] == domain]


def per_label(examples: Sequence[Example], limit: int | None) -> list[Example]:
    """The first `limit` examples of each label, in order (all of them when `limit` is None)."""
    if limit is None:
        return list(examples)
    taken: dict[str, int] = {}
    out = []
    for text, label in examples:
        if taken.get(label, 0) < limit:
            taken[label] = taken.get(label, 0) + 1
            out.append((text, label))
    return out


def load_clinc150(*, allow_download: bool = True) -> Clinc150:
    """Load CLINC150 (data_full.json + domains.json), verified; DataError on any problem."""
    raw_data, data_path = read_data_file("clinc150/data_full.json", allow_download=allow_download)
    raw_domains, _ = read_data_file("clinc150/domains.json", allow_download=allow_download)
    try:
        splits = json.loads(raw_data)
        domains = json.loads(raw_domains)
    except ValueError as exc:
        raise DataError(f"{data_path.parent}: CLINC150 JSON cannot be parsed: {exc}") from exc
    intent_to_domain = {intent: dom for dom, intents in domains.items() for intent in intents}

    def pairs(name: str) -> list[Example]:
        return [(str(text), str(label)) for text, label in splits[name]]

    return Clinc150(
        train=pairs("train"),
        val=pairs("val"),
        test=pairs("test"),
        oos_train=pairs("oos_train"),
        oos_val=pairs("oos_val"),
        oos_test=pairs("oos_test"),
        domains={str(k): [str(i) for i in v] for k, v in domains.items()},
        intent_to_domain=intent_to_domain,
        sha256=data_sha256(["clinc150/data_full.json", "clinc150/domains.json"]),
    )


def load_banking77(*, allow_download: bool = True) -> list[Example]:
    """Banking77 ``train.csv`` as ``(text, category)`` pairs, verified; DataError on any problem."""
    raw, path = read_data_file("banking77/train.csv", allow_download=allow_download)
    reader = csv.DictReader(io.StringIO(raw.decode("utf-8")))
    if reader.fieldnames != ["text", "category"]:
        raise DataError(f"{path}: expected header text,category, got {reader.fieldnames}")
    return [(row["text"], row["category"]) for row in reader]


@dataclass(frozen=True)
class Splits:
    """A train/val/test carve of one labelled list."""

    train: list[Example]
    val: list[Example]
    test: list[Example]


def carve_splits(
    examples: Sequence[Example], *, val_fraction: float = 0.1, test_fraction: float = 0.1, seed: int = 77
) -> Splits:
    """Deterministic stratified train/val/test split (per label, shuffled with ``seed``)."""
    by_label: dict[str, list[Example]] = {}
    for example in examples:
        by_label.setdefault(example[1], []).append(example)
    rng = random.Random(seed)
    train: list[Example] = []
    val: list[Example] = []
    test: list[Example] = []
    for label in sorted(by_label):
        group = sorted(by_label[label])
        rng.shuffle(group)
        n_test = max(1, round(len(group) * test_fraction))
        n_val = max(1, round(len(group) * val_fraction))
        test.extend(group[:n_test])
        val.extend(group[n_test : n_test + n_val])
        train.extend(group[n_test + n_val :])
    return Splits(train=train, val=val, test=test)


def banking77_splits(*, allow_download: bool = True) -> Splits:
    """Banking77 carved 80/10/10 per category with a fixed seed."""
    return carve_splits(load_banking77(allow_download=allow_download))
