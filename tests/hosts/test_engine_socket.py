"""SocketEngine against the real local daemon: what it reports, what it does, and how it fails.

No database: engines are built from a ConnectionSpec. Containers, networks and volumes carry the test's
prefix or labels, so the plugin's cleanup removes whatever a failing test leaves behind.
"""

from __future__ import annotations

import http.server
import io
import os
import queue
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from docker.client import DockerClient
from docker.errors import NotFound as DockerNotFound
from docker.types import Mount as DockerMount

from dockmon_agent.engine.base import (
    Action,
    Conflict,
    ContainerState,
    DockerEvent,
    EngineError,
    EngineTimeout,
    Health,
    HostUnreachable,
    Mount,
    NotDockerApi,
    NotFound,
    NotModified,
    PortBinding,
    Stream,
)
from dockmon_agent.engine.docker_api import ConnectionSpec, DockerApiEngine, SocketEngine
from tests.dockerenv.image import READY_MARK
from tests.dockerenv.plugin import docker_host, host_port, wait_for_log
from tests.fixtures import wait_until
from tests.live import free_port

HEALTHCHECK = {
    "test": ["CMD-SHELL", "wget -q -O- http://127.0.0.1:8080/health || exit 1"],
    "interval": 200_000_000,  # ns
    "timeout": 2_000_000_000,
    "retries": 1,
}
TICKS = "while :; do echo tick $(date +%s%N); sleep 0.2; done"
_END = object()


# --- helpers (the TLS tests use them too) -------------------------------------------------------------------


class Collector:
    """Iterates a Stream on its own thread; the test waits for what it expects to arrive."""

    def __init__(self, stream: Stream) -> None:
        self.stream = stream
        self.seen: list[Any] = []
        self.error: BaseException | None = None
        self._items: queue.Queue[Any] = queue.Queue()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            for item in self.stream:
                self._items.put(item)
        except BaseException as exc:  # noqa: BLE001  # reported to the test through `error`
            self.error = exc
        self._items.put(_END)

    def expect(self, matches: Callable[[Any], bool], within: float) -> Any:
        """The first new item that matches, waiting at most `within` seconds."""
        deadline = time.monotonic() + within
        while True:
            try:
                item = self._items.get(timeout=max(deadline - time.monotonic(), 0))
            except queue.Empty:
                raise AssertionError(
                    f"nothing expected arrived within {within} s; last seen: {self.seen[-5:]}"
                ) from None
            if item is _END:
                raise AssertionError(f"the stream ended (error: {self.error!r}); last seen: {self.seen[-5:]}")
            self.seen.append(item)
            if matches(item):
                return item

    def expect_event(self, action: str, container_id: str, within: float = 2.0) -> DockerEvent:
        return self.expect(lambda e: e.action == action and e.container_id == container_id, within)

    def ended(self, within: float) -> bool:
        self.thread.join(within)
        return not self.thread.is_alive()

    def close_from_here(self) -> float:
        """Close the stream from this (another) thread; the seconds until the reading thread finished."""
        started = time.monotonic()
        self.stream.close()
        self.thread.join(5)
        assert not self.thread.is_alive(), "close() did not end the stream"
        assert self.error is None
        return time.monotonic() - started


def assert_closes_promptly(collector: Collector) -> None:
    time.sleep(0.3)  # let the reader block in recv()
    assert collector.thread.is_alive()
    assert collector.close_from_here() < 1.0


def act_and_expect(
    engine: DockerApiEngine, collector: Collector, container_id: str, action: Action, event: str, **options: Any
) -> DockerEvent:
    started = time.monotonic()
    engine.act(container_id, action, **options)
    received = collector.expect_event(event, container_id)
    assert time.monotonic() - started < 2.0
    return received


@pytest.fixture
def engine(docker_client: DockerClient) -> Iterator[SocketEngine]:
    with SocketEngine(ConnectionSpec(docker_host())) as engine:
        yield engine


