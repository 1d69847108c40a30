"""Inventory sync and event latency against the local Docker daemon, with the `docker` CLI as reference.

1. N idle `dockenv/testapp:1` containers (label org.dockmon.bench=1, names dm-bench-<n>, 32 MB limit) are
   created and started concurrently.
2. `sync_host` (a fresh engine each time, as the listener and the poller open one) is timed for a host
   seen for the first time (every row created) and for a steady-state resync (nothing changed), runs
   interleaved with the reference: `docker ps -a --no-trunc --format '{{json .}}'` followed by one
   `docker inspect` of every listed id, i.e. the CLI reading what DockMon reads.
3. Event latency: the events listener runs in-process (a `HostWatcher` thread, exactly what
   `manage.py watch_docker_events` runs per host); for containers one after another, `docker stop <name>`
   runs as a subprocess and the clock runs from just before the subprocess starts until the container's
   row reads "exited" (the database is polled every 5 ms). The CLI's own run time is the reference.
Every bench container is removed at the end, also after Ctrl-C or an error.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import threading
import time
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait

import docker
import redis
from django.conf import settings
from django.db import close_old_connections

from apps.containers import inventory as app_inventory
from apps.containers import listener
from apps.containers.inventory import sync_host
from apps.containers.models import Container
from apps.hosts.engines import engine_for
from apps.hosts.models import Host
from tests.dockerenv.image import ensure_test_image

LABEL = "org.dockmon.bench"
NAME_PREFIX = "dm-bench-"
# A compose project label, so the sync's label-tag path (compose:<project>) does real work too.
LABELS = {LABEL: "1", "com.docker.compose.project": "dm-bench"}
MEM_LIMIT = "32m"
WORKERS = 8  # the daemon is the bottleneck: more threads do not create faster on 2 cores
EVENT_TARGET_MS = 1000
POLL_SECONDS = 0.005
EVENT_TIMEOUT = 10.0


def docker_url() -> str:
    url = os.environ.get("DOCKER_HOST", "")
    return url if url.startswith("unix://") else "unix:///var/run/docker.sock"


def _client() -> docker.DockerClient:
    return docker.DockerClient(base_url=docker_url(), version="auto", timeout=120, max_pool_size=WORKERS + 2)


def _bench_ids(client: docker.DockerClient) -> list[str]:
    return [c["Id"] for c in client.api.containers(all=True, filters={"label": f"{LABEL}=1"})]


def remove_bench_containers(client: docker.DockerClient) -> int:
    ids = _bench_ids(client)

    def remove(container_id: str) -> None:
        with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
            client.api.remove_container(container_id, force=True)

    with ThreadPoolExecutor(WORKERS) as pool:
        list(pool.map(remove, ids))
    return len(ids)


def create_bench_containers(client: docker.DockerClient, count: int, image: str) -> list[str]:
    """Create and start `count` idle containers concurrently; returns their names."""
    stop = threading.Event()
    host_config = client.api.create_host_config(mem_limit=MEM_LIMIT)

    def create(n: int) -> str:
        if stop.is_set():
            return ""
        name = f"{NAME_PREFIX}{n}"
        created = client.api.create_container(image, name=name, labels=LABELS, host_config=host_config)
        client.api.start(created["Id"])
        return name

    pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="bench-create")
    futures = [pool.submit(create, n) for n in range(count)]
    try:
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        for future in done:
            future.result()  # the first error, if any
        return [f.result() for f in futures]
    finally:
        stop.set()  # on Ctrl-C or an error: start nothing new, let the running calls finish
        pool.shutdown(wait=True, cancel_futures=True)


def cli_reference() -> tuple[float, int]:
    """`docker ps -a` then `docker inspect` of everything listed: seconds, containers listed."""
    start = time.perf_counter()
    listed = subprocess.run(
        ["docker", "ps", "-a", "--no-trunc", "--format", "{{json .}}"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    ids = [json.loads(line)["ID"] for line in listed.splitlines() if line.strip()]
    # Not check=True: a container another process removes in between makes inspect exit 1.
    subprocess.run(["docker", "inspect", *ids], capture_output=True)
    return time.perf_counter() - start, len(ids)


class PushTimer:
    """Adds up the time spent in the live pushes (`push_rows`) the inventory code makes, by wrapping the name
    in apps.containers.inventory; when that name is gone (the code changed), nothing is measured."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.available = hasattr(app_inventory, "push_rows")

    def __enter__(self) -> PushTimer:
        if self.available:
            original = self._original = app_inventory.push_rows

            def timed(*args, **kwargs):
                start = time.perf_counter()
                try:
                    return original(*args, **kwargs)
                finally:
                    self.seconds += time.perf_counter() - start

            app_inventory.push_rows = timed
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.available:
            app_inventory.push_rows = self._original


def timed_sync(host: Host):
    """Seconds for one full sync with a fresh engine, the SyncResult, and the seconds of live pushes in it."""
    with PushTimer() as pushes:
        start = time.perf_counter()
        with engine_for(host) as engine:
            result = sync_host(host, engine)
        seconds = time.perf_counter() - start
    return seconds, result, pushes.seconds if pushes.available else None


