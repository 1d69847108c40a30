"""Live pushes after a sweep, and the memory of the whole app, both with real servers.

3. Fan-out: daphne runs as the Procfile's `web` line (a subprocess with this run's environment, so the same
   SQLite database, sessions and Redis prefix). WebSocket clients (bench/metrics_clients.py, a process of their
   own, so that receiving for 20 sockets does not compete with the sweep measured here) sign in with a session
   cookie and the browser's Origin header, and watch what the dashboard watches
   (`/ws/live/?watch=dashboard,hosts,containers`). This process sweeps the local host with
   `collector.sweep_host`, wrapped so that `push_sweep` is timed and its renders (`render_to_string`) and
   messages (`push_many`) counted. The sweep's end is when `push_sweep` is called (the figures are read, stored
   and accumulated; what remains is rendering and sending); a client has its update when the last of the
   sweep's messages for its groups arrived. Sweeps with 1 client and with 20 alternate: the server's work per
   sweep must not grow with clients (only daphne's forwarding does, which is measured from /proc).
5. Memory: DockMon as `make run` starts it (`tests.live.LiveDockMon`: scripts/run, i.e. web, worker with the
   default threads pool, beat and the events listener) with its own SQLite database in the run's data
   dir and the run's Redis prefix (emptied first). An admin adds both daemons through /hosts/add/ (a socket
   and a TLS host); once every bench container has figures in Redis, VmRSS (and PSS) of each process is sampled
   every second for a while. References: a Python process with Django set up with DockMon's settings, idle,
   with and without daphne's server imported; with --profile, the memory of a process import by import.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import signal
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import redis
from django.conf import settings
from django.test import Client

from apps.core.live import group_name
from apps.hosts.models import Host
from apps.metrics import collector, store
from apps.metrics import live as metrics_live
from bench.agent import Web, _clear_prefix, idle_process_memory, wait_for
from bench.inventory import docker_url
from bench.metrics_fleet import Fleet, children_of, cmdline, cpu_seconds, memory
from bench.metrics_sweep import WORKER_CONCURRENCY
from bench.pages import _admin
from tests.fixtures import session_cookie
from tests.live import ROOT, LiveDockMon, free_port

WATCH = "dashboard,hosts,containers"
GROUPS = [group_name(kind) for kind in WATCH.split(",")]
LATENCY_TARGET_MS = 1000
DELIVERY_TIMEOUT = 10.0
MEMORY_TARGET_MIB = 200
START_TIMEOUT = 30


# --- 3. fan-out ---------------------------------------------------------------------------------------------


class Daphne:
    """The Procfile's web process alone, on a free loopback port, with this run's environment."""

    def __init__(self, log: Path) -> None:
        self.port = free_port()
        self.log = log
        command = [str(Path(sys.executable).with_name("daphne")), "--bind", "127.0.0.1", "--port", str(self.port),
                   "dockmon.asgi:application"]  # fmt: skip
        with log.open("ab") as out:
            self.process = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                            env={**os.environ, "PYTHONUNBUFFERED": "1"},
                                            start_new_session=True)  # fmt: skip
        self.pid = self.process.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"daphne exited with {self.process.returncode}:\n{self.tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/accounts/login/", timeout=2) as answer:  # noqa: S310 - http
                    if answer.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"daphne did not answer within {START_TIMEOUT} s:\n{self.tail()}")
            time.sleep(0.1)

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


class Clients:
    """The WebSocket clients, in a process of their own (bench/metrics_clients.py), so that receiving for many
    sockets does not compete with the sweep measured here."""

    def __init__(self, url: str, cookie: str, log: Path) -> None:
        self.open = 0
        self.closed: list[str] = []
        command = [sys.executable, "-m", "bench.metrics_clients", url]
        with log.open("ab") as errors:
            self.process = subprocess.Popen(command, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                            stderr=errors, text=True, env={**os.environ, "BENCH_COOKIE": cookie},
                                            start_new_session=True)  # fmt: skip

    def __len__(self) -> int:
        return self.open

    def _ask(self, **command) -> dict:
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the WebSocket clients' process exited ({self.process.poll()})")
        answer = json.loads(line)
        if "error" in answer:
            raise RuntimeError(f"the WebSocket clients: {answer['error']}")
        self.open, self.closed = answer["open"], answer["closed"]
        return answer

    def add(self, count: int) -> None:
        self._ask(op="add", count=count)

    def remove(self, count: int) -> None:
        self._ask(op="remove", count=count)

    def wait(self, since: float, count: int, timeout: float, settle: float) -> list[list[float]]:
        """Arrival times (CLOCK_MONOTONIC) since `since` of each socket, once each has `count` (or the timeout)."""
        return self._ask(op="wait", since=since, count=count, timeout=timeout, settle=settle)["received"]

    def close(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.process.stdin.write(json.dumps({"op": "quit"}) + "\n")
            self.process.stdin.close()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process.stdout.close()


def group_members() -> dict[str, int]:
    """Sockets in each watched group, as channels-redis keeps them (a sorted set per group)."""
    prefix = settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"]
    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5, socket_connect_timeout=5)
    with contextlib.closing(client):
        return {group: client.zcard(f"{prefix}:group:{group}") for group in GROUPS}


def _members_are(count: int) -> bool:
    return all(n == count for n in group_members().values())


@dataclass
class PushProbe:
    """Wraps `push_sweep` (timed), and counts its renders and the messages it hands to the channel layer."""

    calls: list[dict] = field(default_factory=list)

    def __enter__(self) -> PushProbe:
        self._originals = (metrics_live.push_sweep, metrics_live.render_to_string, metrics_live.push_many)
        push_sweep, render, push_many = self._originals
        current: dict = {}

        def timed_push_sweep(*args, **kwargs):
            current.clear()
            current.update(start=time.monotonic(), renders=0, messages=0, bytes=0, cpu=time.process_time())
            try:
                return push_sweep(*args, **kwargs)
            finally:
                current["end"] = time.monotonic()
                current["cpu"] = time.process_time() - current["cpu"]
                self.calls.append(dict(current))

        def counted_render(*args, **kwargs):
            current["renders"] = current.get("renders", 0) + 1
            return render(*args, **kwargs)

        def counted_push_many(messages):
            current["messages"] = current.get("messages", 0) + len(messages)
            current["bytes"] = current.get("bytes", 0) + sum(len(html) for _, html in messages)
            current["groups"] = [group for group, _ in messages]
            start = time.monotonic()
            try:
                return push_many(messages)
            finally:
                current["send"] = current.get("send", 0.0) + time.monotonic() - start

        metrics_live.push_sweep = timed_push_sweep
        metrics_live.render_to_string = counted_render
        metrics_live.push_many = counted_push_many
        return self

    def __exit__(self, *exc_info: object) -> None:
        metrics_live.push_sweep, metrics_live.render_to_string, metrics_live.push_many = self._originals


def _sweep_and_deliver(host: Host, clients: Clients, daphne: Daphne, expected: int) -> dict:
    """One sweep; then wait until every client has the sweep's messages for its groups."""
    cpu = cpu_seconds([daphne.pid])
    with PushProbe() as probe:
        result = collector.sweep_host(host)
    if result is None or result.containers != expected or not probe.calls:
        raise RuntimeError(f"the sweep of {host.name} read {result and result.containers} containers, "
                           f"not {expected}, or pushed nothing")  # fmt: skip
    push = probe.calls[-1]
    wanted = len([g for g in push.get("groups", []) if g in GROUPS])
    got = clients.wait(push["start"], wanted, DELIVERY_TIMEOUT, settle=0.2)
    return {
        "push": push["end"] - push["start"],
        "push_cpu": push["cpu"],
        "send": push.get("send", 0.0),
        "renders": push["renders"],
        "messages": push["messages"],
        "bytes": push["bytes"],
        "wanted": wanted,
        "latency": [g[wanted - 1] - push["start"] for g in got if len(g) >= wanted],
        "first": [g[0] - push["start"] for g in got if g],
        "after_push": [g[wanted - 1] - push["end"] for g in got if len(g) >= wanted],
        "missing": sum(1 for g in got if len(g) < wanted),
        "extra": sum(max(0, len(g) - wanted) for g in got),
        "daphne_cpu": cpu_seconds([daphne.pid]) - cpu,
    }