def state_of(docker_client: DockerClient, container_id: str) -> dict[str, Any]:
    return docker_client.api.inspect_container(container_id)["State"]


def recent(moment: datetime | None) -> bool:
    now = datetime.now(UTC)
    return moment is not None and moment.tzinfo is not None and now - timedelta(minutes=2) < moment <= now


# --- facts and snapshots ------------------------------------------------------------------------------------


def test_info_describes_the_daemon(engine: SocketEngine, docker_client: DockerClient, run_container) -> None:
    run_container()
    facts = engine.info()

    info, version = docker_client.info(), docker_client.version()
    assert facts.engine_id == info["ID"] != ""
    assert (facts.name, facts.os, facts.kernel) == (info["Name"], info["OperatingSystem"], info["KernelVersion"])
    assert facts.os_type == "linux"
    assert facts.docker_version == version["Version"]
    assert facts.api_version == version["ApiVersion"] == "1.41"
    assert (facts.cpus, facts.memory_bytes) == (info["NCPU"], info["MemTotal"])
    assert facts.containers_running >= 1
    assert facts.containers_total >= facts.containers_running + facts.containers_paused
    assert facts.images >= 1


def test_containers_reports_created_running_and_exited(
    engine: SocketEngine, docker_client: DockerClient, run_container, docker_prefix: str, docker_labels, test_image
) -> None:
    created = docker_client.containers.create(test_image, name=f"{docker_prefix}created", labels=docker_labels)
    web = run_container(
        "http",
        name="web",
        ports={"8080/tcp": None},
        labels={"app": "web"},
        environment={"GREETING": "hi"},
        restart_policy={"Name": "on-failure", "MaximumRetryCount": 2},
    )
    volume = docker_client.volumes.create(f"{docker_prefix}data", labels=docker_labels)
    run_container(name="mounted", volumes={volume.name: {"bind": "/data", "mode": "ro"}})
    exited = run_container("exit", "3", "0", name="exited")
    exited.wait(timeout=10)

    snapshots = {s.name: s for s in engine.containers()}

    c = snapshots[f"{docker_prefix}created"]
    assert (c.id, c.state, c.status, c.exit_code) == (created.id, ContainerState.CREATED, "Created", None)
    assert c.started_at is None and c.finished_at is None
    assert recent(c.created)

    w = snapshots[f"{docker_prefix}web"]
    assert (w.state, w.health, w.exit_code, w.oom_killed) == (ContainerState.RUNNING, Health.NONE, None, False)
    assert w.status.startswith("Up ")
    assert w.image == test_image and w.image_id.startswith("sha256:")
    assert (w.entrypoint, w.command) == (["/bin/testapp"], ["http"])
    assert w.ports == (PortBinding(8080, "tcp", "127.0.0.1", host_port(web)),)
    assert w.labels["app"] == "web" and w.labels["org.dockenv.test"] == docker_prefix
    assert "GREETING=hi" in w.env
    assert w.restart_policy == "on-failure:2" and w.restart_count == 0
    assert list(w.networks) == ["bridge"] and re.fullmatch(r"\d+\.\d+\.\d+\.\d+", w.networks["bridge"])
    assert recent(w.started_at) and w.finished_at is None and w.created <= w.started_at

    m = snapshots[f"{docker_prefix}mounted"]
    assert m.ports == (PortBinding(8080, "tcp"),)  # EXPOSEd by the image, not published
    assert m.restart_policy == "no"
    assert m.mounts == (Mount("volume", volume.attrs["Mountpoint"], "/data", read_only=True, name=volume.name),)

    x = snapshots[f"{docker_prefix}exited"]
    assert (x.state, x.exit_code, x.ports, x.networks["bridge"]) == (ContainerState.EXITED, 3, (), "")
    assert x.status.startswith("Exited (3)")
    assert x.command == ["exit", "3", "0"]
    # `exit 3 0` ends at once: Docker may stamp its end a fraction of a millisecond before its start.
    assert recent(x.finished_at) and abs((x.finished_at - x.started_at).total_seconds()) < 5

    # One container by id or name says the same as the list (bar the status text, which ages).
    assert replace(engine.container(f"{docker_prefix}web"), status="") == replace(w, status="")
    assert replace(engine.container(exited.id[:12]), status="") == replace(x, status="")


