"""pytest plugin: a real local Docker daemon, the busybox test image and per-test cleanup.

Enable it with ``pytest_plugins = ["tests.dockerenv.plugin"]`` in the root conftest. Every test that uses
one of its fixtures gets the ``docker`` marker, so ``-m "not docker"`` leaves them out.

Network rule: tests talk to loopback only, so every port published through these helpers binds 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import itertools
import os
import re
import secrets
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from docker.client import DockerClient
from docker.errors import APIError, DockerException, NotFound
from docker.models.containers import Container
from docker.utils import version_lt

from .image import TEST_IMAGE, DockerEnvError, ensure_test_image

DOCKERD_UP = Path(__file__).resolve().parents[2] / "scripts" / "dockerd-up"
DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"
MIN_API_VERSION = "1.41"  # Debian 12's dockerd 20.10: the oldest daemon these tests are written against
ENV_LABEL = "org.dockenv"
TEST_LABEL = "org.dockenv.test"
LOOPBACK = "127.0.0.1"
DOCKER_FIXTURES = frozenset({"docker_client", "test_image", "docker_prefix", "docker_labels", "run_container"})

# urllib would otherwise send even loopback requests to an $http_proxy.
_direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "docker: needs the local Docker daemon and the dockenv/testapp:1 image")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if DOCKER_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.docker)


# --- daemon -----------------------------------------------------------------------------------------------


def docker_host() -> str:
    """The daemon socket the tests use; scripts/dockerd-up checks (and serves) the same one."""
    return os.environ.get("DOCKER_HOST") or DEFAULT_DOCKER_HOST


def start_daemon() -> None:
    """Run scripts/dockerd-up: a no-op when the daemon answers, else it starts dockerd."""
    try:
        proc = subprocess.run([str(DOCKERD_UP)], capture_output=True, text=True, timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DockerEnvError(f"{DOCKERD_UP} could not run: {exc}") from exc
    if proc.returncode != 0:
        raise DockerEnvError(f"{DOCKERD_UP} failed (exit {proc.returncode}):\n{proc.stdout}{proc.stderr}")


def connect() -> DockerClient:
    """A client for the local daemon, API version negotiated with it."""
    host = docker_host()
    try:
        # "auto" asks the daemon for its version in the constructor, so a silent daemon fails right here.
        client = DockerClient(base_url=host, version="auto")
    except DockerException as exc:
        raise DockerEnvError(f"the Docker daemon at {host} does not answer: {exc}") from exc
    if version_lt(client.api.api_version, MIN_API_VERSION):
        client.close()
        raise DockerEnvError(f"the Docker daemon at {host} speaks API {client.api.api_version} < {MIN_API_VERSION}")
    return client


# --- per-test names, labels and cleanup -----------------------------------------------------------------


def make_prefix(test_name: str) -> str:
    """A container-name prefix unique to one test run, e.g. ``dm-t-stop-is-fast-3fa9c1-``."""
    short = re.sub(r"[^a-z0-9]+", "-", test_name.lower().removeprefix("test_"))[:24].strip("-") or "test"
    return f"dm-t-{short}-{secrets.token_hex(3)}-"


def labels_for(prefix: str) -> dict[str, str]:
    """Labels marking a container/network/volume as owned by the test with this prefix."""
    return {ENV_LABEL: "1", TEST_LABEL: prefix}


@dataclass
class Removed:
    containers: list[str] = field(default_factory=list)
    networks: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)


def _in_progress(exc: APIError) -> bool:
    # An auto-removed container that is going away on its own answers 409 "already in progress".
    return exc.status_code == 409 and "already in progress" in str(exc)


def cleanup_test_resources(client: DockerClient, prefix: str) -> Removed:
    """Force-remove the containers named ``prefix*`` or labelled with it, then its networks and volumes.

    Nothing else on the daemon is touched. Raises RuntimeError listing what could not be removed.
    """
    api = client.api
    label = f"{TEST_LABEL}={prefix}"
    removed, failed = Removed(), []

    targets: dict[str, str] = {}
    # The daemon's name filter is an unanchored match, so the prefix is checked again here.
    for c in api.containers(all=True, filters={"name": prefix}):
        names = [n.lstrip("/") for n in c["Names"]]
        if any(n.startswith(prefix) for n in names):
            targets[c["Id"]] = names[0]
    for c in api.containers(all=True, filters={"label": label}):
        targets[c["Id"]] = c["Names"][0].lstrip("/")
    for cid, name in targets.items():
        try:
            api.remove_container(cid, v=True, force=True)
        except NotFound:
            continue  # gone meanwhile
        except APIError as exc:
            if not _in_progress(exc):
                failed.append(f"container {name}: {exc}")
            continue
        removed.containers.append(name)

    for net in api.networks(filters={"label": label}):
        try:
            api.remove_network(net["Id"])
            removed.networks.append(net["Name"])
        except NotFound:
            pass
        except APIError as exc:
            failed.append(f"network {net['Name']}: {exc}")

    for vol in api.volumes(filters={"label": label}).get("Volumes") or []:
        try:
            api.remove_volume(vol["Name"], force=True)
            removed.volumes.append(vol["Name"])
        except APIError as exc:
            failed.append(f"volume {vol['Name']}: {exc}")

    if failed:
        raise RuntimeError(f"cleanup of {prefix!r} left resources behind:\n" + "\n".join(failed))
    return removed


# --- helpers for tests ----------------------------------------------------------------------------------


def _is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # another host name
        return False


def _loopback_binding(binding: Any) -> Any:
    if isinstance(binding, tuple) and len(binding) == 2:
        if not _is_loopback_host(binding[0]):
            raise ValueError(f"tests publish ports on loopback only, not on {binding[0]}")
        return binding
    if binding is None or isinstance(binding, int | str):
        return (LOOPBACK, binding)  # None: the daemon picks a free host port
    raise ValueError(f"unsupported port binding {binding!r}; use a port, None or (host, port)")


def loopback_ports(ports: dict[str, Any]) -> dict[str, Any]:
    """``ports`` for ``containers.run`` with every binding on 127.0.0.1 (a bare port or None gets it added)."""
    return {
        cport: [_loopback_binding(b) for b in binding] if isinstance(binding, list) else _loopback_binding(binding)
        for cport, binding in ports.items()
    }


def host_port(container: Container, port: str = "8080/tcp") -> int:
    """The 127.0.0.1 host port the daemon published ``port`` on."""
    container.reload()
    for binding in container.ports.get(port) or []:
        if binding["HostIp"] == LOOPBACK:
            return int(binding["HostPort"])
    raise LookupError(f"{container.name}: {port} is not published on {LOOPBACK} ({container.ports})")


def http_get(url: str, timeout: float = 10.0) -> tuple[int, bytes]:
    """GET a loopback URL, retrying until something answers; returns (status, body), 4xx/5xx included.

    Retrying matters because docker-proxy accepts connections before the server in the container listens.
    """
    if not _is_loopback_host(urllib.parse.urlsplit(url).hostname or ""):
        raise ValueError(f"tests send traffic to loopback only, not to {url}")
    deadline = time.monotonic() + timeout
    while True:
        try:
            with _direct.open(url, timeout=2) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            with contextlib.closing(exc):
                return exc.code, exc.read()
        except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} did not answer within {timeout} s: {exc}") from exc
            time.sleep(0.1)


def wait_for_log(container: Container, text: str, timeout: float = 10.0) -> str:
    """Wait until ``text`` shows up in the container's output; returns the whole output so far."""
    deadline = time.monotonic() + timeout
    while True:
        logs = container.logs().decode(errors="replace")
        if text in logs:
            return logs
        if time.monotonic() > deadline:
            raise TimeoutError(f"{container.name}: {text!r} not in its output after {timeout} s:\n{logs}")
        time.sleep(0.05)


