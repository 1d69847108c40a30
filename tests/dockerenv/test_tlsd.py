"""The mutual-TLS second daemon: who may talk to it, containers on it, and stopping/restarting it.

Needs ``-p tests.dockerenv.tls_plugin`` (or the plugin in ``pytest_plugins``).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import stat
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID
from docker.client import DockerClient
from docker.errors import APIError
from docker.models.containers import Container

from tests.dockerenv.certs import EXPIRING_DAYS, TlsCerts
from tests.dockerenv.image import TEST_IMAGE
from tests.dockerenv.plugin import host_port, http_get
from tests.dockerenv.tlsd import API_VERSION, TlsDaemon, make_tls_client, tls_config

RunContainer = Callable[..., Container]


def _call(client: DockerClient) -> dict[str, object]:
    try:
        return client.version()
    finally:
        client.close()


# --- certificates (no daemon needed) --------------------------------------------------------------------


def test_certificates_have_the_right_names_usages_and_lifetimes(tls_certs: TlsCerts) -> None:
    server = x509.load_pem_x509_certificate(tls_certs.server.cert.encode())
    san = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    assert list(server.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.SERVER_AUTH
    ]
    client = x509.load_pem_x509_certificate(tls_certs.client.cert.encode())
    assert list(client.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.CLIENT_AUTH
    ]
    ca = x509.load_pem_x509_certificate(tls_certs.ca.cert.encode())
    rogue_ca = x509.load_pem_x509_certificate(tls_certs.rogue_ca.cert.encode())
    for cert_key in (tls_certs.client, tls_certs.expired_client, tls_certs.expiring_client):
        x509.load_pem_x509_certificate(cert_key.cert.encode()).verify_directly_issued_by(ca)
    x509.load_pem_x509_certificate(tls_certs.rogue_client.cert.encode()).verify_directly_issued_by(rogue_ca)

    now = dt.datetime.now(dt.UTC)
    assert tls_certs.expired_client.not_after < now
    left = tls_certs.expiring_client.not_after - now
    assert dt.timedelta(days=EXPIRING_DAYS - 1) < left <= dt.timedelta(days=EXPIRING_DAYS)
    assert tls_certs.client.not_after > now + dt.timedelta(days=300)


def test_written_keys_are_private(tls_certs: TlsCerts, tmp_path: Path) -> None:
    files = tls_certs.write(tmp_path / "tls")
    assert stat.S_IMODE(files.directory.stat().st_mode) == 0o700
    for pair in (files.server, files.client, files.rogue_client, files.expired_client, files.expiring_client):
        assert stat.S_IMODE(pair.key.stat().st_mode) == 0o600
        assert stat.S_IMODE(pair.cert.stat().st_mode) == 0o644
    # The directory doubles as a DOCKER_CERT_PATH for the good client.
    assert {p.name for p in (files.ca, files.client.cert, files.client.key)} == {"ca.pem", "cert.pem", "key.pem"}
    assert files.client.key.read_text() == tls_certs.client.key


# --- who may talk to the daemon -------------------------------------------------------------------------


def test_good_client_certificate_is_accepted(tls_client: DockerClient, running_tls_daemon: TlsDaemon) -> None:
    version = tls_client.version()
    assert version["ApiVersion"] == API_VERSION
    assert tls_client.api.base_url == f"https://127.0.0.1:{running_tls_daemon.port}"
    # The server certificate also names DNS:localhost.
    files = running_tls_daemon.files
    via_name = make_tls_client(f"tcp://localhost:{running_tls_daemon.port}", tls_config(files.client, files.ca))
    assert _call(via_name)["ApiVersion"] == API_VERSION


def test_without_client_certificate_the_handshake_fails(running_tls_daemon: TlsDaemon) -> None:
    tls = tls_config(None, running_tls_daemon.files.ca)
    with pytest.raises(requests.exceptions.SSLError):
        _call(make_tls_client(running_tls_daemon.base_url, tls))


def test_client_certificate_of_another_ca_is_rejected(running_tls_daemon: TlsDaemon) -> None:
    client = running_tls_daemon.client(identity=running_tls_daemon.files.rogue_client)
    # Not matched on the text: under TLS 1.3 the client sees either the "bad certificate" alert or an EOF.
    with pytest.raises(requests.exceptions.SSLError):
        _call(client)


def test_expired_client_certificate_is_rejected_and_expiring_one_accepted(running_tls_daemon: TlsDaemon) -> None:
    files = running_tls_daemon.files
    with pytest.raises(requests.exceptions.SSLError):
        _call(running_tls_daemon.client(identity=files.expired_client))
    assert _call(running_tls_daemon.client(identity=files.expiring_client))["ApiVersion"] == API_VERSION


def test_server_certificate_of_another_ca_fails_verification(running_tls_daemon: TlsDaemon) -> None:
    client = running_tls_daemon.client(ca=running_tls_daemon.files.rogue_ca)
    with pytest.raises(requests.exceptions.SSLError, match="CERTIFICATE_VERIFY_FAILED"):
        _call(client)


def test_plain_http_gets_a_400(running_tls_daemon: TlsDaemon) -> None:
    with pytest.raises(APIError, match="Client sent an HTTP request to an HTTPS server") as caught:
        _call(make_tls_client(running_tls_daemon.base_url, tls=False))
    assert caught.value.status_code == 400


# --- containers and lifecycle ---------------------------------------------------------------------------


def test_container_runs_on_the_tls_daemon_and_publishes_on_loopback(
    tls_run_container: RunContainer, running_tls_daemon: TlsDaemon, docker_client: DockerClient
) -> None:
    container = tls_run_container("http", ports={"8080/tcp": None})
    assert http_get(f"http://127.0.0.1:{host_port(container)}/health") == (200, b"ok")
    # On the daemon's own bridge and subnet, and unknown to the main daemon.
    address = container.attrs["NetworkSettings"]["IPAddress"]
    assert ipaddress.ip_address(address) in running_tls_daemon.subnet
    assert docker_client.containers.list(all=True, filters={"id": container.id}) == []


def test_stop_fails_fast_and_restart_answers_again(
    running_tls_daemon: TlsDaemon, tls_client: DockerClient, docker_client: DockerClient
) -> None:
    assert tls_client.ping()
    running_tls_daemon.stop()
    assert not running_tls_daemon.is_running()
    started = time.monotonic()
    with pytest.raises(requests.exceptions.ConnectionError):
        tls_client.version()
    assert time.monotonic() - started < 1.0

    running_tls_daemon.restart()
    # The same client reconnects; the data-root (and so the loaded image) survived.
    assert tls_client.version()["ApiVersion"] == API_VERSION
    assert tls_client.images.get(TEST_IMAGE).tags == [TEST_IMAGE]
    # The main daemon and its docker0 were left alone.
    assert docker_client.ping()
    subprocess.run(["ip", "link", "show", "docker0"], check=True, capture_output=True)