def test_health_is_reported(engine: SocketEngine, run_container) -> None:
    checked = run_container("http", name="hc", healthcheck=HEALTHCHECK)

    healthy = wait_until(lambda: (s := engine.container(checked.id)).health is Health.HEALTHY and s)
    assert "(healthy)" in healthy.status
    checked.exec_run("rm /www/health")
    assert wait_until(lambda: engine.container(checked.id).health is Health.UNHEALTHY)


def test_containers_skips_one_removed_while_listing(
    engine: SocketEngine, docker_client: DockerClient, run_container, monkeypatch
) -> None:
    doomed = run_container(name="doomed")
    original = docker_client.api.__class__.inspect_container

    def remove_first(api, container, *args, **kwargs):  # the container goes between list and inspect
        if container == doomed.id:
            docker_client.api.remove_container(doomed.id, force=True)
        return original(api, container, *args, **kwargs)

    monkeypatch.setattr(docker_client.api.__class__, "inspect_container", remove_first)
    assert doomed.id not in {s.id for s in engine.containers()}


# --- actions ------------------------------------------------------------------------------------------------


def test_every_action_is_applied(
    engine: SocketEngine, docker_client: DockerClient, run_container, docker_prefix
) -> None:
    c = run_container(name="act", mounts=[DockerMount("/data", None, type="volume")])  # an anonymous volume
    wait_for_log(c, READY_MARK)
    anonymous = docker_client.api.inspect_container(c.id)["Mounts"][0]["Name"]

    engine.act(c.id, Action.STOP, timeout=5)
    assert state_of(docker_client, c.id)["Status"] == "exited"
    assert state_of(docker_client, c.id)["ExitCode"] == 0  # testapp exits cleanly on SIGTERM
    engine.act(c.id, Action.START)
    assert state_of(docker_client, c.id)["Status"] == "running"
    engine.act(c.id, Action.PAUSE)
    assert state_of(docker_client, c.id)["Status"] == "paused"
    engine.act(c.id, Action.UNPAUSE)
    assert state_of(docker_client, c.id)["Status"] == "running"
    started = state_of(docker_client, c.id)["StartedAt"]
    engine.act(c.id, Action.RESTART, timeout=5)
    assert state_of(docker_client, c.id)["Status"] == "running"
    assert state_of(docker_client, c.id)["StartedAt"] != started
    engine.act(c.id, Action.KILL)
    assert (state_of(docker_client, c.id)["Status"], state_of(docker_client, c.id)["ExitCode"]) == ("exited", 137)
    engine.act(c.id, Action.RENAME, new_name=f"{docker_prefix}renamed")
    assert docker_client.containers.get(c.id).name == f"{docker_prefix}renamed"
    engine.act(c.id, Action.START)
    engine.act(c.id, Action.REMOVE, remove_volumes=True)  # running: removed all the same (force)
    with pytest.raises(DockerNotFound):
        docker_client.containers.get(c.id)
    with pytest.raises(DockerNotFound):
        docker_client.volumes.get(anonymous)


def test_nothing_to_do_is_not_modified(engine: SocketEngine, docker_client: DockerClient, run_container) -> None:
    c = run_container()
    wait_for_log(c, READY_MARK)
    with pytest.raises(NotModified, match=r"^The container is already started\.$"):
        engine.act(c.id, Action.START)
    engine.act(c.id, Action.PAUSE)
    with pytest.raises(NotModified, match=r"^The container is already paused\.$"):
        engine.act(c.id, Action.PAUSE)
    engine.act(c.id, Action.UNPAUSE)
    engine.act(c.id, Action.STOP, timeout=5)
    with pytest.raises(NotModified, match=r"^The container is already stopped\.$"):
        engine.act(c.id, Action.STOP)
    with pytest.raises(Conflict, match=r"^The container is not running\.$"):
        engine.act(c.id, Action.PAUSE)
    assert state_of(docker_client, c.id)["Status"] == "exited"


