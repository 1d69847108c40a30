"""Engine.stats and Engine.host_stats of the Docker API engines, against the real daemons (the local socket and the
mutual-TLS one), and against a daemon that hangs."""

from __future__ import annotations

import http.server
import json
import os
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from docker.client import DockerClient

from apps.hosts.models import Host
from dockmon_agent.engine import docker_api
from dockmon_agent.engine.base import EngineTimeout, HostUnreachable, NotSupported
from dockmon_agent.engine.docker_api import STATS_TIMEOUT_RANGE, ConnectionSpec, SocketEngine, TlsEngine
from dockmon_agent.hoststats import FIRST_WINDOW_SECONDS, this_machine
from dockmon_agent.stats import StatsSample, metrics_from
from tests.dockerenv.image import READY_MARK
from tests.dockerenv.plugin import docker_host, wait_for_log
from tests.hosts import test_engine_socket as socket_tests

# The socket tests' fixture, shared (pytest finds fixtures among a module's attributes).
silent_listener = socket_tests.silent_listener


@pytest.fixture
def engine(docker_client: DockerClient) -> Iterator[SocketEngine]:
    with SocketEngine(ConnectionSpec(docker_host())) as engine:
        engine.info()  # connected (API version agreed) before anything is timed
        yield engine


def recent(sample: StatsSample) -> bool:
    return abs(datetime.now(UTC) - sample.read_at) < timedelta(seconds=30)


def timed(call: Callable[[], object]) -> tuple[object, float]:
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


# --- the local daemon -----------------------------------------------------------------------------------------


def assert_read_together(samples: list[StatsSample], took: float, within: float | None = None) -> None:
    """Each request waits for the daemon's 1-second collector tick: one after the other, N containers would take
    N s, and their readings would be a tick apart each. Read together, they share one tick (two at worst, when
    the requests straddle one), whatever the machine's load."""
    spread = max(s.read_at for s in samples) - min(s.read_at for s in samples)
    assert spread < timedelta(seconds=1.5), f"readings {spread} apart: not taken at once"
    within = within if within is not None else len(samples) - 1
    assert took < within, f"{len(samples)} containers took {took:.1f} s: not read concurrently"


def test_several_containers_are_read_concurrently_in_about_one_tick(
    engine: SocketEngine, run_container, docker_client: DockerClient
) -> None:
    busy = run_container("cpu", "1", name="busy", nano_cpus=500_000_000)  # at most half a core
    holder = run_container("mem", "20", name="holder", mem_limit="64m")
    idle = [run_container(name=f"idle{n}") for n in range(4)]
    wait_for_log(holder, READY_MARK)
    ids = [busy.id, holder.id, *(c.id for c in idle)]

    first, took = timed(lambda: engine.stats([*ids, busy.id]))  # a repeated id is read once
    assert [s.container_id for s in first] == ids
    assert_read_together(first, took)
    assert all(recent(s) for s in first)
    cpus = docker_client.info()["NCPU"]
    assert all(s.online_cpus == cpus and s.system_total_ns for s in first)  # dockerd 20.10 says both
    assert all(s.pids >= 1 and s.memory_usage_bytes > 0 and s.memory_limit_bytes > 0 for s in first)
    assert {s.container_id: s.memory_limit_bytes for s in first}[holder.id] == 64 * 2**20

    second, took = timed(lambda: engine.stats(ids))
    assert_read_together(second, took)
    before = {s.container_id: s for s in first}
    figures = {s.container_id: metrics_from(s, before[s.container_id]) for s in second}
    cpu = figures[busy.id].cpu_percent
    # The quota caps it at half a core; on a busy machine it may get less. The idle ones use next to nothing.
    assert 0 < cpu <= 60, figures[busy.id]
    assert all(figures[c.id].cpu_percent < min(cpu, 10) for c in idle), figures
    # The daemon's system CPU time advances by wall time × online CPUs: the wall clock gives the same figure.
    then, [after] = before[busy.id], [s for s in second if s.container_id == busy.id]
    by_wall = (after.cpu_total_ns - then.cpu_total_ns) / ((after.read_at - then.read_at).total_seconds() * 1e9) * 100
    assert cpu == pytest.approx(by_wall, rel=0.25, abs=3)
    # A tick after the first reading the 20 MB are held (they fill in after the ready mark).
    held = figures[holder.id]
    assert 20 * 2**20 <= held.memory_bytes < 40 * 2**20
    assert held.memory_percent == pytest.approx(held.memory_bytes / (64 * 2**20) * 100)


def test_no_containers_no_requests(engine: SocketEngine) -> None:
    assert engine.stats([]) == []


def test_a_container_without_network_has_no_traffic(engine: SocketEngine, run_container) -> None:
    isolated = run_container(name="isolated", network_mode="none")
    [sample] = engine.stats([isolated.id])
    assert sample.container_id == isolated.id
    assert (sample.net_rx_bytes, sample.net_tx_bytes) == (0, 0)
    assert sample.memory_usage_bytes > 0


def test_stopped_removed_and_unknown_containers_are_left_out(engine: SocketEngine, run_container) -> None:
    running = run_container(name="running")
    stopped = run_container("exit", "0", "0", name="stopped")
    stopped.wait(timeout=10)
    removed = run_container(name="removed")
    removed.remove(force=True)
    samples = engine.stats([stopped.id, removed.id, running.id, "0" * 64, "no-such-container"])
    assert [s.container_id for s in samples] == [running.id]


