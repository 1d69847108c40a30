"""TlsEngine against the second, mutual-TLS dockerd (tests.dockerenv.tls_plugin): the good certificate
works end to end, and every kind of bad material or bad peer fails with its own EngineError."""

from __future__ import annotations

import contextlib
import gc
import socket
import ssl
import stat
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from docker.client import DockerClient
from docker.errors import TLSParameterError

import tests.hosts.test_engine_socket as socket_tests
from dockmon_agent.engine import docker_api
from dockmon_agent.engine.base import (
    Action,
    CertificateRejected,
    ContainerState,
    EngineError,
    EngineTimeout,
    HostUnreachable,
    NotDockerApi,
    ServerCertificateInvalid,
    TlsHandshakeFailed,
)
from dockmon_agent.engine.docker_api import ConnectionSpec, SocketEngine, TlsEngine
from tests.dockerenv.certs import CertKey, TlsCerts
from tests.dockerenv.image import READY_MARK
from tests.dockerenv.plugin import wait_for_log
from tests.dockerenv.tlsd import TlsDaemon

Collector = socket_tests.Collector
# The socket tests' fixtures, shared (pytest finds fixtures among a module's attributes).
http_server = socket_tests.http_server
silent_listener = socket_tests.silent_listener


@pytest.fixture
def spec_for(running_tls_daemon: TlsDaemon, tls_certs: TlsCerts) -> Callable[..., ConnectionSpec]:
    """``spec_for(identity=client, ca=ca, url=daemon)``: a ConnectionSpec for the TLS daemon."""

    def make(identity: CertKey | None = None, ca: CertKey | None = None, **options: Any) -> ConnectionSpec:
        identity = identity or tls_certs.client
        options.setdefault("url", running_tls_daemon.base_url)
        return ConnectionSpec(ca_pem=(ca or tls_certs.ca).cert, cert_pem=identity.cert, key_pem=identity.key, **options)

    return make


@pytest.fixture
def engine(spec_for) -> Iterator[TlsEngine]:
    with TlsEngine(spec_for()) as engine:
        yield engine


def fails(engine: docker_api.DockerApiEngine, within: float = 2.0) -> EngineError:
    started = time.monotonic()
    with pytest.raises(EngineError) as caught:
        engine.info()
    assert time.monotonic() - started < within
    return caught.value


# --- the good certificate -----------------------------------------------------------------------------------


def test_good_certificate_works_end_to_end(engine: TlsEngine, tls_client: DockerClient, tls_run_container) -> None:
    assert engine.info().engine_id == tls_client.info()["ID"]
    c = tls_run_container(name="web")
    wait_for_log(c, READY_MARK)
    assert next(s for s in engine.containers() if s.id == c.id).state is ContainerState.RUNNING

    collector = Collector(engine.events())
    socket_tests.act_and_expect(engine, collector, c.id, Action.STOP, "die", timeout=5)
    assert tls_client.api.inspect_container(c.id)["State"]["Status"] == "exited"
    assert any(line.startswith(READY_MARK) for line in engine.logs(c.id, tail=5, timestamps=False, follow=False))
    socket_tests.assert_closes_promptly(collector)  # shutting a TLS socket down wakes its reader too


def test_follow_logs_over_tls_close_from_another_thread(engine: TlsEngine, tls_run_container) -> None:
    c = tls_run_container("sh", "-c", socket_tests.TICKS)
    collector = Collector(engine.logs(c.id, tail=0, timestamps=True, follow=True))
    assert collector.expect(lambda line: line.endswith(tuple("0123456789%N")) and " tick " in line, within=2.0)
    assert collector.close_from_here() < 1.0


def test_tls_files_are_private_and_go_with_the_engine(spec_for) -> None:
    engine = TlsEngine(spec_for())
    directory = engine.tls_dir
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in directory.iterdir()} == {
        "ca.pem": 0o600,
        "cert.pem": 0o600,
        "key.pem": 0o600,
    }
    engine.info()
    engine.close()
    assert not directory.exists()

    forgotten = TlsEngine(spec_for())
    directory = forgotten.tls_dir
    del forgotten
    gc.collect()
    assert not directory.exists()  # an engine nobody closed still takes its key with it