def test_renaming_to_a_used_name_is_a_conflict(engine: SocketEngine, run_container, docker_prefix: str) -> None:
    c = run_container(name="one")
    run_container(name="two")
    with pytest.raises(Conflict) as caught:
        engine.act(c.id, Action.RENAME, new_name=f"{docker_prefix}two")
    assert str(caught.value) == f"The name “{docker_prefix}two” is already in use by another container."
    with pytest.raises(EngineError, match="new name"):
        engine.act(c.id, Action.RENAME)


def test_missing_objects_are_not_found(engine: SocketEngine, docker_prefix: str) -> None:
    missing = f"{docker_prefix}missing"
    with pytest.raises(NotFound) as caught:
        engine.container(missing)
    assert str(caught.value) == f"There is no container “{missing}” on this host."
    for attempt in (
        lambda: engine.act(missing, Action.START),
        lambda: engine.act("0123456789ab" * 5 + "cdef", Action.REMOVE),
        lambda: engine.logs(missing, tail=10, timestamps=False, follow=False),
        lambda: engine.inspect(missing),
    ):
        with pytest.raises(NotFound, match="There is no container"):
            attempt()
    with pytest.raises(NotFound, match=f"^There is no network “{missing}” on this host.$"):
        engine.remove_network(missing)
    with pytest.raises(NotFound, match=f"^There is no volume “{missing}” on this host.$"):
        engine.remove_volume(missing)
    with pytest.raises(NotFound, match=r"^There is no image"):
        engine.remove_image(f"{missing}:1")


# --- logs ---------------------------------------------------------------------------------------------------


def test_logs_tail_and_timestamps(engine: SocketEngine, run_container) -> None:
    # stdout and stderr reach the log through separate copiers: a pause keeps their order certain.
    c = run_container(
        "sh", "-c", "echo oops >&2; sleep 0.3; for i in 1 2 3 4 5; do echo line $i; done; exec sleep 3600"
    )
    wait_for_log(c, "line 5")

    assert list(engine.logs(c.id, tail=3, timestamps=False, follow=False)) == ["line 3", "line 4", "line 5"]
    stamped = list(engine.logs(c.id, tail=2, timestamps=True, follow=False))
    assert len(stamped) == 2
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z line 4", stamped[0])
    assert stamped[1].endswith("Z line 5")
    everything = list(engine.logs(c.id, tail=-1, timestamps=False, follow=False))  # -1: all of it
    assert everything == ["oops", "line 1", "line 2", "line 3", "line 4", "line 5"]


def test_logs_rejoin_long_lines_and_strip_tty_returns(engine: SocketEngine, run_container) -> None:
    # Docker cuts lines over 16 KiB into several log entries (frames); they come back as one line.
    long = run_container("sh", "-c", "head -c 40000 /dev/zero | tr '\\000' x; echo; echo after; exec sleep 3600")
    wait_for_log(long, "after")
    assert list(engine.logs(long.id, tail=-1, timestamps=False, follow=False)) == ["x" * 40000, "after"]

    tty = run_container("sh", "-c", "echo one; echo two; exec sleep 3600", tty=True)
    wait_for_log(tty, "two")
    assert list(engine.logs(tty.id, tail=-1, timestamps=False, follow=False)) == ["one", "two"]


