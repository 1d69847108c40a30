"""The agent: its memory and CPU at rest and at work, and the round trip of a container action through it.

A whole DockMon runs as `make run` runs it (`tests.live.LiveDockMon`: scripts/run on a free port, i.e. web,
worker, beat and the events listener), with a fresh SQLite database in a directory of its own inside the run's
data dir and the run's Redis prefix, so that this process reaches the agent the way any DockMon process does
(`AgentEngine`: presence key, channel layer, reply list). An admin signs in over HTTP and adds two hosts, as a
person would: an *agent* host, whose registration token starts `python -m dockmon_agent` as a subprocess, and
a *socket* host for the same local daemon. Both hosts see the same containers, so what differs between them
is the agent's hop.

1. Memory (VmRSS, and VmHWM for the peak, from /proc/<pid>/status) and CPU time (utime + stime from
   /proc/<pid>/stat) of the agent process: at rest once connected with the daemon's existing containers;
   sampled every 20 ms while 100 idle bench containers are created and started (the agent forwards their
   events and answers the server's inspects) and while DockMon lists them all through it; at rest again.
   The connections DockMon closes are counted (the agent logs each), with DockMon's ERROR lines in the JSON.
2. The round trip of pause and unpause (see README for why these), for containers one after another: the
   app's own endpoint `POST /containers/<pk>/<action>/` on the agent host and on the socket host, and the
   engines alone from this process (`AgentEngine.act` and `SocketEngine.act`, and a read: `container()`).
Bench containers (label org.dockmon.bench=1) are removed at the end, also after Ctrl-C or an error; the agent
and DockMon are stopped; the data dir and the Redis keys go with the run (bench/run.py).
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import docker
import redis
import requests
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings

from apps.agents.engine import AgentEngine
from bench.inventory import _client, create_bench_containers, docker_url, remove_bench_containers
from dockmon_agent.engine.base import Action, EngineError
from dockmon_agent.engine.docker_api import ConnectionSpec, SocketEngine
from tests.dockerenv.image import ensure_test_image
from tests.live import ROOT, LiveDockMon

CONTAINERS = 100
ADMIN = "bench-admin"
AGENT_HOST, SOCKET_HOST = "bench-agent", "bench-socket"
SAMPLE_SECONDS = 0.02  # memory sampling during the bursts
REST_SAMPLE_SECONDS = 0.1
SETTLE_SECONDS = 0.25  # after each action: both hosts apply its event before the next one starts
ONLINE_TIMEOUT = 60
SYNC_TIMEOUT = 120
HTMX = {"HX-Request": "true", "HX-Target": "container-table"}
DROPPED = "The connection to DockMon ended with code"  # what the agent logs when DockMon closes the connection
READY_TIMEOUT = 75  # the agent waits up to 60 s before it connects again
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
ROW = re.compile(r'<tr id="ctr-(\d+)" class="state-(\w+)".*?<a href="/containers/\d+/">([^<]+)</a>', re.S)


# --- the agent process, seen from /proc -------------------------------------------------------------------


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS, VmHWM, RssAnon, RssFile (kB) and Threads of a process."""
    wanted = {"VmRSS", "VmHWM", "RssAnon", "RssFile", "Threads"}
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in wanted:
            found[name] = int(value.split()[0])
    return found


