"""Proof that the Docker test environment works: image, modes, loopback publishing and cleanup."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from docker.client import DockerClient
from docker.errors import NotFound
from docker.models.containers import Container

from tests.dockerenv.image import IMAGE_LABEL, READY_MARK, RECIPE_LABEL, ensure_test_image, recipe_digest
from tests.dockerenv.plugin import (
    cleanup_test_resources,
    host_port,
    http_get,
    labels_for,
    loopback_ports,
    make_prefix,
    wait_for_log,
)

RunContainer = Callable[..., Container]


@pytest.mark.docker
def test_image_has_entrypoint_and_labels(docker_client: DockerClient, test_image: str) -> None:
    attrs = docker_client.api.inspect_image(test_image)
    config = attrs["Config"]
    assert config["Entrypoint"] == ["/bin/testapp"]
    assert config["Cmd"] == ["forever"]
    assert "PATH=/bin" in config["Env"]
    assert "8080/tcp" in config["ExposedPorts"]
    assert config["Labels"][IMAGE_LABEL] == "1"
    assert config["Labels"][RECIPE_LABEL] == recipe_digest()
    # Present and current: a second ensure is a cheap no-op that keeps the same image.
    assert ensure_test_image(docker_client) == test_image
    assert docker_client.api.inspect_image(test_image)["Id"] == attrs["Id"]


@pytest.mark.docker
def test_image_filesystem(run_container: RunContainer) -> None:
    container = run_container("sh", "-c", "stat -c %a /tmp; cat /www/health; echo; readlink /bin/sh; id -un")
    assert container.wait(timeout=15)["StatusCode"] == 0
    assert container.logs().decode().split() == ["1777", "ok", "busybox", "root"]


@pytest.mark.docker
def test_http_mode_answers_on_a_loopback_port(run_container: RunContainer) -> None:
    container = run_container("http", ports={"8080/tcp": None})  # None: the daemon picks a free port
    port = host_port(container)
    assert http_get(f"http://127.0.0.1:{port}/health") == (200, b"ok")
    assert http_get(f"http://127.0.0.1:{port}/nope")[0] == 404
    assert {b["HostIp"] for b in container.ports["8080/tcp"]} == {"127.0.0.1"}


@pytest.mark.docker
def test_stop_of_forever_container_is_fast_and_clean(run_container: RunContainer) -> None:
    container = run_container()
    wait_for_log(container, READY_MARK)  # the TERM trap is installed from here on
    started = time.monotonic()
    container.stop(timeout=10)
    elapsed = time.monotonic() - started
    container.reload()
    assert elapsed < 3, f"docker stop took {elapsed:.2f} s: PID 1 ignored SIGTERM"
    assert container.attrs["State"]["ExitCode"] == 0


@pytest.mark.docker
def test_exit_mode_ends_with_the_given_code(run_container: RunContainer) -> None:
    container = run_container("exit", "3", "1")
    assert container.wait(timeout=15)["StatusCode"] == 3
    assert "testapp: exiting with 3" in container.logs().decode()


@pytest.mark.docker
def test_cleanup_removes_this_tests_objects_and_nothing_else(
    docker_client: DockerClient,
    test_image: str,
    docker_prefix: str,
    docker_labels: dict[str, str],
    run_container: RunContainer,
) -> None:
    def start_objects() -> list[str]:
        started = [run_container(), run_container("http", name="web")]
        # Found by name alone: created without the helper, so without the labels.
        started.append(docker_client.containers.run(test_image, name=f"{docker_prefix}bare", detach=True))
        return [c.id for c in started]

    ids = start_objects()
    network = docker_client.networks.create(f"{docker_prefix}net", labels=docker_labels)
    volume = docker_client.volumes.create(f"{docker_prefix}vol", labels=docker_labels)
    other = make_prefix("bystander")
    bystander = docker_client.containers.run(test_image, name=f"{other}1", labels=labels_for(other), detach=True)
    try:
        removed = cleanup_test_resources(docker_client, docker_prefix)

        assert sorted(removed.containers) == sorted(f"{docker_prefix}{n}" for n in ("1", "web", "bare"))
        assert removed.networks == [network.name]
        assert removed.volumes == [volume.name]
        for cid in ids:
            with pytest.raises(NotFound):
                docker_client.api.inspect_container(cid)
        assert docker_client.containers.list(all=True, filters={"name": docker_prefix}) == []
        with pytest.raises(NotFound):
            docker_client.api.inspect_network(network.id)
        with pytest.raises(NotFound):
            docker_client.api.inspect_volume(volume.name)
        assert docker_client.api.inspect_container(bystander.id)["State"]["Running"]
        # Nothing left, so a second run (the fixture's teardown) removes nothing.
        assert cleanup_test_resources(docker_client, docker_prefix).containers == []
    finally:
        cleanup_test_resources(docker_client, other)
    with pytest.raises(NotFound):
        docker_client.api.inspect_container(bystander.id)


def test_prefix_is_a_short_valid_container_name() -> None:
    prefix = make_prefix("test_Something[with params/x]-very-long-name-indeed")
    assert prefix.startswith("dm-t-something-with-params-x-")
    assert len(prefix) <= 5 + 24 + 8
    assert all(ch.isalnum() or ch == "-" for ch in prefix)
    assert make_prefix("test_a") != make_prefix("test_a")


def test_published_ports_are_forced_onto_loopback() -> None:
    assert loopback_ports({"8080/tcp": None, "80/tcp": 18080, "53/udp": ("127.0.0.2", 5353)}) == {
        "8080/tcp": ("127.0.0.1", None),
        "80/tcp": ("127.0.0.1", 18080),
        "53/udp": ("127.0.0.2", 5353),
    }
    assert loopback_ports({"8080/tcp": [1, 2]}) == {"8080/tcp": [("127.0.0.1", 1), ("127.0.0.1", 2)]}
    with pytest.raises(ValueError, match="loopback"):
        loopback_ports({"8080/tcp": ("0.0.0.0", 8080)})
    with pytest.raises(ValueError, match="loopback"):
        http_get("http://192.0.2.1/health")