def test_follow_receives_new_lines_and_closes_from_another_thread(engine: SocketEngine, run_container) -> None:
    c = run_container("sh", "-c", TICKS)
    wait_for_log(c, "tick")
    opened = time.monotonic()
    collector = Collector(engine.logs(c.id, tail=0, timestamps=False, follow=True))

    # tail=0: whatever arrives was printed after the stream opened.
    assert collector.expect(lambda line: line.startswith("tick "), within=1.0)
    assert time.monotonic() - opened < 1.0
    assert collector.close_from_here() < 1.0


def test_streams_have_no_read_timeout(docker_client: DockerClient, run_container) -> None:
    with SocketEngine(ConnectionSpec(docker_host(), timeout=1)) as engine:
        c = run_container("sh", "-c", "echo first; sleep 2.5; echo second; exec sleep 3600")
        wait_for_log(c, "first")
        logs = Collector(engine.logs(c.id, tail=-1, timestamps=False, follow=True))
        events = Collector(engine.events())

        assert logs.expect(lambda line: line == "first", within=1.0)
        assert logs.expect(lambda line: line == "second", within=4.0)  # after 2.5 s of silence > timeout
        later = run_container()
        events.expect_event("start", later.id)  # the events stream has been open (and quiet) as long
    assert logs.ended(1.0) and events.ended(1.0)  # closing the engine closed its streams


# --- events -------------------------------------------------------------------------------------------------


def test_events_follow_a_container_life(engine: SocketEngine, run_container, docker_prefix: str) -> None:
    collector = Collector(engine.events())
    started = time.monotonic()
    c = run_container(name="life")
    create = collector.expect_event("create", c.id)
    start = collector.expect_event("start", c.id)
    assert time.monotonic() - started < 2.0
    assert create.name == start.name == f"{docker_prefix}life"
    assert start.attributes["image"] == "dockenv/testapp:1"
    assert start.attributes["org.dockenv.test"] == docker_prefix  # labels come along
    assert recent(start.time) and start.health is None

    wait_for_log(c, READY_MARK)
    c.exec_run("true")  # exec_* events are not passed on
    renamed = act_and_expect(engine, collector, c.id, Action.RENAME, "rename", new_name=f"{docker_prefix}life2")
    assert renamed.name == f"{docker_prefix}life2"
    assert renamed.attributes["oldName"] == f"/{docker_prefix}life"
    act_and_expect(engine, collector, c.id, Action.STOP, "stop", timeout=5)
    die = next(e for e in collector.seen if e.action == "die" and e.container_id == c.id)
    assert die.attributes["exitCode"] == "0"
    act_and_expect(engine, collector, c.id, Action.START, "start")
    killed = act_and_expect(engine, collector, c.id, Action.KILL, "die")
    assert killed.attributes["exitCode"] == "137"
    act_and_expect(engine, collector, c.id, Action.REMOVE, "destroy")

    assert not [e for e in collector.seen if e.action.startswith("exec")]
    assert_closes_promptly(collector)


def test_events_report_health(engine: SocketEngine, run_container) -> None:
    collector = Collector(engine.events())
    checked = run_container("http", name="hc", healthcheck=HEALTHCHECK)
    collector.expect_event("start", checked.id)
    health = collector.expect_event("health_status", checked.id, within=3.0)
    assert health.health is Health.HEALTHY
    # Health checks run as execs: their exec_create/exec_start/exec_die never show up.
    assert not [e for e in collector.seen if e.action.startswith("exec")]
    assert_closes_promptly(collector)


def test_events_since_replays_the_past(engine: SocketEngine, docker_client: DockerClient, docker_prefix, docker_labels):
    since = datetime.now(UTC) - timedelta(seconds=1)
    created = docker_client.containers.create("dockenv/testapp:1", name=f"{docker_prefix}old", labels=docker_labels)
    time.sleep(0.2)
    collector = Collector(engine.events(since=since))
    replayed = collector.expect_event("create", created.id, within=1.0)
    assert since <= replayed.time <= datetime.now(UTC)
    assert_closes_promptly(collector)


# --- images, networks, volumes ------------------------------------------------------------------------------