def timed_list(host: Host) -> tuple[float, int]:
    start = time.perf_counter()
    with engine_for(host) as engine:
        count = len(engine.containers())
    return time.perf_counter() - start, count


def _new_host(name: str) -> Host:
    Host.objects.filter(name=name).delete()
    return Host.objects.create(name=name, kind=Host.Kind.SOCKET, url=docker_url())


def bench_sync(runs: int, count: int) -> list[dict]:
    steady = _new_host("bench-local")
    timed_sync(steady)  # the first sync; what follows is steady state
    samples: dict[str, list[float]] = {"first": [], "first_push": [], "steady": [], "list": [], "cli": []}
    counts: dict[str, list] = {"first_created": [], "steady_changed": [], "listed": [], "cli_listed": []}
    for i in range(runs):
        # Interleaved, so load from elsewhere on the machine hits all four alike.
        seconds, listed = cli_reference()
        samples["cli"].append(seconds)
        counts["cli_listed"].append(listed)
        fresh = _new_host(f"bench-fresh-{i}")
        seconds, result, pushing = timed_sync(fresh)
        samples["first"].append(seconds)
        if pushing is not None:
            samples["first_push"].append(pushing)
        counts["first_created"].append(len(result.created))
        fresh.delete()
        seconds, result, _ = timed_sync(steady)
        samples["steady"].append(seconds)
        # Not always 0: other processes' containers on the same daemon come and go.
        counts["steady_changed"].append(len(result.created) + len(result.updated) + len(result.removed))
        seconds, listed = timed_list(steady)
        samples["list"].append(seconds)
        counts["listed"].append(listed)
    listed = max(counts["listed"])
    cli = "sync.cli"
    return [
        {"section": f"Inventory sync, local daemon ({count} bench containers, {listed} listed in all)"},
        {"key": cli, "label": "reference: docker ps -a + docker inspect <all> (CLI)", "samples": samples["cli"],
         "listed": counts["cli_listed"]},
        {"key": "sync.first", "label": "sync_host, first sync of a new host (creates rows)",
         "samples": samples["first"], "reference": cli, "created": counts["first_created"]},
        {"key": "sync.first_push", "label": "  of which live pushes of the new rows (push_rows)",
         "samples": samples["first_push"]},
        {"key": "sync.steady", "label": "sync_host, steady-state resync (nothing changed)",
         "samples": samples["steady"], "reference": cli, "changed": counts["steady_changed"]},
        {"key": "sync.list", "label": "  Docker part alone: engine.containers() (list + inspect each)",
         "samples": samples["list"], "reference": cli, "listed": counts["listed"]},
    ]  # fmt: skip


class EventTrace:
    """Notes when the listener takes up each event and when it is done with it, by wrapping the function the
    listener hands events to: `apply_events` (a batch at a time) or, in older code, `apply_event` (one)."""

    def __init__(self) -> None:
        self.events: list[dict] = []
        self.calls: list[tuple[int, float]] = []  # events per call, seconds
        self.name = next((n for n in ("apply_events", "apply_event") if hasattr(listener, n)), None)
        self._original = getattr(listener, self.name) if self.name else None

    def __enter__(self) -> EventTrace:
        if self.name is None:
            return self  # unknown listener internals: no breakdown, the latency is still measured
        original, batched = self._original, self.name == "apply_events"

        def traced(host, engine, events, *args, **kwargs):
            taken_up = time.perf_counter()
            entries = [{"action": e.action, "id": e.container_id, "received": taken_up}
                       for e in (events if batched else [events])]  # fmt: skip
            self.events.extend(entries)
            try:
                return original(host, engine, events, *args, **kwargs)
            finally:
                done = time.perf_counter()
                self.calls.append((len(entries), done - taken_up))
                for entry in entries:
                    entry["applied"] = done

        setattr(listener, self.name, traced)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.name:
            setattr(listener, self.name, self._original)

    def find(self, action: str, container_id: str, after: float) -> dict | None:
        """The first event (of this action, or any) about the container taken up after `after`."""
        return next((e for e in list(self.events) if action in (None, e["action"]) and e["id"] == container_id
                     and e["received"] >= after and "applied" in e), None)  # fmt: skip

    def others(self, container_ids: set[str], start: float, end: float) -> int:
        """Events about other containers that the listener took up between start and end."""
        return sum(1 for e in list(self.events) if e["id"] not in container_ids and start <= e["received"] <= end)


class _Waiter(threading.Thread):
    """Notes the moment a subprocess ends, while the main thread polls the database."""

    def __init__(self, process: subprocess.Popen) -> None:
        super().__init__(daemon=True)
        self.process = process
        self.finished = 0.0
        self.start()

    def run(self) -> None:
        self.process.wait()
        self.finished = time.perf_counter()


def _wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.02)