def bench_fanout(fleet: Fleet, client_counts: tuple[int, ...], sweeps: int) -> list[dict]:
    """Sweeps with few and with many clients in turn (the sockets beyond the fewest connect before the sweep and
    close after it), so that the machine's load at each moment weighs on both alike."""
    host = fleet.add_host("local")
    count = len(fleet.names["local"])
    browser = Client(HTTP_HOST="127.0.0.1")
    browser.force_login(_admin())
    cookie = session_cookie(browser).decode()
    daphne = Daphne(Path(os.environ["DOCKMON_DATA_DIR"]) / "metrics-daphne.log")
    clients = None
    runs: dict[int, list[dict]] = {n: [] for n in client_counts}
    daphne_cpu: dict[int, float] = dict.fromkeys(client_counts, 0.0)
    fewest = min(client_counts)

    def with_clients(wanted: int) -> None:
        if wanted > len(clients):
            clients.add(wanted - len(clients))
        elif wanted < len(clients):
            clients.remove(len(clients) - wanted)
        wait_for(lambda: _members_are(wanted), 10, f"{wanted} sockets in each group", step=0.02)

    try:
        daphne.wait_ready()
        clients = Clients(
            f"ws://127.0.0.1:{daphne.port}/ws/live/?watch={WATCH}",
            cookie,
            Path(os.environ["DOCKMON_DATA_DIR"]) / "metrics-clients.log",
        )
        store.forget(host.pk)
        collector.sweep_host(host)  # not counted: the first reading, and nobody watching yet
        for wanted in sorted(client_counts):  # not counted: the first push to the first sockets
            with_clients(wanted)
            _sweep_and_deliver(host, clients, daphne, count)
        for _ in range(sweeps):
            for wanted in sorted(client_counts):
                with_clients(wanted)
                cpu = cpu_seconds([daphne.pid])
                runs[wanted].append(_sweep_and_deliver(host, clients, daphne, count))
                daphne_cpu[wanted] += (cpu_seconds([daphne.pid]) - cpu) / sweeps
            with_clients(fewest)
            if clients.closed:
                raise RuntimeError(f"the server closed WebSockets: {clients.closed[:3]}")
    except Exception:
        print(f"bench: daphne's log ends with:\n{daphne.tail()}", file=sys.stderr)
        raise
    finally:
        if clients is not None:
            clients.close()
        daphne.stop()
    return _fanout_results(host, count, runs, daphne_cpu)