def test_networks_listing_removal_and_prune(
    engine: SocketEngine, docker_client: DockerClient, run_container, docker_prefix: str, docker_labels
) -> None:
    used = docker_client.networks.create(f"{docker_prefix}used", labels=docker_labels)
    unused = docker_client.networks.create(f"{docker_prefix}unused", labels=docker_labels)
    c = run_container(network=used.name)

    networks = {n.name: n for n in engine.networks()}
    assert (networks[used.name].id, networks[used.name].containers) == (used.id, 1)
    assert (networks[used.name].driver, networks[used.name].scope, networks[used.name].builtin) == (
        "bridge",
        "local",
        False,
    )
    assert networks[unused.name].containers == 0
    assert networks["bridge"].builtin and networks["host"].builtin and networks["none"].builtin

    with pytest.raises(Conflict, match=r"^Containers are still connected to the network\.$"):
        engine.remove_network(used.id)
    assert engine.prune_networks(labels=docker_labels).removed == (unused.name,)
    c.remove(force=True)
    engine.remove_network(used.name)
    assert not {used.name, unused.name} & {n.name for n in engine.networks()}


def test_volumes_listing_removal_and_prune(
    engine: SocketEngine, docker_client: DockerClient, run_container, docker_prefix: str, docker_labels
) -> None:
    used = docker_client.volumes.create(f"{docker_prefix}used", labels=docker_labels)
    unused = docker_client.volumes.create(f"{docker_prefix}unused", labels=docker_labels)
    c = run_container(volumes={used.name: {"bind": "/data", "mode": "rw"}})

    volumes = {v.name: v for v in engine.volumes()}
    assert (volumes[used.name].containers, volumes[unused.name].containers) == (1, 0)
    assert volumes[used.name].driver == "local"
    assert volumes[used.name].mountpoint == used.attrs["Mountpoint"]
    assert recent(volumes[used.name].created)

    with pytest.raises(Conflict, match=r"^The volume is still used by a container\.$"):
        engine.remove_volume(used.name)
    assert engine.prune_volumes(labels=docker_labels).removed == (unused.name,)
    c.remove(force=True)
    engine.remove_volume(used.name)
    assert not {used.name, unused.name} & {v.name for v in engine.volumes()}


def test_images_listing_removal_and_prune(
    engine: SocketEngine, docker_client: DockerClient, run_container, docker_prefix: str, docker_labels, test_image
) -> None:
    run_container()  # uses the test image
    tag = f"{docker_prefix}img:1"

    def build(version: str) -> str:
        dockerfile = f"FROM {test_image}\nENV VERSION={version}\n".encode()
        return docker_client.images.build(fileobj=io.BytesIO(dockerfile), tag=tag, labels=docker_labels, rm=True)[0].id

    try:
        first = build("1")
        second = build("2")  # takes the tag: the first one is now dangling

        images = {i.id: i for i in engine.images()}
        testapp = next(i for i in images.values() if test_image in i.tags)
        assert testapp.containers >= 1 and testapp.size_bytes > 0 and testapp.created.tzinfo is not None
        assert (images[first].tags, images[second].tags) == ((), (tag,))

        pruned = engine.prune_images(labels=docker_labels)
        assert first in pruned.removed and second not in pruned.removed
        user = run_container(image=tag)
        with pytest.raises(Conflict, match=r"^Container [0-9a-f]{12} uses the image\.$"):
            engine.remove_image(second)
        user.remove(force=True)
        engine.remove_image(second)
        assert not {first, second} & {i.id for i in engine.images()}
    finally:
        for image in docker_client.images.list(all=True, filters={"label": f"org.dockenv.test={docker_prefix}"}):
            docker_client.images.remove(image.id, force=True)


# --- failures -----------------------------------------------------------------------------------------------