def proc_cpu(pid: int) -> float:
    """User + system CPU seconds of a process, all its threads."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) ": state is fields[0], utime fields[11]
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def mib(kb: float) -> float:
    return round(kb / 1024, 1)


class MemorySampler:
    """VmRSS of a process every `every` seconds, in a thread, while the `with` block runs."""

    def __init__(self, pid: int, every: float) -> None:
        self.pid, self.every = pid, every
        self.samples: list[int] = []  # kB
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-rss", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(OSError, KeyError):
                self.samples.append(proc_status(self.pid)["VmRSS"])
            self._stop.wait(self.every)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(5)


@dataclass
class Phase:
    """What the agent process looked like over one part of the run."""

    name: str
    seconds: float
    cpu: float
    rss: list[int]
    status: dict[str, int] = field(default_factory=dict)  # at its end
    drops: int = 0  # connections that ended (DockMon closed them) during the phase

    def summary(self) -> dict:
        return {
            "phase": self.name,
            "seconds": round(self.seconds, 2),
            "cpu_s": round(self.cpu, 3),
            "rss_median_mib": mib(statistics.median(self.rss)) if self.rss else None,
            "rss_max_mib": mib(max(self.rss)) if self.rss else None,
            "rss_samples": len(self.rss),
            "vm_hwm_mib": mib(self.status.get("VmHWM", 0)),
            "rss_anon_mib": mib(self.status.get("RssAnon", 0)),
            "rss_file_mib": mib(self.status.get("RssFile", 0)),
            "threads": self.status.get("Threads"),
            "connections_dropped": self.drops,
        }


def observe(agent: AgentProcess, name: str, work, every: float) -> tuple[Phase, object]:
    """Run `work()` while sampling the agent's memory; its CPU time over the work, the connections it lost."""
    cpu, drops, start = proc_cpu(agent.pid), agent.drops(), time.perf_counter()
    with MemorySampler(agent.pid, every) as sampler:
        result = work()
    seconds = time.perf_counter() - start
    phase = Phase(name, seconds, proc_cpu(agent.pid) - cpu, sampler.samples, proc_status(agent.pid),
                  agent.drops() - drops)  # fmt: skip
    return phase, result


# --- DockMon over HTTP, as the pages use it ---------------------------------------------------------------


class Web:
    """A signed-in browser without a browser: a requests session on the live DockMon (loopback only)."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.http = requests.Session()
        self.http.trust_env = False  # never through a proxy

    def get(self, path: str, headers: dict | None = None) -> requests.Response:
        response = self.http.get(self.base + path, headers=headers or {}, timeout=30)
        response.raise_for_status()
        return response

    def post(self, path: str, data: dict, headers: dict | None = None, **kwargs) -> requests.Response:
        token = self.http.cookies.get("csrftoken", "")
        return self.http.post(self.base + path, data={"csrfmiddlewaretoken": token, **data}, headers=headers or {},
                              timeout=60, **kwargs)  # fmt: skip

    def sign_in(self, user: str, password: str) -> None:
        self.get("/accounts/login/")  # the CSRF cookie
        answer = self.post("/accounts/login/", {"login": user, "password": password})
        if answer.status_code != 200 or "/accounts/login/" in answer.url:
            raise RuntimeError(f"could not sign in to the live DockMon ({answer.status_code} at {answer.url})")

    def add_agent_host(self, name: str) -> tuple[int, str]:
        page = self.post("/hosts/add/", {"name": name, "kind": "agent", "tags_text": ""}).text
        token, pk = re.search(r"DOCKMON_TOKEN=([\w-]+)", page), re.search(r'href="/hosts/(\d+)/"', page)
        if not token or not pk:
            raise RuntimeError("adding the agent host did not show a registration token")
        return int(pk.group(1)), token.group(1)

    def add_socket_host(self, name: str, url: str) -> int:
        answer = self.post("/hosts/add/", {"name": name, "kind": "socket", "url": url, "tags_text": ""})
        added = re.search(r"/hosts/(\d+)/$", answer.url)
        if not added:
            raise RuntimeError(f"adding the socket host {url} failed: {_page_error(answer.text)}")
        return int(added.group(1))

    def host_status(self, pk: int) -> str:
        found = re.search(r'data-status="(\w+)"', self.get(f"/hosts/{pk}/").text)
        return found.group(1) if found else ""

    def rows(self, host_pk: int, q: str = "") -> dict[str, tuple[int, str]]:
        """name → (container pk, state) of the host's rows in the containers table (what sorting fetches)."""
        table = self.get(f"/containers/?host={host_pk}&q={q}", headers=HTMX).text
        return {name: (int(pk), state) for pk, state, name in ROW.findall(table)}


def _page_error(html: str) -> str:
    found = re.search(r'class="[^"]*error[^"]*"[^>]*>([^<]{3,300})', html)
    return found.group(1).strip() if found else "no error shown"