# --- fixtures -------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def docker_client() -> Iterator[DockerClient]:
    """The local daemon (started if needed) with the test image present. Fails, never skips, without it."""
    try:
        start_daemon()
        client = connect()
        ensure_test_image(client)
    except (DockerEnvError, DockerException) as exc:
        # "from None": the message already says it all; pytest would print the chained error a second time.
        raise pytest.fail.Exception(f"Docker test environment unavailable: {exc}", pytrace=False) from None
    yield client
    client.close()


@pytest.fixture(scope="session")
def test_image(docker_client: DockerClient) -> str:
    return TEST_IMAGE


@pytest.fixture
def docker_prefix(request: pytest.FixtureRequest, docker_client: DockerClient) -> Iterator[str]:
    """Name prefix for this test's Docker objects; whatever carries it (or its label) is removed afterwards."""
    prefix = make_prefix(request.node.name)
    yield prefix
    cleanup_test_resources(docker_client, prefix)


@pytest.fixture
def docker_labels(docker_prefix: str) -> dict[str, str]:
    """Labels to put on containers, networks and volumes a test creates itself, so cleanup finds them."""
    return labels_for(docker_prefix)


@pytest.fixture
def run_container(docker_client: DockerClient, docker_prefix: str, test_image: str) -> Callable[..., Container]:
    """``run_container(*cmd, name=None, **kwargs)``: start a detached test-image container owned by this test.

    ``cmd`` is the testapp mode and its arguments (none: ``forever``); ``kwargs`` go to ``containers.run``
    (``image=`` picks another image, ``ports=`` are bound to 127.0.0.1, ``labels=`` are merged).
    """
    counter = itertools.count(1)

    def run(*cmd: str, name: str | None = None, **kwargs: Any) -> Container:
        image = kwargs.pop("image", test_image)
        kwargs["labels"] = {**kwargs.get("labels", {}), **labels_for(docker_prefix)}
        if "ports" in kwargs:
            kwargs["ports"] = loopback_ports(kwargs["ports"])
        full_name = f"{docker_prefix}{name or next(counter)}"
        return docker_client.containers.run(image, list(cmd) or None, name=full_name, detach=True, **kwargs)

    return run