def _stop_sample(host: Host, name: str, trace: EventTrace, ours: set[str]) -> dict:
    """`docker stop <name>` while polling its row: seconds from just before the CLI starts."""
    row = Container.objects.filter(host=host, name=name)
    _wait_for(lambda: row.filter(state=Container.State.RUNNING).exists(), 10, f"{name} to be running in the database")
    docker_id = row.values_list("docker_id", flat=True).get()
    start = time.perf_counter()
    process = subprocess.Popen(["docker", "stop", name], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    waiter = _Waiter(process)
    seen = None
    while time.perf_counter() - start < EVENT_TIMEOUT:
        if row.filter(state=Container.State.EXITED).exists():
            seen = time.perf_counter()
            break
        time.sleep(POLL_SECONDS)
    waiter.join(EVENT_TIMEOUT)
    error = process.stderr.read().decode().strip()
    process.stderr.close()
    if process.returncode != 0:
        raise RuntimeError(f"docker stop {name} failed: {error}")
    if trace.name:  # the stop event follows die: let it be applied before the next sample
        _wait_for(lambda: trace.find("stop", docker_id, start), 10, f"the stop event of {name}")
    else:
        time.sleep(0.3)
    first, die = trace.find(None, docker_id, start), trace.find("die", docker_id, start)
    return {
        "cli": waiter.finished - start,
        "latency": None if seen is None else seen - start,
        "first_received": first["received"] - start if first else None,
        "die_applied": die["applied"] - start if die else None,
        "foreign": trace.others(ours, start, seen or time.perf_counter()),
    }


def bench_events(docker_client: docker.DockerClient, names: list[str], warm_up: str | None) -> list[dict]:
    host = Host.objects.get(name="bench-local")
    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=10, socket_connect_timeout=5)
    ours = set(_bench_ids(docker_client))
    samples = []
    with EventTrace() as trace:
        watcher = listener.HostWatcher(host.pk, host.updated_at, client)
        watcher.start()
        try:
            # Online: stream open and first sync done. The watcher then pushes every row of the host (it just
            # came online) before it takes up events; one stop not counted makes sure that is over.
            _wait_for(lambda: Host.objects.filter(pk=host.pk, status=Host.Status.ONLINE).exists(), 60,
                      "the listener's first sync")  # fmt: skip
            if warm_up:
                _stop_sample(host, warm_up, trace, ours)
            calls_before = len(trace.calls)
            samples = [_stop_sample(host, name, trace, ours) for name in names]
        finally:
            watcher.stop()
            watcher.join(10)
            close_old_connections()

    def series(key: str) -> list[float]:
        return [s[key] for s in samples if s[key] is not None]

    unit = "batch of events" if trace.name == "apply_events" else "event"
    calls = trace.calls[calls_before:]
    return [
        {"section": f"Event latency: docker stop (CLI) -> row reads exited ({len(names)} containers, one by one)"},
        {"key": "events.cli", "label": "reference: docker stop <name> (CLI run time)", "samples": series("cli")},
        {"key": "events.latency", "label": "docker stop start -> DB row exited (poll 5 ms)",
         "samples": series("latency"), "reference": "events.cli", "target_ms": EVENT_TARGET_MS, "target_on": "max",
         "failures": sum(1 for s in samples if s["latency"] is None)},
        {"key": "events.first_received", "label": "  first event (kill) taken up by the listener",
         "samples": series("first_received")},
        {"key": "events.die_applied", "label": "  die event applied (inspect, write, audit, push)",
         "samples": series("die_applied")},
        {"key": "events.foreign", "label": "  meanwhile applied: events of other processes' containers",
         "value": sum(s["foreign"] for s in samples), "unit": "events"},
        {"key": "events.apply", "label": f"listener: {trace.name or '?'}(), per {unit} (any container)",
         "samples": [seconds for _, seconds in calls], "sizes": [size for size, _ in calls]},
    ]  # fmt: skip


def run(*, containers: int = 200, quick: bool = False) -> list[dict]:
    runs, event_samples = (3, 5) if quick else (5, 10)
    client = _client()
    results: list[dict] = []
    try:
        image = ensure_test_image(client)
        if leftovers := remove_bench_containers(client):
            print(f"bench: removed {leftovers} bench containers left by an earlier run")
        print(f"bench: inventory: creating {containers} containers ...", flush=True)
        start = time.perf_counter()
        names = create_bench_containers(client, containers, image)
        created = time.perf_counter() - start
        print(f"bench: inventory: created and started in {created:.1f} s; syncing ...", flush=True)
        results += bench_sync(runs, containers)
        results.append({"key": "setup.create", "label": f"  (setup: create+start {containers}, {WORKERS} threads)",
                        "value": round(created, 1), "unit": "s"})  # fmt: skip
        print("bench: inventory: event latency ...", flush=True)
        measured = names[:event_samples]
        warm_up = names[event_samples] if len(names) > event_samples else None
        results += bench_events(client, measured, warm_up)
        return results
    finally:
        print("bench: removing the bench containers ...", flush=True)
        start = time.perf_counter()
        removed = remove_bench_containers(client)
        print(f"bench: removed {removed} containers in {time.perf_counter() - start:.1f} s", flush=True)
        client.close()
