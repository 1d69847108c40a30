"""Sweep speed and scale: one host's sweep against `docker stats --no-stream`, and 500 containers on two daemons
swept every interval by one real Celery worker.

1. Sweep speed: `collector.sweep_host(host)` (stats of every running container, the figures, Redis, history
   and the live push) for a socket host with N idle containers, interleaved with the reference
   `docker stats --no-stream <the same N ids>` (the CLI reading the same figures once), and with the Docker
   part alone (`engine.stats(ids)`, the app's one-shot requests, 128 at a time). A first sweep is not counted
   (it has no previous reading, so no CPU % yet).
2. Scale: both daemons as hosts (socket and TLS). A real Celery worker runs as a subprocess: the Procfile's
   command with the app's default pool and concurrency (threads, 8 of them in one process), through
   `bench.metrics_worker`, which only times each sweep. This process plays beat: it sends `metrics.sweep`
   every interval (with the schedule's expiry), which fans out one `metrics.sweep_host` per online host.
   Reported: each host's sweep wall time and the whole round's (sent -> last host done) against the interval,
   the worker's CPU (every process of it, from /proc) per round and per sweep, and its memory.
"""

from __future__ import annotations

import contextlib
import cProfile
import io
import json
import os
import pstats
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import redis
from django.conf import settings

from apps.containers.models import Container
from apps.hosts.engines import engine_for
from apps.hosts.models import Host
from apps.metrics import collector, store
from apps.metrics.models import MetricsSettings
from apps.metrics.tasks import sweep as sweep_task
from bench.metrics_fleet import Fleet, children_of, cmdline, cpu_seconds, memory
from bench.metrics_worker import ready_key, sweeps_key
from dockmon_agent.engine import docker_api
from tests.live import ROOT

RATIO_TARGET = 0.5
WORKER_START_TIMEOUT = 60
DOCKER_PROCESSES = {"dockerd", "containerd", "containerd-shim", "containerd-shim-runc-v2"}
WORKER_CONCURRENCY = 8  # the app's default (DOCKMON_WORKER_CONCURRENCY), a threads pool like the Procfile


# --- 1. sweep speed -----------------------------------------------------------------------------------------


def docker_stats_cli(ids: list[str], daemon: list[str] | None = None) -> float:
    """`docker [daemon options] stats --no-stream` of these containers: seconds (the CLI's start-up included)."""
    start = time.perf_counter()
    answer = subprocess.run(["docker", *(daemon or []), "stats", "--no-stream", "--format", "{{json .}}", *ids],
                            capture_output=True, text=True)  # fmt: skip
    seconds = time.perf_counter() - start
    lines = [line for line in answer.stdout.splitlines() if line.strip()]
    if answer.returncode != 0 or len(lines) != len(ids):
        raise RuntimeError(f"docker stats --no-stream listed {len(lines)} of {len(ids)} containers "
                           f"(exit {answer.returncode}): {answer.stderr.strip()[:300]}")  # fmt: skip
    return seconds


def timed_sweep(host: Host, expected: int) -> tuple[float, float, collector.SweepResult]:
    """Wall and CPU seconds (this process, every thread) of one sweep, and its result."""
    start, cpu = time.perf_counter(), time.process_time()
    result = collector.sweep_host(host)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    if result is None or result.containers != expected:
        raise RuntimeError(f"the sweep of {host.name} read {result and result.containers} containers, not {expected}")
    return seconds, cpu, result


def timed_stats(host: Host, ids: list[str]) -> tuple[float, float]:
    start, cpu = time.perf_counter(), time.process_time()
    with engine_for(host) as engine:
        read = len(engine.stats(ids))
    if read != len(ids):
        raise RuntimeError(f"engine.stats() read {read} of {len(ids)} containers")
    return time.perf_counter() - start, time.process_time() - cpu