def wait_for(check, timeout: float, what: str, step: float = 0.25):
    deadline = time.monotonic() + timeout
    while not (result := check()):
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(step)
    return result


# --- the agent as a subprocess --------------------------------------------------------------------------


class AgentProcess:
    def __init__(self, server: str, token: str, data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self.log = data_dir / "agent.log"
        command = [sys.executable, "-m", "dockmon_agent", "--server", server, "--data-dir", str(data_dir),
                   "--name", AGENT_HOST]  # fmt: skip
        # The token through the environment, as the README recommends; the agent's own small environment.
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "DOCKER_HOST": docker_url(), "DOCKMON_TOKEN": token}
        with self.log.open("ab") as out:
            # Its own session: a Ctrl-C reaches the bench only, which stops the agent in order.
            self.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env,
                                            start_new_session=True)  # fmt: skip
        self.pid = self.process.pid

    def alive(self) -> None:
        if self.process.poll() is not None:
            raise RuntimeError(f"the agent exited with {self.process.returncode}:\n{self.tail()}")

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def drops(self) -> int:
        """How many of its connections have ended so far (its log says so for each)."""
        return self.log.read_text(errors="replace").count(DROPPED)

    def stop(self) -> int | None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def idle_process_memory(code: str, measure: Callable[[int], dict], env: dict[str, str] | None = None) -> dict:
    """`measure(pid)` of a Python process that ran `code` (which prints a line when ready) and then idles."""
    process = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, env=env)  # fmt: skip
    try:
        process.stdout.readline()
        return measure(process.pid)
    finally:
        process.stdin.close()
        process.stdout.close()
        process.wait(10)