def _fanout_results(host: Host, count: int, runs: dict[int, list[dict]], daphne_cpu: dict[int, float]) -> list[dict]:
    fewest = min(runs)
    results: list[dict] = [{"section": f"Fan-out: a sweep of {host.name} ({count} containers) to WebSocket clients "
                            f"on daphne watching {WATCH}"}]  # fmt: skip
    renders = {n: sorted({r["renders"] for r in rs}) for n, rs in runs.items()}
    same = len({tuple(r) for r in renders.values()}) == 1
    for n, rs in runs.items():
        sweeps = len(rs)
        ref = f"metrics.fanout.{fewest}" if n != fewest else None
        latencies = [x for r in rs for x in r["latency"]]
        results += [
            {"key": f"metrics.fanout.{n}.latency", "label": f"{n} client(s): sweep's end -> client has its update "
             f"(all clients, {sweeps} sweeps)", "samples": latencies, "target_ms": LATENCY_TARGET_MS,
             "target_on": "max", "failures": sum(r["missing"] for r in rs),
             "reference": f"metrics.fanout.{fewest}.latency" if ref else None,
             "first_message": [x for r in rs for x in r["first"]],
             "after_push_returned": [x for r in rs for x in r["after_push"]],
             "extra_messages": sum(r["extra"] for r in rs)},
            {"key": f"metrics.fanout.{n}", "label": f"  server: push_sweep() per sweep ({rs[0]['messages']} messages,"
             f" {rs[0]['bytes'] // 1024} KiB)", "samples": [r["push"] for r in rs], "reference": ref,
             "cpu_samples": [r["push_cpu"] for r in rs]},
            {"key": f"metrics.fanout.{n}.send", "label": "    of which the channel-layer send (push_many)",
             "samples": [r["send"] for r in rs], "reference": f"metrics.fanout.{fewest}.send" if ref else None},
            {"key": f"metrics.fanout.{n}.renders", "label": f"  server: renders per sweep ({n} client(s))"
             + ("" if n == fewest else f": same as with {fewest}: {'OK' if same else 'MISSED'}"),
             "value": renders[n][0] if len(renders[n]) == 1 else renders[n], "unit": "",
             **({} if n == fewest else {"meets_target": same})},
            {"key": f"metrics.fanout.{n}.daphne_cpu", "label": f"  daphne CPU per sweep (forwarding to the sockets; "
             f"over the {sweeps} sweeps)", "value": round(daphne_cpu[n] * 1000), "unit": "ms",
             "per_sweep": [r["daphne_cpu"] for r in rs]},
        ]  # fmt: skip
    return results