def bench_sweep(fleet: Fleet, count: int, rounds: int, profile: bool) -> list[dict]:
    host = fleet.add_host("local", keep=count)
    ids = list(Container.objects.filter(host=host, state=Container.State.RUNNING).values_list("docker_id", flat=True))
    store.forget(host.pk)
    timed_sweep(host, count)  # not counted: no previous reading yet
    samples: dict[str, list[float]] = {"cli": [], "sweep": [], "stats": []}
    cpu: dict[str, list[float]] = {"sweep": [], "stats": []}
    rows: list[int] = []
    paths = ("cli", "sweep", "stats")
    for i in range(rounds):
        for path in paths[i % 3 :] + paths[: i % 3]:  # nobody always goes first
            if path == "cli":
                samples["cli"].append(docker_stats_cli(ids))
            elif path == "sweep":
                seconds, used, result = timed_sweep(host, count)
                samples["sweep"].append(seconds)
                cpu["sweep"].append(used)
                rows.append(result.rows_written)
            else:
                seconds, used = timed_stats(host, ids)
                samples["stats"].append(seconds)
                cpu["stats"].append(used)
    if profile:
        print(profile_sweep(host, count))
    best = min(samples["sweep"]) / min(samples["cli"])
    median = statistics.median(samples["sweep"]) / statistics.median(samples["cli"])
    verdict = "OK" if median <= RATIO_TARGET else "MISSED"
    cli = "metrics.sweep.cli"
    return [
        {"section": f"Sweep speed: one host, {count} idle containers (local socket)"},
        {"key": cli, "label": f"reference: docker stats --no-stream <{count} ids> (CLI)", "samples": samples["cli"]},
        {"key": "metrics.sweep.host", "label": "collector.sweep_host(host), the whole sweep",
         "samples": samples["sweep"], "cpu_samples": cpu["sweep"], "reference": cli, "rows_written": rows},
        {"key": "metrics.sweep.stats", "label": "  Docker part alone: engine.stats(ids), one-shot, 128 at a time",
         "samples": samples["stats"], "cpu_samples": cpu["stats"], "reference": cli},
        {"key": "metrics.sweep.ratio", "label": f"sweep / CLI: best {best:.2f}x, median (target <= {RATIO_TARGET}: "
         f"{verdict})", "value": round(median, 2), "unit": "x", "best": round(best, 3),
         "meets_target": median <= RATIO_TARGET},
    ]  # fmt: skip


# --- profiling a sweep, every thread ----------------------------------------------------------------------------


def profile_sweep(host: Host, count: int) -> str:
    """CPU profile of one sweep (cProfile timed by each thread's own CPU clock, so waiting on Docker or on the
    GIL counts nothing): the sweeping thread, and the stats threads merged (cProfile sees one thread each)."""
    original = docker_api.DockerApiEngine._stats_of
    profiles: list[cProfile.Profile] = []

    def profiled(self, *args, **kwargs):
        profiler = cProfile.Profile(time.thread_time)
        profiles.append(profiler)
        return profiler.runcall(original, self, *args, **kwargs)

    docker_api.DockerApiEngine._stats_of = profiled
    main = cProfile.Profile(time.thread_time)
    try:
        start, cpu = time.perf_counter(), time.process_time()
        main.runcall(collector.sweep_host, host)
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    finally:
        docker_api.DockerApiEngine._stats_of = original
    out = io.StringIO()
    out.write(f"=== cProfile: one sweep of {host.name} ({count} containers): {wall * 1000:.0f} ms wall, "
              f"{cpu * 1000:.0f} ms CPU (all threads) ===\n--- the sweeping thread, CPU, cumulative ---\n")  # fmt: skip
    pstats.Stats(main, stream=out).strip_dirs().sort_stats("cumulative").print_stats(30)
    if profiles:
        merged = pstats.Stats(profiles[0], stream=out)
        for profiler in profiles[1:]:
            merged.add(profiler)
        out.write(f"--- the {len(profiles)} stats requests (threads), merged, CPU by own time ---\n")
        merged.strip_dirs().sort_stats("tottime").print_stats(25)
    return out.getvalue()