def bare_interpreter_rss() -> dict[str, int]:
    """Reference: a Python process that imported what the agent imports, and nothing else."""
    code = ("import sys, dockmon_agent.client, dockmon_agent.engine.docker_api, dockmon_agent.config; "
            "print('ready', flush=True); sys.stdin.read()")  # fmt: skip
    return idle_process_memory(code, proc_status, env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")})


# --- round trips ------------------------------------------------------------------------------------------


class TimedAgentEngine(AgentEngine):
    """AgentEngine noting its last call's two halves: sending (presence lookup, channel layer) and waiting."""

    sent = waited = 0.0

    def _send(self, name, args):
        start = time.perf_counter()
        try:
            return super()._send(name, args)
        finally:
            self.sent = time.perf_counter() - start

    def _next(self, reply_key, timeout):
        start = time.perf_counter()
        try:
            return super()._next(reply_key, timeout)
        finally:
            self.waited = time.perf_counter() - start


AGENT_ERRORS = (EngineError, redis.RedisError)


def agent_ready(engine: AgentEngine) -> None:
    """Until a call through the agent is answered (after DockMon dropped its connection, it reconnects)."""
    deadline = time.monotonic() + READY_TIMEOUT
    while True:
        try:
            engine.info()
            return
        except AGENT_ERRORS:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def with_retries(call, failures: list[dict], what: str, before_retry=None):
    """`call()`, tried again (twice at most) when it fails; every failure is kept for the report."""
    for attempt in range(3):
        try:
            return call()
        except (RuntimeError, *AGENT_ERRORS) as error:
            failures.append({"what": what, "error": f"{type(error).__name__}: {error}"[:300]})
            if attempt == 2:
                raise
            if before_retry is not None:
                before_retry()


@dataclass
class Target:
    name: str
    docker_id: str
    agent_pk: int
    socket_pk: int


class RoundTrips:
    """Pause and unpause one container along each path, timing each; and a read along the two engines.

    `engine.socket_fresh` opens a new SocketEngine for each action, as the view does for a socket host (its
    first call asks the daemon's /version); the agent's engine on the other side lives as long as the agent."""

    PATHS = ("http.agent", "http.socket", "engine.agent", "engine.socket", "engine.socket_fresh")

    def __init__(self, web: Web, client: docker.DockerClient, agent_engine: TimedAgentEngine,
                 socket_engine: SocketEngine, failures: list[dict]) -> None:  # fmt: skip
        self.web, self.client, self.agent_engine, self.socket_engine = web, client, agent_engine, socket_engine
        self.failures = failures
        self.samples: dict[str, list[float]] = {key: [] for key in self.PATHS}
        self.by_action: dict[str, list[float]] = {}
        self.sent: list[float] = []
        self.waited: list[float] = []
        self.reads: dict[str, list[float]] = {"agent": [], "socket": []}

    def _http(self, pk: int, action: Action) -> float:
        start = time.perf_counter()
        answer = self.web.post(f"/containers/{pk}/{action.value}/", {"from": "row"}, headers={"HX-Request": "true"})
        elapsed = time.perf_counter() - start
        expected = "paused" if action is Action.PAUSE else "running"
        if answer.status_code != 200 or f'data-state="{expected}"' not in answer.text:
            raise RuntimeError(f"POST /containers/{pk}/{action.value}/ answered {answer.status_code}: "
                               f"{answer.text[:300]!r}")  # fmt: skip
        return elapsed

    @staticmethod
    def _engine(engine, docker_id: str, action: Action) -> float:
        start = time.perf_counter()
        engine.act(docker_id, action)
        return time.perf_counter() - start

    @staticmethod
    def _fresh(docker_id: str, action: Action) -> float:
        start = time.perf_counter()
        with SocketEngine(ConnectionSpec(docker_url())) as engine:
            engine.act(docker_id, action)
        return time.perf_counter() - start

    def one(self, path: str, target: Target, action: Action) -> float:
        match path:
            case "http.agent":
                return self._http(target.agent_pk, action)
            case "http.socket":
                return self._http(target.socket_pk, action)
            case "engine.agent":
                return self._engine(self.agent_engine, target.docker_id, action)
            case "engine.socket":
                return self._engine(self.socket_engine, target.docker_id, action)
            case _:
                return self._fresh(target.docker_id, action)

    def _restore(self, target: Target, action: Action) -> None:
        """After a failed attempt: the agent connected again, the container as it was before the action."""
        agent_ready(self.agent_engine)
        paused = self.client.api.inspect_container(target.docker_id)["State"]["Paused"]
        if action is Action.PAUSE and paused:
            self.client.api.unpause(target.docker_id)
        elif action is Action.UNPAUSE and not paused:
            self.client.api.pause(target.docker_id)
        time.sleep(SETTLE_SECONDS)

    def container(self, target: Target, order: list[str], keep: bool) -> None:
        for path in order:
            for action in (Action.PAUSE, Action.UNPAUSE):
                seconds = with_retries(lambda: self.one(path, target, action), self.failures,  # noqa: B023
                                       f"{path} {action.value}", lambda: self._restore(target, action))  # noqa: B023  # fmt: skip
                if keep:
                    self.samples[path].append(seconds)
                    self.by_action.setdefault(f"{path}.{action.value}", []).append(seconds)
                    if path == "engine.agent":
                        self.sent.append(self.agent_engine.sent)
                        self.waited.append(self.agent_engine.waited)
                time.sleep(SETTLE_SECONDS)
        for kind, engine in (("agent", self.agent_engine), ("socket", self.socket_engine)) * 2:
            seconds = with_retries(lambda: _timed(engine.container, target.docker_id), self.failures,  # noqa: B023
                                   f"{kind} container()", lambda: agent_ready(self.agent_engine))  # fmt: skip
            if keep:
                self.reads[kind].append(seconds)


def _timed(call, *args) -> float:
    start = time.perf_counter()
    call(*args)
    return time.perf_counter() - start


def channel_layer_sends(count: int) -> list[float]:
    """What AgentEngine._send costs in a thread without an event loop: async_to_sync(channel_layer.send)
    (to a channel nobody reads; its key expires, and goes with the run's prefix)."""
    layer = get_channel_layer()
    seconds = []
    for _ in range(count):
        start = time.perf_counter()
        async_to_sync(layer.send)("specific.bench-probe!nobody", {"type": "bench.probe"})
        seconds.append(time.perf_counter() - start)
    return seconds


def list_both(agent_engine: AgentEngine, socket_engine: SocketEngine, runs: int, failures: list[dict]) -> dict:
    """The full inventory (list, then inspect each) through the agent and straight from the socket."""
    result: dict[str, list] = {"agent": [], "socket": [], "listed": []}

    def timed(engine) -> tuple[float, int]:
        start = time.perf_counter()
        listed = len(engine.containers())
        return time.perf_counter() - start, listed

    for _ in range(runs):
        for kind, engine in (("socket", socket_engine), ("agent", agent_engine)):
            seconds, listed = with_retries(lambda: timed(engine), failures, f"{kind} containers()",  # noqa: B023
                                           lambda: agent_ready(agent_engine))  # fmt: skip
            result[kind].append(seconds)
            if kind == "agent":
                result["listed"].append(listed)
    return result


# --- the run ----------------------------------------------------------------------------------------------


def _clear_prefix(prefix: str) -> None:
    """The benches before this one are done: the live DockMon starts on an empty Redis prefix."""
    client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=5)
    with contextlib.closing(client):
        keys = list(client.scan_iter(f"{prefix}:*", count=1000))
        if keys:
            client.delete(*keys)