@pytest.fixture
def http_server() -> Iterator[Callable[[int, bytes], str]]:
    """``start(status, body)``: a plain HTTP server on a free 127.0.0.1 port answering every GET so."""
    servers: list[http.server.HTTPServer] = []

    def start(status: int, body: bytes) -> str:
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"tcp://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def silent_listener() -> Iterator[str]:
    """A 127.0.0.1 port whose kernel accepts connections that nobody ever answers (a hung daemon)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield f"tcp://127.0.0.1:{listener.getsockname()[1]}"


def fails_within(engine: DockerApiEngine, seconds: float) -> EngineError:
    started = time.monotonic()
    with pytest.raises(EngineError) as caught:
        engine.info()
    assert time.monotonic() - started < seconds
    return caught.value


def test_missing_socket_is_unreachable(tmp_path) -> None:
    url = f"unix://{tmp_path}/docker.sock"
    error = fails_within(SocketEngine(ConnectionSpec(url)), 1.0)
    assert isinstance(error, HostUnreachable)
    assert str(error) == f"Nothing answers at {url} (no such socket file)."


def test_closed_port_is_unreachable() -> None:
    url = f"tcp://127.0.0.1:{free_port()}"
    error = fails_within(SocketEngine(ConnectionSpec(url)), 1.0)
    assert isinstance(error, HostUnreachable)
    assert str(error) == f"Nothing answers at {url} (connection refused)."


@pytest.mark.parametrize(("status", "body"), [(404, b"<h1>Not Found</h1>"), (200, b"<html>hello</html>")])
def test_other_http_servers_are_not_docker(http_server, status: int, body: bytes) -> None:
    url = http_server(status, body)
    error = fails_within(SocketEngine(ConnectionSpec(url)), 1.0)
    assert isinstance(error, NotDockerApi)
    assert str(error).startswith(f"Something answers at {url}, but ")
    assert error.permanent


def test_silent_host_times_out(silent_listener: str) -> None:
    error = fails_within(SocketEngine(ConnectionSpec(silent_listener, timeout=0.5)), 2.0)
    assert isinstance(error, EngineTimeout)
    assert str(error) == f"{silent_listener} accepted the connection but did not answer within 0.5 s."


@pytest.mark.parametrize("url", ["unix://relative/docker.sock", "http://127.0.0.1:2375", "tcp://:2375", "tcp://h:x"])
def test_unusable_addresses_are_refused_at_once(url: str) -> None:
    with pytest.raises(EngineError, match="is not a"):
        SocketEngine(ConnectionSpec(url))


def test_default_address_is_the_docker_socket() -> None:
    assert SocketEngine(ConnectionSpec("")).url == "unix:///var/run/docker.sock"
    assert SocketEngine(ConnectionSpec("tcp://proxy")).url == "tcp://proxy:2375"


def test_spec_repr_hides_the_material() -> None:
    spec = ConnectionSpec("tcp://h:2376", ca_pem="CA-PEM", cert_pem="CERT-PEM", key_pem="KEY-PEM")
    assert not {"CA-PEM", "CERT-PEM", "KEY-PEM"} & set(re.findall(r"[A-Z]+-PEM", repr(spec)))


def test_a_closed_engine_refuses_work(docker_client: DockerClient) -> None:
    engine = SocketEngine(ConnectionSpec(docker_host()))
    engine.info()
    engine.close()
    with pytest.raises(EngineError, match="closed"):
        engine.containers()


def test_engine_is_usable_from_several_threads(engine: SocketEngine, run_container) -> None:
    ids = {run_container().id for _ in range(3)}
    results: list[set[str]] = []
    threads = [threading.Thread(target=lambda: results.append({s.id for s in engine.containers()})) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(results) == 4 and all(ids <= found for found in results)


def test_podman_style_socket_paths_are_accepted(tmp_path) -> None:
    path = tmp_path / "run" / "user" / str(os.getuid()) / "podman" / "podman.sock"
    assert SocketEngine(ConnectionSpec(f"unix://{path}")).url == f"unix://{path}"
