"""client.channel: TLS settings and the API key metadata."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest

from client.channel import TlsConfig, _read, auth_metadata


def test_api_key_as_bearer_metadata() -> None:
    assert auth_metadata("k1") == (("authorization", "Bearer k1"),)
    assert auth_metadata("  k2 ") == (("authorization", "Bearer k2"),)
    assert auth_metadata(None) == () and auth_metadata("") == ()


def test_client_cert_and_key_go_together() -> None:
    with pytest.raises(ValueError, match="both"):
        TlsConfig(client_cert=b"cert")
    with pytest.raises(ValueError, match="both"):
        TlsConfig(client_key=b"key")


def test_pem_from_bytes_or_files(tmp_path: Path) -> None:
    pem = tmp_path / "ca.pem"
    pem.write_bytes(b"-----BEGIN CERTIFICATE-----\n")
    assert _read(pem) == _read(str(pem)) == b"-----BEGIN CERTIFICATE-----\n"
    assert _read(b"raw") == b"raw" and _read(None) is None


def test_server_name_override_and_credentials() -> None:
    assert TlsConfig(server_name="router.internal").options() == [
        ("grpc.ssl_target_name_override", "router.internal")
    ]
    assert TlsConfig().options() == []
    assert isinstance(TlsConfig().credentials(), grpc.ChannelCredentials)  # the system's roots
