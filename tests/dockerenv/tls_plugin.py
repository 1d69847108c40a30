"""pytest plugin: a second dockerd with mutual TLS on 127.0.0.1 (see tlsd.py), the "remote host" of the tests.

Enable it next to ``tests.dockerenv.plugin`` (``pytest_plugins`` or ``-p tests.dockerenv.tls_plugin``). The
daemon starts once per session with the test image loaded and is removed at session end. Tests using these
fixtures get the ``docker`` marker.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from docker.client import DockerClient
from docker.errors import DockerException
from docker.models.containers import Container

# With ``-p`` this module loads before the root conftest registers plugin.py; importing it here first would
# otherwise cost plugin.py its assertion rewriting (and print a PytestAssertRewriteWarning).
pytest.register_assert_rewrite("tests.dockerenv.plugin")

from .certs import TlsCerts, generate_tls_certs  # noqa: E402
from .image import TEST_IMAGE, DockerEnvError  # noqa: E402
from .plugin import cleanup_test_resources, labels_for, loopback_ports, make_prefix  # noqa: E402
from .tlsd import TlsDaemon  # noqa: E402

TLS_FIXTURES = frozenset({"tls_daemon", "running_tls_daemon", "tls_client", "tls_docker_prefix", "tls_run_container"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if TLS_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.docker)


def _env_failure(exc: Exception) -> pytest.fail.Exception:
    # Like docker_client: fail (never skip) with the reason, without pytest printing the chain twice.
    return pytest.fail.Exception(f"TLS Docker test environment unavailable: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def tls_certs() -> TlsCerts:
    """The test PKI: good CA, server and client certificates, rogue CA/client, expired and expiring clients."""
    return generate_tls_certs()


@pytest.fixture(scope="session")
def tls_daemon(tls_certs: TlsCerts, docker_client: DockerClient) -> Iterator[TlsDaemon]:
    """The session's mutual-TLS dockerd with the test image. It may be stopped by a test: use
    ``running_tls_daemon`` to get it running."""
    daemon = TlsDaemon(tls_certs)
    try:
        daemon.start()
        daemon.load_image(docker_client, TEST_IMAGE)
    except (DockerEnvError, DockerException) as exc:
        daemon.teardown()
        raise _env_failure(exc) from None
    yield daemon
    daemon.teardown()


@pytest.fixture
def running_tls_daemon(tls_daemon: TlsDaemon) -> TlsDaemon:
    """``tls_daemon``, restarted first if an earlier test left it stopped."""
    try:
        tls_daemon.start()
    except DockerEnvError as exc:
        raise _env_failure(exc) from None
    return tls_daemon


@pytest.fixture
def tls_client(running_tls_daemon: TlsDaemon) -> Iterator[DockerClient]:
    """A client of the TLS daemon with the good client certificate."""
    client = running_tls_daemon.client()
    yield client
    client.close()


@pytest.fixture
def tls_docker_prefix(request: pytest.FixtureRequest, running_tls_daemon: TlsDaemon) -> Iterator[str]:
    """Name prefix for this test's objects on the TLS daemon; whatever carries it is removed afterwards."""
    prefix = make_prefix(request.node.name)
    yield prefix
    # A test that stopped the daemon leaves its containers in the data-root: start it to remove them.
    running_tls_daemon.start()
    client = running_tls_daemon.client()
    try:
        cleanup_test_resources(client, prefix)
    finally:
        client.close()


@pytest.fixture
def tls_run_container(tls_client: DockerClient, tls_docker_prefix: str) -> Callable[..., Container]:
    """``tls_run_container(*cmd, name=None, **kwargs)``: like ``run_container``, on the TLS daemon."""
    counter = itertools.count(1)

    def run(*cmd: str, name: str | None = None, **kwargs: Any) -> Container:
        image = kwargs.pop("image", TEST_IMAGE)
        kwargs["labels"] = {**kwargs.get("labels", {}), **labels_for(tls_docker_prefix)}
        if "ports" in kwargs:
            kwargs["ports"] = loopback_ports(kwargs["ports"])
        full_name = f"{tls_docker_prefix}{name or next(counter)}"
        return tls_client.containers.run(image, list(cmd) or None, name=full_name, detach=True, **kwargs)

    return run