def _live(data_dir: Path, password: str) -> LiveDockMon:
    """DockMon as `make run` starts it: SQLite in `data_dir`, this run's Redis prefix, the first admin."""
    return LiveDockMon(data_dir, None, settings.REDIS_URL, redis_prefix=settings.REDIS_PREFIX,
                       extra_env={"DOCKMON_ADMIN_USER": ADMIN, "DOCKMON_ADMIN_PASSWORD": password})  # fmt: skip


def _show_logs(live: LiveDockMon | None, agent: AgentProcess | None) -> None:
    """The data dir goes with the run: show the end of DockMon's and the agent's logs before it does."""
    if live is not None and live.log_path.exists():
        print(f"bench: the live DockMon's log ends with:\n{live.log_tail(40)}", file=sys.stderr)
    if agent is not None and agent.log.exists():
        print(f"bench: the agent's log ends with:\n{agent.tail(15)}", file=sys.stderr)


def _errors_logged(live: LiveDockMon, agent: AgentProcess) -> dict[str, list[str]]:
    """For the JSON: the agent's warnings (lost connections), and DockMon's ERROR lines (not the tracebacks)."""
    server = [line for line in live.log_path.read_text(errors="replace").splitlines() if " ERROR " in line]
    own = [line for line in agent.log.read_text(errors="replace").splitlines() if "WARNING" in line]
    return {"dockmon": server[:50], "agent": own[:50]}


def _rest(agent: AgentProcess, name: str, seconds: float) -> Phase:
    phase, _ = observe(agent, name, lambda: time.sleep(seconds), REST_SAMPLE_SECONDS)
    return phase


def _synced(web: Web, host_pk: int, count: int) -> bool:
    rows = web.rows(host_pk, "dm-bench-")
    return sum(1 for _, state in rows.values() if state == "running") >= count


def _burst(client: docker.DockerClient, image: str, web: Web, hosts: dict[str, int]) -> dict:
    """Create and start the bench containers; note when each host's table shows them all running."""
    start = time.perf_counter()
    names = create_bench_containers(client, CONTAINERS, image)
    created = time.perf_counter() - start
    seen: dict[str, float] = {}
    deadline = time.monotonic() + SYNC_TIMEOUT
    while len(seen) < len(hosts):
        for kind, pk in hosts.items():
            if kind not in seen and _synced(web, pk, CONTAINERS):
                seen[kind] = time.perf_counter() - start
        if time.monotonic() > deadline:
            raise RuntimeError(f"the hosts did not show {CONTAINERS} bench containers running in time: {seen}")
        time.sleep(0.25)
    return {"names": names, "created": created, "seen": seen}