# --- 2. scale: a real worker --------------------------------------------------------------------------------


class Worker:
    """`celery -A bench.metrics_worker worker`, in a session of its own, with this run's environment."""

    def __init__(self, log: Path, pool: str = "threads", concurrency: int = WORKER_CONCURRENCY) -> None:
        self.log = log
        self.redis = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=10, socket_connect_timeout=5)
        self.redis.delete(ready_key(), sweeps_key())
        celery = Path(sys.executable).with_name("celery")
        command = [str(celery), "-A", "bench.metrics_worker", "worker", "--loglevel", "INFO", "--pool", pool,
                   "--concurrency", str(concurrency), "--hostname", f"bench-metrics-{os.getpid()}@%h"]  # fmt: skip
        with log.open("ab") as out:
            self.process = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                            env={**os.environ, "PYTHONUNBUFFERED": "1"},
                                            start_new_session=True)  # fmt: skip
        self.pid = self.process.pid

    def wait_ready(self) -> float:
        start = time.perf_counter()
        deadline = time.monotonic() + WORKER_START_TIMEOUT
        while not self.redis.exists(ready_key()):
            if self.process.poll() is not None:
                raise RuntimeError(f"the Celery worker exited with {self.process.returncode}:\n{self.tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the Celery worker was not ready after {WORKER_START_TIMEOUT} s:\n{self.tail()}")
            time.sleep(0.1)
        return time.perf_counter() - start

    def pids(self) -> list[int]:
        return [self.pid, *children_of(self.pid)]

    def sweeps(self) -> list[dict]:
        return [json.loads(item) for item in self.redis.lrange(sweeps_key(), 0, -1)]

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)  # warm shutdown of the worker and its pool
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.redis.close()