# --- 5. memory of the whole app ----------------------------------------------------------------------------


def role_of(argv: list[str]) -> str | None:
    """web, worker, beat, events, or honcho (the supervisor scripts/run execs) from a process's command line."""
    programs = {Path(arg).name for arg in argv[:2]}
    if "honcho" in programs:
        return "honcho"  # and the process honcho forks per command to watch it
    if "daphne" in programs:
        return "web"
    if "celery" in programs:
        return "worker" if "worker" in argv else "beat" if "beat" in argv else None
    is_python = Path(argv[0]).name.startswith("python")
    return "events" if is_python and "watch_docker_events" in argv else None


def app_processes(root_pid: int) -> dict[int, tuple[str, str]]:
    """pid -> (role, command) of every process under scripts/run; a worker's pool processes are "pool"."""
    found = {}
    for pid in children_of(root_pid):
        argv = cmdline(pid).split(" ")
        if role := role_of(argv):
            found[pid] = (role, " ".join(argv))
    for pid, (role, command) in list(found.items()):
        if role == "worker" and found.get(parent_of(pid), ("",))[0] == "worker":
            found[pid] = ("pool", command)
    return found


def parent_of(pid: int) -> int:
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        return int(stat[stat.rindex(")") + 2 :].split()[1])
    return 0


REFERENCES = {
    "django": "import sys, django; django.setup(); print('ready', flush=True); sys.stdin.read()",
    # What the web process adds to that: daphne's server, Twisted and autobahn.
    "daphne": "import sys, django; django.setup(); import daphne.server; print('ready', flush=True); sys.stdin.read()",
}


IMPORT_STEPS = (
    ("python", "pass"),
    ("django's ORM", "import django.db.models"),
    ("cryptography (encrypted fields)", "import cryptography.fernet"),
    ("docker SDK, requests", "import docker"),
    ("redis", "import redis"),
    ("celery, kombu", "import celery, kombu"),
    ("channels, channels_redis", "import channels.layers, channels_redis.core"),
    ("twisted, autobahn, daphne (the daphne app)", "import daphne.server"),
    ("django.setup(): every app, admin, allauth, beat", "import django; django.setup()"),
    ("the tasks (what a worker imports)", "from dockmon.celery import app; app.loader.import_default_modules()"),
)
IMPORT_SCRIPT = """
import sys
def status():
    found = {}
    for line in open('/proc/self/status'):
        name, _, value = line.partition(':')
        if name in ('VmRSS', 'RssAnon', 'RssFile'):
            found[name] = int(value.split()[0]) / 1024
    return found
for label, code in STEPS:
    exec(code)
    now = status()
    print(f"{label:50s} {now['VmRSS']:7.1f} {now['RssAnon']:7.1f} {now['RssFile']:7.1f} {len(sys.modules):7d}")
"""


