"""factory.data: local copies, sha256 checks, download path (local HTTP server) and carving."""

from __future__ import annotations

import hashlib
import http.server
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

from factory import data
from factory.errors import DataError


@pytest.fixture
def http_root(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A static HTTP server on 127.0.0.1 (port 0) serving tmp_path/www; yields (base_url, root)."""
    root = tmp_path / "www"
    root.mkdir()
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args, **kwargs: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No local copies found; downloads go to tmp_path/cache."""
    monkeypatch.setattr(data, "local_data_dirs", lambda: [tmp_path / "nowhere"])
    monkeypatch.setenv(data.CACHE_DIR_ENV, str(tmp_path / "cache"))
    return tmp_path / "cache"


def _pin(monkeypatch: pytest.MonkeyPatch, relpath: str, url: str, content: bytes) -> None:
    spec = data.DataFile(relpath, url, hashlib.sha256(content).hexdigest())
    monkeypatch.setitem(data.DATA_FILES, relpath, spec)


def test_clinc150_loads_from_shared_copy() -> None:
    clinc = data.load_clinc150(allow_download=False)
    assert (len(clinc.train), len(clinc.val), len(clinc.test)) == (15000, 3000, 4500)
    assert (len(clinc.oos_train), len(clinc.oos_val), len(clinc.oos_test)) == (100, 100, 1000)
    assert len(clinc.domains) == 10 and len(clinc.intents) == 150
    assert {label for _, label in clinc.oos_test} == {"oos"}
    text, intent = clinc.train[0]
    assert clinc.as_domains([(text, intent)]) == [(text, clinc.intent_to_domain[intent])]
    assert clinc.domain_of("oos") == "oos"
    banking = clinc.in_domain(clinc.test, "banking")
    assert len(banking) == 15 * 30


def test_banking77_loads_and_carves_deterministically() -> None:
    rows = data.load_banking77(allow_download=False)
    assert len(rows) == 10003 and len({c for _, c in rows}) == 77
    first, second = data.banking77_splits(allow_download=False), data.banking77_splits(allow_download=False)
    assert first == second
    sizes = len(first.train), len(first.val), len(first.test)
    assert sum(sizes) == 10003 and all(s > 900 for s in sizes[1:])
    assert not set(first.test) & set(first.train)


def test_local_copy_with_wrong_sha_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    bad = tmp_path / "clinc150" / "domains.json"
    bad.parent.mkdir(parents=True)
    bad.write_text('{"banking": []}')
    monkeypatch.setattr(data, "local_data_dirs", lambda: [tmp_path])
    with pytest.raises(DataError, match=r"domains\.json: sha256 .* does not match"):
        data.read_data_file("clinc150/domains.json", allow_download=False)


@pytest.mark.integration
def test_download_verifies_and_caches(
    monkeypatch: pytest.MonkeyPatch, isolated: Path, http_root: tuple[str, Path]
) -> None:
    base_url, root = http_root
    content = b"text,category\nhello,greeting\n"
    (root / "train.csv").write_bytes(content)
    _pin(monkeypatch, "banking77/train.csv", f"{base_url}/train.csv", content)
    got, where = data.read_data_file("banking77/train.csv")
    assert got == content and where == isolated / "banking77" / "train.csv"
    assert where.read_bytes() == content
    (root / "train.csv").unlink()  # a second read comes from the cache, not the server
    assert data.read_data_file("banking77/train.csv")[0] == content
    assert data.load_banking77() == [("hello", "greeting")]


@pytest.mark.integration
def test_download_with_wrong_sha_raises(
    monkeypatch: pytest.MonkeyPatch, isolated: Path, http_root: tuple[str, Path]
) -> None:
    base_url, root = http_root
    (root / "domains.json").write_bytes(b"tampered")
    _pin(monkeypatch, "clinc150/domains.json", f"{base_url}/domains.json", b"the real thing")
    with pytest.raises(DataError, match="refusing to use it"):
        data.read_data_file("clinc150/domains.json")
    assert not (isolated / "clinc150" / "domains.json").exists()


@pytest.mark.integration
def test_download_failure_and_no_download(
    monkeypatch: pytest.MonkeyPatch, isolated: Path, http_root: tuple[str, Path]
) -> None:
    base_url, _ = http_root
    _pin(monkeypatch, "clinc150/domains.json", f"{base_url}/missing.json", b"x")
    with pytest.raises(DataError, match="cannot download"):
        data.read_data_file("clinc150/domains.json")
    with pytest.raises(DataError, match="not found locally"):
        data.read_data_file("clinc150/domains.json", allow_download=False)


def test_data_dir_env_takes_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(data.DATA_DIR_ENV, str(tmp_path))
    assert data.local_data_dirs()[0] == tmp_path


def test_carve_splits_is_stratified() -> None:
    examples = [(f"text {i}", "a" if i % 2 else "b") for i in range(100)]
    splits = data.carve_splits(examples, val_fraction=0.2, test_fraction=0.2, seed=1)
    assert len(splits.test) == 20 and len(splits.val) == 20 and len(splits.train) == 60
    assert sum(1 for _, label in splits.test if label == "a") == 10