def _measure_round_trips(rounds: RoundTrips, targets: list[Target]) -> None:
    warm_up, counted = targets[0], targets[1:]
    rounds.container(warm_up, list(RoundTrips.PATHS), keep=False)  # first request, engine and loop set-up
    for i, target in enumerate(counted):
        turn = i % len(RoundTrips.PATHS)
        order = list(RoundTrips.PATHS[turn:] + RoundTrips.PATHS[:turn])  # nobody always goes first
        rounds.container(target, order, keep=True)


def run(*, quick: bool = False) -> list[dict]:
    samples, list_runs, rest_seconds = (5, 3, 6.0) if quick else (10, 5, 10.0)
    data_dir = Path(os.environ["DOCKMON_DATA_DIR"]) / "agent-live"
    password = f"Bench-{secrets.token_urlsafe(12)}-9"
    client = _client()
    live = agent = None
    agent_engine = socket_engine = None
    phases: list[Phase] = []
    failures: list[dict] = []
    try:
        image = ensure_test_image(client)
        if leftovers := remove_bench_containers(client):
            print(f"bench: removed {leftovers} bench containers left by an earlier run")
        reference = bare_interpreter_rss()
        _clear_prefix(settings.REDIS_PREFIX)
        print("bench: agent: starting DockMon (scripts/run) ...", flush=True)
        started = time.perf_counter()
        live = _live(data_dir, password)
        live.start()  # stopped in `finally` also when it never became healthy
        web = Web(live.url)
        web.sign_in(ADMIN, password)
        agent_pk, token = web.add_agent_host(AGENT_HOST)
        socket_pk = web.add_socket_host(SOCKET_HOST, docker_url())
        print(f"bench: agent: DockMon up in {time.perf_counter() - started:.1f} s at {live.url}; starting the agent",
              flush=True)  # fmt: skip

        agent = AgentProcess(live.url, token, data_dir / "agent")
        start = time.perf_counter()
        existing = len(client.api.containers(all=True))

        def connected() -> bool:
            agent.alive()
            return web.host_status(agent_pk) == "online"

        wait_for(connected, ONLINE_TIMEOUT, "the agent host online")
        online = time.perf_counter() - start
        # Its first sync done: the table shows what the daemon has (other processes' containers come and go:
        # after a while, go on anyway).
        with contextlib.suppress(RuntimeError):
            wait_for(lambda: len(web.rows(agent_pk)) >= len(client.api.containers(all=True)), 20, "the first sync")
        wait_for(lambda: web.host_status(socket_pk) == "online", ONLINE_TIMEOUT, "the socket host online")
        phases.append(Phase("start", time.perf_counter() - start, proc_cpu(agent.pid), [], proc_status(agent.pid),
                            agent.drops()))  # fmt: skip

        print(f"bench: agent: online in {online:.1f} s; at rest {rest_seconds:g} s ...", flush=True)
        phases.append(_rest(agent, "rest", rest_seconds))

        print(f"bench: agent: creating {CONTAINERS} containers ...", flush=True)
        hosts = {"agent": agent_pk, "socket": socket_pk}
        burst_phase, burst = observe(agent, "burst", lambda: _burst(client, image, web, hosts), SAMPLE_SECONDS)
        phases.append(burst_phase)
        agent.alive()

        agent_engine = TimedAgentEngine(agent_pk, AGENT_HOST)
        socket_engine = SocketEngine(ConnectionSpec(docker_url()))
        print(f"bench: agent: {list_runs} full listings through the agent and the socket ...", flush=True)
        agent_ready(agent_engine)
        list_phase, listing = observe(agent, "list", lambda: list_both(agent_engine, socket_engine, list_runs,
                                                                       failures), SAMPLE_SECONDS)  # fmt: skip
        phases.append(list_phase)

        print(f"bench: agent: at rest {rest_seconds:g} s ...", flush=True)
        phases.append(_rest(agent, "rest_full", rest_seconds))

        print(f"bench: agent: pause/unpause round trips, {samples} containers ...", flush=True)
        rows = {"agent": web.rows(agent_pk, "dm-bench-"), "socket": web.rows(socket_pk, "dm-bench-")}
        running = client.api.containers(filters={"label": "org.dockmon.bench=1"})
        ids = {c["Names"][0].lstrip("/"): c["Id"] for c in running}
        targets = [Target(name, ids[name], rows["agent"][name][0], rows["socket"][name][0])
                   for name in burst["names"][: samples + 1]]  # fmt: skip
        rounds = RoundTrips(web, client, agent_engine, socket_engine, failures)
        agent_ready(agent_engine)
        actions_phase, _ = observe(agent, "actions", lambda: _measure_round_trips(rounds, targets),
                                   REST_SAMPLE_SECONDS)  # fmt: skip
        phases.append(actions_phase)
        agent.alive()
        found = {
            "existing": existing,
            "online": online,
            "total_cpu": proc_cpu(agent.pid),
            "final": proc_status(agent.pid),
            "drops": agent.drops(),
            "failures": failures,
            "sends": channel_layer_sends(2 * samples),
        }
        found["logged"] = _errors_logged(live, agent)
        if found["drops"]:
            print(f"bench: DockMon closed the agent's connection {found['drops']} times; its errors are in the JSON "
                  "(agent.drops)", file=sys.stderr)  # fmt: skip
        return _results(reference, phases, burst, listing, rounds, found)
    except Exception:
        _show_logs(live, agent)
        raise
    finally:
        for engine in (agent_engine, socket_engine):
            if engine is not None:
                engine.close()
        if agent is not None:
            code = agent.stop()
            if code not in (0, None):
                print(f"bench: the agent exited with {code}:\n{agent.tail()}", file=sys.stderr)
        if live is not None:
            live.stop()
        print("bench: removing the bench containers ...", flush=True)
        removed = remove_bench_containers(client)
        print(f"bench: removed {removed} containers", flush=True)
        client.close()