def test_tls_files_are_removed_when_construction_fails(spec_for, monkeypatch, tmp_path: Path) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise TLSParameterError("broken on purpose")

    monkeypatch.setattr(docker_api.tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(docker_api, "TLSConfig", broken)
    with pytest.raises(TLSParameterError):
        TlsEngine(spec_for())
    assert list(tmp_path.iterdir()) == []


def test_missing_material_is_refused_before_anything_is_written(tls_certs: TlsCerts) -> None:
    spec = ConnectionSpec("tcp://127.0.0.1:2376", ca_pem=tls_certs.ca.cert, cert_pem="", key_pem=" ")
    with pytest.raises(TlsHandshakeFailed, match=r"^This host has no client certificate and no client key\.$"):
        TlsEngine(spec)


# --- bad material, bad peers --------------------------------------------------------------------------------


def test_rogue_client_certificate_is_rejected(spec_for, tls_certs: TlsCerts, running_tls_daemon: TlsDaemon) -> None:
    # Over TLS 1.3 the daemon's alert sometimes arrives and sometimes loses the race with a TCP reset: both
    # must read as a rejected certificate. Several attempts see both ways.
    for _ in range(8):
        error = fails(TlsEngine(spec_for(identity=tls_certs.rogue_client)))
        assert isinstance(error, CertificateRejected) and error.permanent
        assert str(error).startswith(f"{running_tls_daemon.base_url} ")
        assert "rejected DockMon's client certificate" in str(error)


def test_expired_client_certificate_is_rejected(spec_for, tls_certs: TlsCerts) -> None:
    error = fails(TlsEngine(spec_for(identity=tls_certs.expired_client)))
    assert isinstance(error, CertificateRejected)
    assert "expired" in str(error)


def test_wrong_ca_means_the_server_certificate_is_invalid(spec_for, tls_certs: TlsCerts) -> None:
    error = fails(TlsEngine(spec_for(ca=tls_certs.rogue_ca)))
    assert isinstance(error, ServerCertificateInvalid) and error.permanent
    assert "does not verify against this host's CA certificate" in str(error)


def test_key_of_another_certificate(spec_for, tls_certs: TlsCerts) -> None:
    mixed = CertKey(tls_certs.client.cert, tls_certs.rogue_client.key, tls_certs.client.not_after)
    error = fails(TlsEngine(spec_for(identity=mixed)))
    assert (type(error), str(error)) == (
        TlsHandshakeFailed,
        "The client key does not belong to the client certificate.",
    )


@pytest.fixture
def impostor(tls_certs: TlsCerts, tmp_path: Path) -> Iterator[str]:
    """A TLS server on 127.0.0.2 showing the daemon's certificate, which names localhost and 127.0.0.1 only."""
    files = tls_certs.write(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(files.server.cert, files.server.key)
    listener = socket.create_server(("127.0.0.2", 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:  # the listener was shut down
                return
            with contextlib.suppress(OSError), context.wrap_socket(conn, server_side=True):
                pass  # the client gives up during the handshake

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"tcp://127.0.0.2:{listener.getsockname()[1]}"
    listener.shutdown(socket.SHUT_RDWR)
    listener.close()
    thread.join(5)


def test_certificate_for_another_host(spec_for, impostor: str) -> None:
    error = fails(TlsEngine(spec_for(url=impostor)))
    assert isinstance(error, ServerCertificateInvalid)
    assert str(error).startswith(f"The certificate of {impostor} is made out to another host")


def test_plain_http_to_the_tls_port_is_not_docker(running_tls_daemon: TlsDaemon) -> None:
    error = fails(SocketEngine(ConnectionSpec(running_tls_daemon.base_url)))
    assert isinstance(error, NotDockerApi)
    assert str(error) == f"{running_tls_daemon.base_url} expects TLS: add it as a mutual-TLS host with certificates."


def test_tls_to_a_plain_http_server(spec_for, http_server) -> None:
    url = http_server(404, b"<h1>Not Found</h1>")
    error = fails(TlsEngine(spec_for(url=url)))
    assert (type(error), str(error)) == (TlsHandshakeFailed, f"{url} does not speak TLS (is it a plain-HTTP port?).")


def test_hung_tls_host_times_out(spec_for, silent_listener: str) -> None:
    error = fails(TlsEngine(spec_for(url=silent_listener, timeout=0.5)), within=2.0)
    assert isinstance(error, EngineTimeout)  # the TLS handshake never gets an answer
    assert str(error) == f"{silent_listener} accepted the connection but did not answer within 0.5 s."


def test_messages_never_contain_key_material(spec_for, tls_certs: TlsCerts, http_server, silent_listener) -> None:
    body = "".join(tls_certs.client.key.splitlines()[1:-1])
    errors = [
        fails(TlsEngine(spec_for(identity=tls_certs.rogue_client))),
        fails(TlsEngine(spec_for(ca=tls_certs.rogue_ca))),
        fails(TlsEngine(spec_for(url=http_server(200, b"hello")))),
        fails(TlsEngine(spec_for(url=silent_listener, timeout=0.3))),
    ]
    for error in errors:
        assert body[:16] not in str(error) and "PRIVATE KEY" not in str(error)


# --- the daemon goes away (keep last: the next test using the daemon starts it again) ------------------------


def test_daemon_stopping_ends_streams_and_then_is_unreachable(engine: TlsEngine, running_tls_daemon: TlsDaemon) -> None:
    engine.info()
    collector = Collector(engine.events())
    running_tls_daemon.stop()
    assert collector.ended(within=5.0), "the events stream did not end with the daemon"
    assert collector.error is None

    error = fails(engine, within=1.0)
    assert isinstance(error, HostUnreachable)
    assert str(error) == f"Nothing answers at {running_tls_daemon.base_url} (connection refused)."
