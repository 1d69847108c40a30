"""Test PKI for the mutual-TLS Docker daemon, made with ``cryptography`` (no openssl CLI).

One good CA signs the server certificate (DNS:localhost, IP:127.0.0.1), a client certificate, an already
expired one and one that expires in ``EXPIRING_DAYS`` days. A second, unrelated "rogue" CA signs its own client
certificate for the negative tests. Keys are EC P-256: generating them takes microseconds, and dockerd
(Go crypto/tls) as well as Python's ssl accept them.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

EXPIRING_DAYS = 10
VALID_DAYS = 365
# Backdated so a clock a little behind (or a container's) still accepts fresh certificates.
BACKDATE = dt.timedelta(hours=1)


@dataclass(frozen=True)
class CertKey:
    """A certificate and its private key, both PEM (the key unencrypted PKCS#8)."""

    cert: str
    key: str
    not_after: dt.datetime


@dataclass(frozen=True)
class CertKeyFiles:
    cert: Path
    key: Path


@dataclass(frozen=True)
class TlsFiles:
    """Where ``TlsCerts.write`` put the PEM files. ``directory`` itself works as a ``DOCKER_CERT_PATH``
    (ca.pem, cert.pem, key.pem) for the good client."""

    directory: Path
    ca: Path
    server: CertKeyFiles
    client: CertKeyFiles
    rogue_ca: Path
    rogue_client: CertKeyFiles
    expired_client: CertKeyFiles
    expiring_client: CertKeyFiles


@dataclass(frozen=True)
class TlsCerts:
    ca: CertKey
    server: CertKey
    client: CertKey
    rogue_ca: CertKey
    rogue_client: CertKey
    expired_client: CertKey
    expiring_client: CertKey

    def write(self, directory: Path) -> TlsFiles:
        """Write every certificate (0644) and the non-CA keys (0600) into ``directory``, created 0700."""
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)

        def pair(name: str, cert_key: CertKey) -> CertKeyFiles:
            return CertKeyFiles(
                _write(directory / f"{name}cert.pem", cert_key.cert, 0o644),
                _write(directory / f"{name}key.pem", cert_key.key, 0o600),
            )

        return TlsFiles(
            directory=directory,
            ca=_write(directory / "ca.pem", self.ca.cert, 0o644),
            server=pair("server-", self.server),
            client=pair("", self.client),
            rogue_ca=_write(directory / "rogue-ca.pem", self.rogue_ca.cert, 0o644),
            rogue_client=pair("rogue-", self.rogue_client),
            expired_client=pair("expired-", self.expired_client),
            expiring_client=pair("expiring-", self.expiring_client),
        )


def _write(path: Path, text: str, mode: int) -> Path:
    # Created with its final mode, so a key is never readable by others, not even briefly.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(path, mode)  # an existing file keeps its old mode through O_CREAT
    return path


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "dockenv"), x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    )


def _pem_key(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _pem_cert(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


@dataclass(frozen=True)
class _Issuer:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey


def _make_ca(common_name: str, now: dt.datetime) -> tuple[_Issuer, CertKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ski, critical=False)
        .sign(key, hashes.SHA256())
    )
    return _Issuer(cert, key), CertKey(_pem_cert(cert), _pem_key(key), cert.not_valid_after_utc)


def _make_leaf(
    issuer: _Issuer,
    common_name: str,
    usage: x509.ObjectIdentifier,
    not_before: dt.datetime,
    not_after: dt.datetime,
    san: list[x509.GeneralName] | None = None,
) -> CertKey:
    key = ec.generate_private_key(ec.SECP256R1())
    issuer_ski = issuer.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(issuer.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        # Strict verifiers (Python 3.13's VERIFY_X509_STRICT) insist on the authority key identifier.
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(issuer_ski), critical=False)
    )
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    cert = builder.sign(issuer.key, hashes.SHA256())
    return CertKey(_pem_cert(cert), _pem_key(key), cert.not_valid_after_utc)


def generate_tls_certs(now: dt.datetime | None = None) -> TlsCerts:
    """A fresh test PKI; ``now`` (aware, default: the current time) anchors every validity period."""
    now = now or dt.datetime.now(dt.UTC)
    year = now + dt.timedelta(days=VALID_DAYS)
    start = now - BACKDATE
    client_auth, server_auth = ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.SERVER_AUTH

    ca, ca_pem = _make_ca("dockenv-test-ca", now)
    rogue, rogue_pem = _make_ca("dockenv-rogue-ca", now)
    server_san: list[x509.GeneralName] = [
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
    ]
    return TlsCerts(
        ca=ca_pem,
        server=_make_leaf(ca, "localhost", server_auth, start, year, server_san),
        client=_make_leaf(ca, "dockmon-client", client_auth, start, year),
        rogue_ca=rogue_pem,
        rogue_client=_make_leaf(rogue, "rogue-client", client_auth, start, year),
        expired_client=_make_leaf(
            ca, "dockmon-expired", client_auth, now - dt.timedelta(days=30), now - dt.timedelta(days=1)
        ),
        expiring_client=_make_leaf(ca, "dockmon-expiring", client_auth, start, now + dt.timedelta(days=EXPIRING_DAYS)),
    )
