"""A local development CA and certificates (``edgefleet up --tls dev``), made with `cryptography`.

One CA signs a server certificate (the router's gRPC and HTTP ports, the replicas, the stand-in;
names ``localhost``, this host's name, 127.0.0.1 and ::1) and a client certificate (the router to
the replicas and the stand-in, and the CLI and dashboard to the router: mutual TLS everywhere).
Files go to ``$EDGEFLEET_HOME/tls`` (keys 0600) and are reused while they are valid for another
week; they are for a developer's machine, never for production.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALID_DAYS = 90
RENEW_BEFORE = dt.timedelta(days=7)


@dataclass(frozen=True)
class DevPki:
    """Paths of the dev CA and the server and client certificates and keys."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def _write(path: Path, data: bytes, private: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    tmp.replace(path)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "EdgeFleet dev"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _still_valid(pki: DevPki) -> bool:
    try:
        for path in (pki.ca, pki.server_cert, pki.client_cert):
            cert = x509.load_pem_x509_certificate(path.read_bytes())
            if cert.not_valid_after_utc - dt.datetime.now(dt.UTC) < RENEW_BEFORE:
                return False
        return pki.server_key.exists() and pki.client_key.exists()
    except (OSError, ValueError):
        return False


def dev_pki(folder: Path, *, force: bool = False) -> DevPki:
    """The dev CA and certificates in `folder`, made (or remade) when missing or about to expire."""
    pki = DevPki(
        folder / "ca.pem",
        folder / "server.pem",
        folder / "server-key.pem",
        folder / "client.pem",
        folder / "client-key.pem",
    )
    if not force and _still_valid(pki):
        return pki
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    until = now + dt.timedelta(days=VALID_DAYS)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("EdgeFleet dev CA")
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(until)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .sign(ca_key, hashes.SHA256())
    )

    def leaf(
        common_name: str, usage: x509.ObjectIdentifier, names: list[x509.GeneralName]
    ) -> tuple[bytes, bytes]:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(until)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        )
        if names:
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        cert = builder.sign(ca_key, hashes.SHA256())
        return cert.public_bytes(serialization.Encoding.PEM), _key_pem(key)

    host = socket.gethostname()
    dns = sorted({"localhost", host})
    server_names: list[x509.GeneralName] = [x509.DNSName(n) for n in dns]
    server_names += [x509.IPAddress(ipaddress.ip_address(a)) for a in ("127.0.0.1", "::1")]
    server_cert, server_key = leaf("localhost", ExtendedKeyUsageOID.SERVER_AUTH, server_names)
    client_cert, client_key = leaf("edgefleet-dev-client", ExtendedKeyUsageOID.CLIENT_AUTH, [])
    _write(folder / "ca-key.pem", _key_pem(ca_key), private=True)
    _write(pki.ca, ca.public_bytes(serialization.Encoding.PEM), private=False)
    _write(pki.server_cert, server_cert, private=False)
    _write(pki.server_key, server_key, private=True)
    _write(pki.client_cert, client_cert, private=False)
    _write(pki.client_key, client_key, private=True)
    return pki