def test_a_missing_socket_is_an_engine_error(tmp_path: Path) -> None:
    url = f"unix://{tmp_path}/docker.sock"
    with SocketEngine(ConnectionSpec(url)) as engine:
        started = time.monotonic()
        with pytest.raises(HostUnreachable, match="no such socket file"):
            engine.stats(["0" * 64])
        assert time.monotonic() - started < 2.0


def test_host_stats_over_the_unix_socket_are_this_machines(engine: SocketEngine) -> None:
    this_machine.cache_clear()  # a reader of our own: its first reading waits FIRST_WINDOW
    try:
        first, took_first = timed(engine.host_stats)
        second = engine.host_stats()  # since the first reading
    finally:
        this_machine.cache_clear()
    mem_total = int(re.search(r"^MemTotal:\s+(\d+) kB", Path("/proc/meminfo").read_text(), re.M).group(1)) * 1024
    assert took_first >= FIRST_WINDOW_SECONDS  # a new reader measures CPU over its first window
    for stats in (first, second):
        assert stats.cpu_count == os.cpu_count()
        assert stats.memory_total_bytes == mem_total
        root = next(d for d in stats.disks if d.mount == "/")
        assert root.total_bytes == shutil.disk_usage("/").total
        assert 0 < root.used_percent < 100
    assert first.cpu_percent is not None and 0 <= first.cpu_percent <= 100


# --- the TLS daemon -------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_stats_over_tls_and_no_host_stats(tls_host: Host, tls_run_container) -> None:
    containers = [tls_run_container(name=f"remote{n}") for n in range(3)]
    with TlsEngine.for_host(tls_host) as engine:
        samples, took = timed(lambda: engine.stats([c.id for c in containers]))
        with pytest.raises(NotSupported, match="run the DockMon agent on that machine"):
            engine.host_stats()
    assert [s.container_id for s in samples] == [c.id for c in containers]
    assert_read_together(samples, took, within=len(samples))  # the first call also connects and shakes hands
    assert all(recent(s) and s.memory_usage_bytes > 0 and s.net_rx_bytes >= 0 for s in samples)


def test_a_plain_tcp_daemon_has_no_host_stats_without_asking_it(silent_listener: str) -> None:
    with SocketEngine(ConnectionSpec(silent_listener)) as engine:
        started = time.monotonic()
        with pytest.raises(NotSupported, match="Docker API, which does not tell"):
            engine.host_stats()
        assert time.monotonic() - started < 0.5


# --- a daemon that hangs --------------------------------------------------------------------------------------


def test_a_silent_daemon_fails_the_call_instead_of_hanging(silent_listener: str) -> None:
    with SocketEngine(ConnectionSpec(silent_listener, timeout=0.5)) as engine:
        started = time.monotonic()
        with pytest.raises(EngineTimeout):
            engine.stats(["a" * 64, "b" * 64])
        assert time.monotonic() - started < 2.0


class HangingDaemon:
    """A Docker API on 127.0.0.1 that answers /version but never answers a stats request."""

    def __init__(self) -> None:
        self.stats_requests = 0
        self.release = threading.Event()
        lock = threading.Lock()
        daemon = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                if self.path.startswith("/version"):
                    body = json.dumps({"ApiVersion": "1.41", "MinAPIVersion": "1.12", "Version": "20.10.24"})
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Api-Version", "1.41")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body.encode())
                    return
                with lock:
                    daemon.stats_requests += 1
                daemon.release.wait(30)  # hung: no answer until the test ends

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"tcp://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hanging_daemon() -> Iterator[HangingDaemon]:
    daemon = HangingDaemon()
    yield daemon
    daemon.close()


def test_a_daemon_that_hangs_on_stats_fails_the_sweep_at_the_stats_timeout(hanging_daemon: HangingDaemon) -> None:
    low, _ = STATS_TIMEOUT_RANGE
    # A host timeout below the range: the stats requests still get the range's minimum (a tick may take 2 s).
    with SocketEngine(ConnectionSpec(hanging_daemon.url, timeout=0.5)) as engine:
        started = time.monotonic()
        with pytest.raises(EngineTimeout, match=rf"{re.escape(hanging_daemon.url)}.* within 3 s"):
            engine.stats([f"{n:064x}" for n in range(6)])
        took = time.monotonic() - started
    # All six waited at once: one timeout, not six.
    assert low - 0.2 <= took < low + 1.5, took
    assert hanging_daemon.stats_requests == 6


def test_a_long_host_timeout_is_capped_for_stats(
    hanging_daemon: HangingDaemon, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The real cap is 10 s; a smaller range keeps the test short while exercising the same clamp.
    monkeypatch.setattr(docker_api, "STATS_TIMEOUT_RANGE", (0.5, 1.0))
    with SocketEngine(ConnectionSpec(hanging_daemon.url, timeout=60)) as engine:
        started = time.monotonic()
        with pytest.raises(EngineTimeout):
            engine.stats(["c" * 64, "d" * 64])
        took = time.monotonic() - started
    assert 0.8 <= took < 2.5, took
