"""Checks the TLS material pasted or uploaded for a mutual-TLS host, before anything is stored.

`validate_material()` parses the CA bundle, the client certificate and its private key with `cryptography`
and returns the facts the host pages show. A problem raises `TlsMaterialError(field, message)`, naming the
Host field it belongs to (`tls_ca`, `tls_cert`, `tls_key`) so a form can show it there. Messages never quote
the material itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID

CA_FIELD = "tls_ca"
CERT_FIELD = "tls_cert"
KEY_FIELD = "tls_key"

SUPPORTED_KEYS = (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey)
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
CLIENT_USAGES = {ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE}
UNSUPPORTED_KEY = "This kind of key is not supported; use an RSA, EC or Ed25519 key."


class TlsMaterialError(ValueError):
    """A problem with one field; `str(error)` is the message for the person pasting."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class TlsFacts:
    """What the host pages show about the material (stored in the Host fields of the same meaning)."""

    client_subject: str  # RFC 4514, e.g. "CN=dockmon-client,O=example"
    fingerprint: str  # SHA-256 of the client certificate, "AB:CD:…" (32 colon-separated pairs)
    not_after: datetime  # aware, UTC
    ca_subject: str  # of the first certificate in the bundle


def validate_material(*, ca_pem: str, cert_pem: str, key_pem: str, now: datetime | None = None) -> TlsFacts:
    """The facts of usable material; raises TlsMaterialError for the first problem, field by field.

    An expired (or not yet valid) client certificate is an error; one that expires soon is fine (the host
    pages warn 30 days ahead). So is a certificate whose extended key usage leaves out clientAuth: Docker
    refuses it. The CA bundle may hold several certificates, and the client certificate may come with its
    chain (the first one is the client's).
    """
    now = now or datetime.now(UTC)
    cas = _certificates(CA_FIELD, ca_pem, "CA certificate")
    cert = _certificates(CERT_FIELD, cert_pem, "client certificate")[0]
    key = _private_key(key_pem)
    _check_client_certificate(cert, now)
    if _public_der(cert.public_key()) != _public_der(key.public_key()):
        raise TlsMaterialError(KEY_FIELD, "The key does not belong to this certificate.")
    if all(ca.not_valid_after_utc <= now for ca in cas):
        raise TlsMaterialError(CA_FIELD, f"The CA certificate expired on {_day(cas[0].not_valid_after_utc)}.")
    return TlsFacts(
        client_subject=cert.subject.rfc4514_string(),
        fingerprint=cert.fingerprint(hashes.SHA256()).hex(":").upper(),
        not_after=cert.not_valid_after_utc,
        ca_subject=cas[0].subject.rfc4514_string(),
    )


def _day(moment: datetime) -> str:
    return moment.date().isoformat()


def _certificates(field: str, pem: str, what: str) -> list[x509.Certificate]:
    text = pem.strip()
    if not text:
        raise TlsMaterialError(field, f"Paste the {what} (PEM text starting with “-----BEGIN CERTIFICATE-----”).")
    if "PRIVATE KEY-----" in text and "CERTIFICATE-----" not in text:
        raise TlsMaterialError(field, "This is a private key, not a certificate.")
    try:
        return x509.load_pem_x509_certificates(text.encode())
    except ValueError:
        raise TlsMaterialError(field, "This is not a PEM certificate.") from None


def _private_key(pem: str) -> PrivateKey:
    text = pem.strip()
    if not text:
        raise TlsMaterialError(KEY_FIELD, "Paste the client key (PEM text starting with “-----BEGIN”).")
    if "CERTIFICATE-----" in text and "PRIVATE KEY-----" not in text:
        raise TlsMaterialError(KEY_FIELD, "This is a certificate, not a private key.")
    try:
        # PKCS#8 ("PRIVATE KEY"), PKCS#1 ("RSA PRIVATE KEY") and SEC1 ("EC PRIVATE KEY") all load here.
        key = serialization.load_pem_private_key(text.encode(), password=None)
    except TypeError:  # cryptography's answer to an encrypted key without a password
        raise TlsMaterialError(
            KEY_FIELD,
            "The key is protected by a passphrase; DockMon needs it without one. "
            "Remove it with: openssl pkey -in key.pem -out key-plain.pem",
        ) from None
    except UnsupportedAlgorithm:
        raise TlsMaterialError(KEY_FIELD, UNSUPPORTED_KEY) from None
    except ValueError:
        raise TlsMaterialError(KEY_FIELD, "This is not a PEM private key.") from None
    if not isinstance(key, SUPPORTED_KEYS):
        raise TlsMaterialError(KEY_FIELD, UNSUPPORTED_KEY)
    return key


def _check_client_certificate(cert: x509.Certificate, now: datetime) -> None:
    if cert.not_valid_after_utc <= now:
        raise TlsMaterialError(CERT_FIELD, f"The client certificate expired on {_day(cert.not_valid_after_utc)}.")
    if cert.not_valid_before_utc > now:
        raise TlsMaterialError(
            CERT_FIELD, f"The client certificate is valid only from {_day(cert.not_valid_before_utc)}."
        )
    try:
        usages = set(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    except x509.ExtensionNotFound:
        return  # no extended key usage: any use is allowed
    if not usages & CLIENT_USAGES:
        raise TlsMaterialError(
            CERT_FIELD,
            "This certificate is not meant for clients (its extended key usage lacks clientAuth), "
            "so Docker would refuse it.",
        )


def _public_der(public_key: PublicKeyTypes) -> bytes:
    return public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