def _results(reference, phases, burst, listing, rounds, found) -> list[dict]:
    by = {p.name: p for p in phases}
    start, rest, rest_full = by["start"], by["rest"], by["rest_full"]
    burst_p, list_p, actions = by["burst"], by["list"], by["actions"]
    through_agent = len(rounds.samples["http.agent"]) + len(rounds.samples["engine.agent"]) + 4  # 4 warm-up
    listed = max(listing["listed"]) if listing["listed"] else 0
    rested = rest.seconds + rest_full.seconds
    lag = {kind: round(seconds - burst["created"], 1) for kind, seconds in burst["seen"].items()}
    final = found["final"]
    rest_drops = rest.drops + rest_full.drops

    def value(key: str, label: str, number: float, unit: str, **extra) -> dict:
        return {"key": key, "label": label, "value": number, "unit": unit, **extra}

    memory = [
        {"section": "Agent process (python -m dockmon_agent): memory (VmRSS) and CPU time (user + system)"},
        value("agent.rss.reference", "reference: python with the agent's modules imported, idle",
              mib(reference["VmRSS"]), "MiB", status=reference),
        value("agent.rss.rest", f"at rest, connected ({found['existing']} containers on the daemon)",
              mib(statistics.median(rest.rss)), "MiB", phase=rest.summary()),
        value("agent.rss.burst", f"  peak sampled while {CONTAINERS} containers are created (every 20 ms)",
              mib(max(burst_p.rss)), "MiB", phase=burst_p.summary()),
        value("agent.rss.list", f"  peak sampled while DockMon lists {listed} containers through it",
              mib(max(list_p.rss)), "MiB", phase=list_p.summary()),
        value("agent.rss.rest_full", f"at rest again, {listed} containers on the daemon",
              mib(statistics.median(rest_full.rss)), "MiB", phase=rest_full.summary()),
        value("agent.rss.end", "after the round trips", mib(final["VmRSS"]), "MiB", phase=actions.summary()),
        value("agent.rss.hwm", "VmHWM (the process's peak RSS) at the end", mib(final["VmHWM"]), "MiB",
              status=final),
        value("agent.cpu.start", f"CPU: start, register, first sync (online after {found['online']:.1f} s)",
              round(start.cpu * 1000), "ms", phase=start.summary()),
        value("agent.cpu.rest", f"CPU: at rest, {rested:.0f} s (one heartbeat per 30 s; "
              f"{rest_drops} reconnections)", round((rest.cpu + rest_full.cpu) * 1000), "ms"),
        value("agent.cpu.burst", f"CPU: {CONTAINERS} containers created ({burst_p.seconds:.0f} s): events, inspects",
              round(burst_p.cpu * 1000), "ms"),
        value("agent.cpu.list", f"CPU: {len(listing['agent'])} full listings of {listed} containers",
              round(list_p.cpu * 1000), "ms"),
        value("agent.cpu.actions", f"CPU: the round trips ({through_agent} actions through it, all the events)",
              round(actions.cpu * 1000), "ms"),
        value("agent.cpu.total", "CPU: the whole run", round(found["total_cpu"] * 1000), "ms"),
        value("agent.drops", "connections DockMon closed (the agent reconnected)", found["drops"], "",
              by_phase={p.name: p.drops for p in phases}, logged=found["logged"]),
        value("agent.failures", "failed attempts (retried once the agent was back)", len(found["failures"]), "",
              failures=found["failures"]),
        value("agent.create", f"  (setup: create+start {CONTAINERS}, 8 threads)", round(burst["created"], 1), "s"),
        value("agent.seen.socket", "  (then all running in the socket host's table after)", lag["socket"], "s"),
        value("agent.seen.agent", "  (then all running in the agent host's table after)", lag["agent"], "s"),
    ]  # fmt: skip
    n = len(rounds.samples["http.socket"]) // 2
    trips = [
        {"section": f"Round trip of pause / unpause, {n} containers one by one (both hosts = the local daemon)"},
        {"key": "agent.http.socket", "label": "reference: POST /containers/<pk>/pause|unpause/, socket host",
         "samples": rounds.samples["http.socket"], "by_action": _by_action(rounds, "http.socket")},
        {"key": "agent.http.agent", "label": "POST /containers/<pk>/pause|unpause/, agent host",
         "samples": rounds.samples["http.agent"], "reference": "agent.http.socket",
         "by_action": _by_action(rounds, "http.agent")},
        {"key": "agent.engine.socket", "label": "reference: SocketEngine.act(), one engine (Docker alone)",
         "samples": rounds.samples["engine.socket"], "by_action": _by_action(rounds, "engine.socket")},
        {"key": "agent.engine.socket_fresh", "label": "SocketEngine.act(), a new engine each (as the view)",
         "samples": rounds.samples["engine.socket_fresh"], "reference": "agent.engine.socket",
         "by_action": _by_action(rounds, "engine.socket_fresh")},
        {"key": "agent.engine.agent", "label": "AgentEngine.act() from this process",
         "samples": rounds.samples["engine.agent"], "reference": "agent.engine.socket",
         "by_action": _by_action(rounds, "engine.agent")},
        {"key": "agent.engine.agent.send", "label": "  of which sending (presence lookup, channel layer send)",
         "samples": rounds.sent},
        {"key": "agent.engine.agent.wait", "label": "  of which waiting for the reply (BLPOP)",
         "samples": rounds.waited},
        {"key": "agent.channel_send", "label": "  channel layer send alone (async_to_sync, no loop running)",
         "samples": found["sends"]},
        {"key": "agent.read.socket", "label": "reference: SocketEngine.container() (inspect + list)",
         "samples": rounds.reads["socket"]},
        {"key": "agent.read.agent", "label": "AgentEngine.container()",
         "samples": rounds.reads["agent"], "reference": "agent.read.socket"},
        {"section": f"Full inventory, {listed} containers (list, then inspect each)"},
        {"key": "agent.list.socket", "label": "reference: SocketEngine.containers()", "samples": listing["socket"]},
        {"key": "agent.list.agent", "label": "AgentEngine.containers() (what a sync of the agent host asks)",
         "samples": listing["agent"], "reference": "agent.list.socket", "listed": listing["listed"]},
    ]  # fmt: skip
    return memory + trips


def _by_action(rounds: RoundTrips, path: str) -> dict[str, list[float]]:
    return {action: rounds.by_action.get(f"{path}.{action}", []) for action in ("pause", "unpause")}
