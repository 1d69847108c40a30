"""validate_material() on certificates and keys made here with cryptography (no files, no network)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from apps.hosts.tls import TlsFacts, TlsMaterialError, validate_material

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)

# Generating RSA keys is slow (~50 ms for 2048 bits): share them between tests.
RSA_CA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
RSA_CLIENT_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "dockmon-tests"), x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    )


def _cert(subject: str, key, issuer_name: str, issuer_key, *, ca: bool = False, days=(-10, 365), eku=None) -> str:
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW + days[0] * DAY)
        .not_valid_after(NOW + days[1] * DAY)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if eku:
        builder = builder.add_extension(x509.ExtendedKeyUsage(eku), critical=False)
    # Ed25519 signs without a separate hash.
    algorithm = None if isinstance(issuer_key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return builder.sign(issuer_key, algorithm).public_bytes(serialization.Encoding.PEM).decode()


def _key(key, fmt=serialization.PrivateFormat.PKCS8, password: bytes | None = None) -> str:
    encryption = serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    return key.private_bytes(serialization.Encoding.PEM, fmt, encryption).decode()


@dataclass
class Pki:
    ca: str
    cert: str
    key: str

    def check(self, **overrides: str) -> TlsFacts:
        material = {"ca_pem": self.ca, "cert_pem": self.cert, "key_pem": self.key, **overrides}
        return validate_material(**material, now=NOW)


def make_pki(client_key=None, **cert_options) -> Pki:
    client_key = client_key or RSA_CLIENT_KEY
    cert_options.setdefault("eku", [ExtendedKeyUsageOID.CLIENT_AUTH])
    return Pki(
        ca=_cert("test-ca", RSA_CA_KEY, "test-ca", RSA_CA_KEY, ca=True, days=(-10, 3650)),
        cert=_cert("dockmon-client", client_key, "test-ca", RSA_CA_KEY, **cert_options),
        key=_key(client_key),
    )


@pytest.fixture(scope="module")
def pki() -> Pki:
    return make_pki()


def rejects(pki: Pki, field: str, **overrides: str) -> str:
    with pytest.raises(TlsMaterialError) as caught:
        pki.check(**overrides)
    assert caught.value.field == field
    return str(caught.value)


def test_good_rsa_pair_gives_its_facts(pki: Pki) -> None:
    facts = pki.check()

    cert = x509.load_pem_x509_certificate(pki.cert.encode())
    assert facts.client_subject == "CN=dockmon-client,O=dockmon-tests"
    assert facts.ca_subject == "CN=test-ca,O=dockmon-tests"
    assert facts.not_after == NOW + 365 * DAY
    assert facts.not_after.tzinfo is not None
    assert facts.fingerprint == ":".join(f"{b:02X}" for b in cert.fingerprint(hashes.SHA256()))
    assert len(facts.fingerprint) == 95  # fits Host.client_cert_fingerprint


@pytest.mark.parametrize(
    "fmt",
    [serialization.PrivateFormat.PKCS8, serialization.PrivateFormat.TraditionalOpenSSL],
    ids=["pkcs8", "pkcs1"],
)
def test_rsa_key_in_pkcs8_and_pkcs1(pki: Pki, fmt: serialization.PrivateFormat) -> None:
    key_pem = _key(RSA_CLIENT_KEY, fmt)
    assert "RSA PRIVATE KEY" in key_pem or fmt is serialization.PrivateFormat.PKCS8
    assert pki.check(key_pem=key_pem).client_subject == "CN=dockmon-client,O=dockmon-tests"


@pytest.mark.parametrize(
    "fmt",
    [serialization.PrivateFormat.PKCS8, serialization.PrivateFormat.TraditionalOpenSSL],
    ids=["pkcs8", "sec1"],
)
def test_ec_key_in_pkcs8_and_sec1(fmt: serialization.PrivateFormat) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    pki = make_pki(key)
    key_pem = _key(key, fmt)
    assert "EC PRIVATE KEY" in key_pem or fmt is serialization.PrivateFormat.PKCS8
    assert pki.check(key_pem=key_pem).client_subject == "CN=dockmon-client,O=dockmon-tests"


def test_ed25519_key() -> None:
    assert make_pki(ed25519.Ed25519PrivateKey.generate()).check().ca_subject == "CN=test-ca,O=dockmon-tests"


def test_ca_bundle_with_two_certificates(pki: Pki) -> None:
    other_key = ec.generate_private_key(ec.SECP256R1())
    other_ca = _cert("other-ca", other_key, "other-ca", other_key, ca=True)
    facts = pki.check(ca_pem=f"{pki.ca}\n{other_ca}")
    assert facts.ca_subject == "CN=test-ca,O=dockmon-tests"  # the first one of the bundle


def test_client_certificate_with_its_chain(pki: Pki) -> None:
    assert pki.check(cert_pem=pki.cert + pki.ca).client_subject == "CN=dockmon-client,O=dockmon-tests"


def test_windows_line_endings_and_surrounding_blanks(pki: Pki) -> None:
    crlf = {name: f"\n  {pem.replace(chr(10), chr(13) + chr(10))}  \n" for name, pem in vars(pki).items()}
    assert (
        pki.check(ca_pem=crlf["ca"], cert_pem=crlf["cert"], key_pem=crlf["key"]).fingerprint == pki.check().fingerprint
    )


def test_mismatched_key(pki: Pki) -> None:
    stranger = _key(ec.generate_private_key(ec.SECP256R1()))
    assert rejects(pki, "tls_key", key_pem=stranger) == "The key does not belong to this certificate."


@pytest.mark.parametrize("field", ["ca_pem", "cert_pem"])
def test_garbage_certificate(pki: Pki, field: str) -> None:
    expected_field = {"ca_pem": "tls_ca", "cert_pem": "tls_cert"}[field]
    assert (
        rejects(pki, expected_field, **{field: "hello, this is not a certificate"}) == "This is not a PEM certificate."
    )
    broken = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
    assert rejects(pki, expected_field, **{field: broken}) == "This is not a PEM certificate."


def test_garbage_key(pki: Pki) -> None:
    assert rejects(pki, "tls_key", key_pem="-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----") == (
        "This is not a PEM private key."
    )


def test_swapped_fields_say_what_they_are(pki: Pki) -> None:
    assert rejects(pki, "tls_cert", cert_pem=pki.key) == "This is a private key, not a certificate."
    assert rejects(pki, "tls_key", key_pem=pki.cert) == "This is a certificate, not a private key."


def test_empty_fields(pki: Pki) -> None:
    assert rejects(pki, "tls_ca", ca_pem="  ").startswith("Paste the CA certificate")
    assert rejects(pki, "tls_key", key_pem="").startswith("Paste the client key")


@pytest.mark.parametrize(
    "fmt",
    [serialization.PrivateFormat.PKCS8, serialization.PrivateFormat.TraditionalOpenSSL],
    ids=["pkcs8", "legacy-pem"],
)
def test_encrypted_key(pki: Pki, fmt: serialization.PrivateFormat) -> None:
    encrypted = _key(RSA_CLIENT_KEY, fmt, password=b"s3cret")
    message = rejects(pki, "tls_key", key_pem=encrypted)
    assert message.startswith("The key is protected by a passphrase;")
    assert "s3cret" not in message


def test_unsupported_key_type(pki: Pki) -> None:
    ed448_key = _key(ed448.Ed448PrivateKey.generate())
    assert (
        rejects(pki, "tls_key", key_pem=ed448_key)
        == "This kind of key is not supported; use an RSA, EC or Ed25519 key."
    )


def test_expired_client_certificate_is_an_error() -> None:
    pki = make_pki(days=(-400, -150))
    assert rejects(pki, "tls_cert") == f"The client certificate expired on {(NOW - 150 * DAY).date().isoformat()}."


def test_certificate_expiring_soon_is_accepted() -> None:
    assert make_pki(days=(-10, 3)).check().not_after == NOW + 3 * DAY


def test_not_yet_valid_client_certificate() -> None:
    assert rejects(make_pki(days=(2, 365)), "tls_cert") == "The client certificate is valid only from 2026-06-03."


def test_server_only_certificate_is_refused() -> None:
    message = rejects(make_pki(eku=[ExtendedKeyUsageOID.SERVER_AUTH]), "tls_cert")
    assert "lacks clientAuth" in message


def test_certificate_without_extended_key_usage_is_accepted() -> None:
    pki = make_pki()
    pki.cert = _cert("dockmon-client", RSA_CLIENT_KEY, "test-ca", RSA_CA_KEY)  # no EKU extension at all
    assert pki.check().client_subject == "CN=dockmon-client,O=dockmon-tests"


def test_expired_ca_bundle() -> None:
    pki = make_pki()
    pki.ca = _cert("test-ca", RSA_CA_KEY, "test-ca", RSA_CA_KEY, ca=True, days=(-400, -1))
    assert rejects(pki, "tls_ca") == "The CA certificate expired on 2026-05-31."


def test_messages_never_quote_the_material(pki: Pki) -> None:
    stranger = _key(ec.generate_private_key(ec.SECP256R1()))
    body = "".join(stranger.splitlines()[1:-1])
    for overrides in ({"key_pem": stranger}, {"key_pem": stranger[:-40]}, {"cert_pem": stranger}):
        with pytest.raises(TlsMaterialError) as caught:
            pki.check(**overrides)
        assert body[:20] not in str(caught.value)