def import_profile() -> str:
    """Where a DockMon process's memory goes: VmRSS after each group of imports, in the order they add up."""
    script = f"STEPS = {IMPORT_STEPS!r}\n{IMPORT_SCRIPT}"
    answer = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    header = f"{'=== memory: after importing (cumulative) ===':50s} {'VmRSS':>7} {'anon':>7} {'file':>7} {'modules':>7}"
    return f"{header}\n{answer.stdout}{answer.stderr[-500:] if answer.returncode else ''}"


def _add_tls_host(web: Web, name: str, fleet: Fleet) -> int:
    certs = fleet.certs
    form = {"name": name, "kind": "tls", "url": fleet.tls_daemon.base_url, "tls_ca": certs.ca.cert,
            "tls_cert": certs.client.cert, "tls_key": certs.client.key, "description": "", "tags_text": ""}  # fmt: skip
    answer = web.post("/hosts/add/", form)
    added = re.search(r"/hosts/(\d+)/$", answer.url)
    if not added:
        raise RuntimeError(f"adding the TLS host failed ({answer.status_code} at {answer.url})")
    return int(added.group(1))


def _monitored(host_pk: int) -> tuple[int, float]:
    """Containers with figures in the host's latest sweep, and when that sweep was."""
    latest = store.latest(host_pk)
    return sum(1 for key in latest if key.startswith("c:")), latest.get("at", 0.0)


def bench_memory(fleet: Fleet, seconds: float, profile: bool = False) -> list[dict]:
    if profile:
        print(import_profile())
    expected = {kind: len(names) for kind, names in fleet.names.items()}
    references = {name: idle_process_memory(code, memory) for name, code in REFERENCES.items()}
    data_dir = Path(os.environ["DOCKMON_DATA_DIR"]) / "metrics-live"
    password = f"Bench-{secrets.token_urlsafe(12)}-9"
    _clear_prefix(settings.REDIS_PREFIX)  # the benches before are done; a fresh database and Redis
    live = LiveDockMon(data_dir, None, settings.REDIS_URL, redis_prefix=settings.REDIS_PREFIX,
                       extra_env={"DOCKMON_ADMIN_USER": "bench-admin", "DOCKMON_ADMIN_PASSWORD": password,
                                  "DOCKMON_WORKER_CONCURRENCY": str(WORKER_CONCURRENCY)})  # fmt: skip
    try:
        started = time.perf_counter()
        live.start()
        web = Web(live.url)
        web.sign_in("bench-admin", password)
        hosts = {"local": web.add_socket_host("bench-local", docker_url())}
        hosts["tls"] = _add_tls_host(web, "bench-tls", fleet)
        print(f"bench: metrics: DockMon up at {live.url} in {time.perf_counter() - started:.1f} s; waiting for "
              "every container's figures ...", flush=True)  # fmt: skip
        wait_for(lambda: all(_monitored(pk)[0] >= expected[kind] for kind, pk in hosts.items()), 120,
                 "figures of every bench container", step=0.5)  # fmt: skip
        samples: dict[int, list[dict]] = {}
        sweeps: dict[str, set[float]] = {kind: set() for kind in hosts}
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for pid in app_processes(live.process.pid):
                if figures := memory(pid):
                    samples.setdefault(pid, []).append(figures)
            for kind, pk in hosts.items():
                sweeps[kind].add(_monitored(pk)[1])
            time.sleep(1.0)
        processes = app_processes(live.process.pid)
        monitored = {kind: _monitored(pk)[0] for kind, pk in hosts.items()}
    except Exception:
        if live.log_path.exists():
            print(f"bench: the live DockMon's log ends with:\n{live.log_tail(40)}", file=sys.stderr)
        raise
    finally:
        live.stop()
    return _memory_results(references, samples, processes, monitored, {k: len(v) for k, v in sweeps.items()}, seconds)