def docker_pids() -> list[int]:
    """Docker's processes on this machine (every daemon): dockerd, containerd and the containers' shims."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if (entry / "comm").read_text().strip() in DOCKER_PROCESSES:
                    found.append(int(entry.name))
    return found


def _play_beat(rounds: int, interval: int) -> list[float]:
    """Send metrics.sweep every `interval` seconds, as beat does (with the schedule's expiry); the send times."""
    sent = []
    next_at = time.monotonic()
    for _ in range(rounds):
        time.sleep(max(0.0, next_at - time.monotonic()))
        sent.append(time.monotonic())
        sweep_task.apply_async(expires=interval)
        next_at += interval
    return sent


def _wait_for_sweeps(worker: Worker, expected: int, timeout: float) -> list[dict]:
    deadline = time.monotonic() + timeout
    while len(found := worker.sweeps()) < expected and time.monotonic() < deadline:
        time.sleep(0.1)
    return found


def run_worker(pool: str, hosts: int, rounds: int, interval: int, warm_up: int = 1) -> dict:
    """Start a worker, play beat for `warm_up` + `rounds` intervals; what it did and what it cost."""
    log = Path(os.environ["DOCKMON_DATA_DIR"]) / f"metrics-worker-{pool}.log"
    worker = Worker(log, pool)
    try:
        ready = worker.wait_ready()
        print(f"bench: metrics: worker ({pool}) ready in {ready:.1f} s ({len(worker.pids())} processes); {warm_up} + "
              f"{rounds} rounds every {interval} s ...", flush=True)  # fmt: skip
        sent = _play_beat(warm_up, interval)
        _wait_for_sweeps(worker, warm_up * hosts, 2 * interval)
        # Measured: from the first counted send to `rounds` intervals later; the worker's CPU over exactly that.
        time.sleep(max(0.0, sent[-1] + interval - time.monotonic()))
        pids, dockers = worker.pids(), docker_pids()
        cpu_before, docker_before, window_start = cpu_seconds(pids), cpu_seconds(dockers), time.monotonic()
        sent += _play_beat(rounds, interval)
        time.sleep(max(0.0, window_start + rounds * interval - time.monotonic()))
        cpu_used, window = cpu_seconds(pids) - cpu_before, time.monotonic() - window_start
        docker_used = cpu_seconds(dockers) - docker_before
        found = _wait_for_sweeps(worker, (warm_up + rounds) * hosts, 3 * interval)
        processes = {pid: memory(pid) | {"cmd": cmdline(pid)[:120]} for pid in worker.pids()}
        if worker.process.poll() is not None:
            raise RuntimeError(f"the Celery worker exited with {worker.process.returncode}:\n{worker.tail()}")
    except Exception:
        print(f"bench: the worker's log ends with:\n{worker.tail()}", file=sys.stderr)
        raise
    finally:
        worker.stop()
    return {"pool": pool, "sent": sent[warm_up:], "found": found, "cpu_used": cpu_used, "docker_used": docker_used,
            "window": window, "processes": processes, "main_pid": worker.pid}  # fmt: skip


def bench_scale(fleet: Fleet, rounds: int, reference_runs: int, pools: tuple[str, ...] = ("threads",),
                profile: bool = False) -> list[dict]:  # fmt: skip
    """The app's own worker (threads) against the interval; other pools (prefork) for comparison only."""
    hosts = {kind: fleet.add_host(kind) for kind in ("local", "tls")}
    counts = {kind: len(fleet.names[kind]) for kind in hosts}
    interval = MetricsSettings.load().interval_seconds
    runs = []
    for pool in pools:
        for host in hosts.values():
            store.forget(host.pk)
        runs.append(run_worker(pool, len(hosts), rounds, interval))
    print(f"bench: metrics: references, each host alone: docker stats --no-stream and engine.stats(), "
          f"{reference_runs} each ...", flush=True)  # fmt: skip
    references = {kind: {"cli": [], "stats": []} for kind in hosts}
    for _ in range(reference_runs):
        for kind, host in hosts.items():
            ids = list(Container.objects.filter(host=host, state=Container.State.RUNNING)
                       .values_list("docker_id", flat=True))  # fmt: skip
            references[kind]["cli"].append(docker_stats_cli(ids, fleet.cli_options(kind)))
            references[kind]["stats"].append(timed_stats(host, ids)[0])
    if profile:  # in this process, after the worker: where a sweep of each kind of host spends its CPU
        for kind, host in hosts.items():
            timed_sweep(host, counts[kind])  # the engine's first connection set up, like in the worker
            print(profile_sweep(host, counts[kind]))
    results = []
    for i, run in enumerate(runs):
        results += _scale_results(hosts, counts, run, interval, references if i == 0 else None)
    return results


def _round_of(start: float, sent: list[float]) -> int | None:
    earlier = [i for i, at in enumerate(sent) if at <= start]
    return earlier[-1] if earlier else None


def _scale_results(hosts: dict[str, Host], counts: dict[str, int], run: dict, interval: int,
                   references: dict | None) -> list[dict]:  # fmt: skip
    """The figures of one worker run; the first (the app's default pool) with the references and targets."""
    sent, found, pool, window = run["sent"], run["found"], run["pool"], run["window"]
    default = references is not None
    key = "metrics.scale" if default else f"metrics.scale.{pool}"
    rounds = len(sent)
    by_round: dict[int, list[dict]] = {}
    for entry in found:
        index = _round_of(entry["start"], sent)
        if index is not None:
            by_round.setdefault(index, []).append(entry)
    missing = sum(len(hosts) - len([e for e in by_round.get(i, []) if not e["skipped"]]) for i in range(rounds))
    skipped = sum(1 for entries in by_round.values() for e in entries if e["skipped"])
    round_walls = [max(e["end"] for e in by_round[i]) - sent[i] for i in sorted(by_round)]
    queued = [min(e["start"] for e in by_round[i]) - sent[i] for i in sorted(by_round)]
    limit = interval * 1000 if default else None
    total = sum(counts.values())
    processes = [p for p in run["processes"].values() if p.get("rss")]
    shape = f"prefork, {len(processes) - 1} pool processes" if pool == "prefork" else f"--pool {pool}, one process"
    section = (f"Scale: {total} containers ({counts['local']} local socket + {counts['tls']} TLS), one Celery worker "
               f"({shape}), a sweep every {interval} s, {rounds} rounds")  # fmt: skip
    if not default:
        section += " (for comparison: not the app's default)"
    results: list[dict] = [{"section": section}]
    for kind, host in hosts.items():
        mine = [e for i in range(rounds) for e in by_round.get(i, []) if e["host"] == host.pk and not e["skipped"]]
        cli = f"metrics.scale.{kind}.cli"
        if default:
            results += [
                {"key": cli, "label": f"reference: docker stats --no-stream, its {counts[kind]} containers (CLI, "
                 "alone)", "samples": references[kind]["cli"]},
                {"key": f"metrics.scale.{kind}.stats", "label": "  engine.stats(ids) in this process, alone (after)",
                 "samples": references[kind]["stats"], "reference": cli},
            ]  # fmt: skip
        label = f"sweep_host in the worker: {host.name} ({host.kind}, {counts[kind]} containers)"
        results.append({"key": f"{key}.{kind}", "label": label, "reference": cli, "samples":
                        [e["end"] - e["start"] for e in mine],
                        # With a threads pool the process's CPU over a sweep includes the other host's.
                        "cpu_samples": [e["cpu"] for e in mine] if pool == "prefork" else None,
                        "target_ms": limit, "target_on": "max", "containers": [e["containers"] for e in mine],
                        "rows_written": [e["rows"] for e in mine], "collector_seconds": [e["seconds"] for e in mine],
                        "failures": sum(1 for e in mine if e["containers"] != counts[kind])})  # fmt: skip
    per_round = run["cpu_used"] / rounds
    rss = sum(p["rss"] for p in processes)
    pss = sum(p["pss"] for p in processes)
    main = run["processes"].get(run["main_pid"], {})
    results += [
        {"key": f"{key}.round", "label": "whole round: metrics.sweep sent -> last host swept",
         "samples": round_walls, "target_ms": limit, "target_on": "max", "failures": missing},
        {"key": f"{key}.queued", "label": "  of which: sent -> first sweep_host started (queue, fan-out)",
         "samples": queued},
        {"key": f"{key}.missing", "label": "sweeps skipped (host locked) or not done in time",
         "value": missing + skipped, "unit": "", "skipped": skipped, "missing": missing},
        {"key": f"{key}.cpu_round", "label": f"worker CPU per round, every process ({window:.0f} s measured; "
         f"{per_round / interval * 100:.0f} % of one core)", "value": round(per_round * 1000), "unit": "ms",
         "cpu_seconds": run["cpu_used"], "window_s": window},
        {"key": f"{key}.cpu_container", "label": "  per container swept",
         "value": round(per_round / total * 1000, 2), "unit": "ms"},
        {"key": f"{key}.cpu_docker", "label": "Docker's CPU per round (every dockerd, containerd and shim "
         f"on the machine; {run['docker_used'] / window * 100:.0f} % of one core)",
         "value": round(run["docker_used"] / rounds * 1000), "unit": "ms"},
        {"key": f"{key}.rss", "label": f"worker memory: VmRSS of its {len(processes)} process(es) together "
         f"(main {main.get('rss', 0) / 1024:.0f} MiB)", "value": round(rss / 1024, 1), "unit": "MiB",
         "processes": run["processes"]},
        {"key": f"{key}.pss", "label": "  the same as PSS (pages shared after fork counted once)",
         "value": round(pss / 1024, 1), "unit": "MiB"},
    ]  # fmt: skip
    return results
