"""The fleet the metrics benches sweep: idle bench containers on the local daemon and on a second, mutual-TLS
dockerd, registered as DockMon hosts; and the processes the benches start, seen from /proc.

The TLS daemon is the tests' own (`tests.dockerenv.tlsd.TlsDaemon`, certificates from
`tests.dockerenv.certs.generate_tls_certs`, the test image copied in with `load_image`). Containers are made
with the inventory bench's helper (label `org.dockmon.bench=1`, names `dm-bench-<n>`, 32 MB limit), on both
daemons at once; `teardown()` removes them by that label and then removes the TLS daemon with everything it
holds, also after an error or Ctrl-C.
"""

from __future__ import annotations

import contextlib
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import docker

from apps.containers.inventory import sync_host
from apps.containers.models import Container
from apps.hosts.engines import engine_for
from apps.hosts.models import Host
from apps.hosts.services import host_record_contact
from bench.agent import proc_status
from bench.inventory import _client, create_bench_containers, docker_url, remove_bench_containers
from tests.dockerenv.certs import TlsCerts, generate_tls_certs
from tests.dockerenv.image import ensure_test_image
from tests.dockerenv.tlsd import TlsDaemon

LOCAL_HOST, TLS_HOST = "metrics-local", "metrics-tls"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Fleet:
    """The two daemons, their bench containers, and one DockMon host for each."""

    local: docker.DockerClient = field(default_factory=_client)
    tls_daemon: TlsDaemon | None = None
    tls: docker.DockerClient | None = None
    certs: TlsCerts | None = None
    image: str = ""
    names: dict[str, list[str]] = field(default_factory=dict)  # "local" / "tls" -> container names
    hosts: dict[str, Host] = field(default_factory=dict)

    def start(self, *, with_tls: bool) -> None:
        self.image = ensure_test_image(self.local)
        if leftovers := remove_bench_containers(self.local):
            print(f"bench: removed {leftovers} bench containers left by an earlier run")
        if with_tls:
            started = time.perf_counter()
            self.certs = generate_tls_certs()
            self.tls_daemon = TlsDaemon(self.certs)
            self.tls_daemon.start()  # torn down in teardown(), also when start fails half-way
            self.tls_daemon.load_image(self.local, self.image)
            self.tls = self.tls_daemon.client(timeout=120)
            print(f"bench: metrics: TLS daemon up at {self.tls_daemon.base_url} with the test image in "
                  f"{time.perf_counter() - started:.1f} s", flush=True)  # fmt: skip

    def create(self, local: int, tls: int) -> float:
        """Create and start `local` containers here and `tls` on the TLS daemon, both daemons at once."""
        start = time.perf_counter()
        jobs = {"local": (self.local, local), "tls": (self.tls, tls)}
        with ThreadPoolExecutor(2) as pool:
            futures = {kind: pool.submit(create_bench_containers, client, count, self.image)
                       for kind, (client, count) in jobs.items() if count}  # fmt: skip
            for kind, future in futures.items():
                self.names[kind] = future.result()
        return time.perf_counter() - start

    def add_host(self, kind: str, keep: int | None = None) -> Host:
        """The daemon as a DockMon host, synced, online, its rows limited to bench containers (the first `keep`
        of them when given): other processes' containers on the same daemon would make the counts drift."""
        name = LOCAL_HOST if kind == "local" else TLS_HOST
        host = self.hosts.get(kind)
        if host is None:
            Host.objects.filter(name=name).delete()
            if kind == "local":
                host = Host.objects.create(name=name, kind=Host.Kind.SOCKET, url=docker_url())
            else:
                host = Host.objects.create(name=name, kind=Host.Kind.TLS, url=self.tls_daemon.base_url,
                                           tls_ca=self.certs.ca.cert, tls_cert=self.certs.client.cert,
                                           tls_key=self.certs.client.key)  # fmt: skip
            self.hosts[kind] = host
        with engine_for(host) as engine:
            sync_host(host, engine)
            facts = engine.info()
        host_record_contact(host, facts)  # online, with its facts (CPUs and memory for the host's figures)
        wanted = set(self.names[kind][:keep] if keep is not None else self.names[kind])
        Container.objects.filter(host=host).exclude(name__in=wanted).delete()
        running = Container.objects.filter(host=host, state=Container.State.RUNNING).count()
        if running != len(wanted):
            raise RuntimeError(f"{name}: {running} running bench containers in the database, expected {len(wanted)}")
        return host

    def cli_options(self, kind: str) -> list[str]:
        """What the `docker` CLI needs to talk to that daemon."""
        if kind == "local":
            return ["--host", docker_url()]
        files = self.tls_daemon.files
        return ["--host", self.tls_daemon.base_url, "--tlsverify", f"--tlscacert={files.ca}",
                f"--tlscert={files.client.cert}", f"--tlskey={files.client.key}"]  # fmt: skip

    def teardown(self) -> None:
        started = time.perf_counter()
        print("bench: metrics: removing the bench containers ...", flush=True)
        clients = [c for c in (self.local, self.tls) if c is not None]
        with ThreadPoolExecutor(len(clients)) as pool:  # both daemons at once
            removed = sum(pool.map(_remove_quietly, clients))
        for client in clients:
            client.close()
        if self.tls_daemon is not None:
            self.tls_daemon.teardown()
        what = " and the TLS daemon" if self.tls_daemon is not None else ""
        print(
            f"bench: metrics: removed {removed} containers{what} in {time.perf_counter() - started:.1f} s", flush=True
        )


def _remove_quietly(client: docker.DockerClient) -> int:
    try:
        return remove_bench_containers(client)
    except (docker.errors.DockerException, OSError) as error:
        print(f"bench: metrics: could not remove bench containers: {error}")
        return 0


# --- processes, seen from /proc ---------------------------------------------------------------------------


def children_of(pid: int) -> list[int]:
    """Every descendant of a process (scanning /proc: the kernel's children lists may be absent)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            stat = (entry / "stat").read_text()
            ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
            parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of live processes (all threads; a process gone meanwhile counts 0)."""
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError):
            stat = Path(f"/proc/{pid}/stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            total += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return total


def memory(pid: int) -> dict[str, int]:
    """kB: VmRSS and VmHWM (/proc/<pid>/status), and Pss and USS (private pages) from smaps_rollup: RSS counts
    the pages a forked worker shares with its parent once in each, PSS splits them between the sharers."""
    found = {}
    with contextlib.suppress(OSError, KeyError):
        status = proc_status(pid)
        found = {"rss": status["VmRSS"], "hwm": status["VmHWM"]}
        rollup = {}
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
            name, _, value = line.partition(":")
            rollup[name] = int(value.split()[0])
        found["pss"] = rollup["Pss"]
        found["uss"] = rollup["Private_Clean"] + rollup["Private_Dirty"]
    return found