def _memory_results(references: dict, samples: dict[int, list[dict]], processes: dict[int, tuple[str, str]],
                    monitored: dict[str, int], sweeps: dict[str, int], seconds: float) -> list[dict]:  # fmt: skip
    def mib(kb: float) -> float:
        return round(kb / 1024, 1)

    counted = ("web", "worker", "pool", "beat")
    names = {"web": "web (daphne)", "worker": "worker (celery, main process)", "pool": "worker's pool process",
             "beat": "beat", "events": "events listener", "honcho": "honcho (supervisor)"}  # fmt: skip
    rows, totals, others = [], {"rss": 0.0, "pss": 0, "peak": 0}, {"rss": 0.0, "pss": 0, "n": 0}
    order = list(names)
    for pid, (role, command) in sorted(processes.items(), key=lambda p: (order.index(p[1][0]), p[0])):
        series = [s for s in samples.get(pid, []) if s.get("rss")]
        if not series:
            continue
        rss, last = statistics.median(s["rss"] for s in series), series[-1]
        peak = max(s.get("hwm", 0) for s in series)
        if role not in counted:
            others["rss"] += rss
            others["pss"] += last.get("pss", 0)
            others["n"] += 1
            if role == "honcho":
                continue  # one line for honcho and the watchers it forks, below
        else:
            totals["rss"] += rss
            totals["pss"] += last.get("pss", 0)
            totals["peak"] += peak
        rows.append({"key": f"metrics.memory.{role}.{pid}", "label": f"{names[role]}, pid {pid}"
                     + ("" if role in counted else " (not counted)"), "value": mib(rss), "unit": "MiB",
                     "pss_mib": mib(last.get("pss", 0)), "uss_mib": mib(last.get("uss", 0)), "hwm_mib": mib(peak),
                     "command": command[:200]})  # fmt: skip
    honcho = [(pid, samples.get(pid, [{}])[-1]) for pid, (role, _) in processes.items() if role == "honcho"]
    if honcho:
        rows.append({"key": "metrics.memory.honcho", "label": f"honcho and its {len(honcho) - 1} watcher processes "
                     "(not counted)", "value": mib(sum(s.get("rss", 0) for _, s in honcho)), "unit": "MiB",
                     "pss_mib": mib(sum(s.get("pss", 0) for _, s in honcho))})  # fmt: skip
    total = mib(totals["rss"])
    ok = total <= MEMORY_TARGET_MIB
    section = (f"Memory: the whole app (scripts/run) monitoring {sum(monitored.values())} containers "
               f"({', '.join(f'{k} {v}' for k, v in monitored.items())}), VmRSS median of 1 s samples over "
               f"{seconds:.0f} s ({', '.join(f'{v} sweeps of {k}' for k, v in sweeps.items())})")  # fmt: skip
    django, served = references["django"], references["daphne"]
    return [
        {"section": section},
        {"key": "metrics.memory.reference", "label": "reference: python with Django set up (DockMon's apps), idle",
         "value": mib(django.get("rss", 0)), "unit": "MiB", "pss_mib": mib(django.get("pss", 0))},
        {"key": "metrics.memory.reference_daphne", "label": "  the same with daphne's server imported (Twisted)",
         "value": mib(served.get("rss", 0)), "unit": "MiB"},
        *rows,
        {"key": "metrics.memory.total", "label": f"web + worker (all processes) + beat, VmRSS added up (target <= "
         f"{MEMORY_TARGET_MIB} MiB: {'OK' if ok else 'MISSED'})", "value": total, "unit": "MiB", "meets_target": ok},
        {"key": "metrics.memory.total_pss", "label": "  the same as PSS (shared pages split between processes)",
         "value": mib(totals["pss"]), "unit": "MiB"},
        {"key": "metrics.memory.total_peak", "label": "  their peaks (VmHWM) added up", "value": mib(totals["peak"]),
         "unit": "MiB"},
    ]  # fmt: skip
