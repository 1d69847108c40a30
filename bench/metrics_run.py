"""The live-metrics benches (issue 5), in one run: `python -m bench.run --only metrics [--metrics PARTS]`.

history  90 days of tiers for one container (synthetic time, no Docker): rows kept per tier, the chart query
sweep    one host's sweep against `docker stats --no-stream` over the same containers
scale    500 containers on the local and a TLS daemon, swept every interval by one real Celery worker
fanout   20 WebSocket clients on a real daphne watching the dashboard: delivery after a sweep, server work
memory   RSS of the whole app (scripts/run: web, worker, beat) monitoring those 500 containers

The Docker parts share one fleet (bench/metrics_fleet.py), created once on both daemons at the same time and
removed at the end, also after an error or Ctrl-C.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from bench.metrics_fleet import Fleet

PARTS = ("history", "sweep", "scale", "fanout", "memory")


@dataclass(frozen=True)
class Sizes:
    sweep_containers: int = 100
    sweep_rounds: int = 5
    local: int = 250  # scale, fanout and memory: containers on the local daemon ...
    tls: int = 250  # ... and on the TLS daemon
    scale_rounds: int = 5
    reference_runs: int = 2  # scale: the CLI and engine.stats() alone, per host, after the worker
    pools: tuple[str, ...] = ("threads",)  # scale: the app's default pool (add "prefork" to compare)
    clients: tuple[int, ...] = (1, 20)
    fanout_sweeps: int = 5
    history_containers: int = 500  # rows in the table: this many containers' 90 days
    history_step_hours: int = 12  # rollup and purge every 12 simulated hours (beat: every minute; the same rows)
    history_finest_days: int = 90  # days simulated from the finest tier up (before: from the second tier up)
    history_requests: int = 20
    memory_seconds: float = 30.0


QUICK = Sizes(sweep_containers=50, sweep_rounds=3, local=50, tls=50, scale_rounds=3, reference_runs=1,
              pools=("threads",), fanout_sweeps=3, history_containers=50, history_finest_days=7,
              history_requests=10, memory_seconds=10.0)  # fmt: skip


def run(*, quick: bool = False, parts: list[str] | None = None, profile: bool = False) -> list[dict]:
    from bench import metrics_history

    sizes = QUICK if quick else Sizes()
    parts = list(parts or PARTS)
    docker_parts = [p for p in parts if p != "history"]
    if not docker_parts:
        return metrics_history.run(sizes, profile=profile) if "history" in parts else []
    results: list[dict] = []
    fleet = Fleet()
    try:
        many = {"scale", "fanout", "memory"} & set(docker_parts)
        with_tls = bool({"scale", "memory"} & set(docker_parts))
        fleet.start(with_tls=with_tls)
        local = max(sizes.sweep_containers if "sweep" in docker_parts else 0, sizes.local if many else 0)
        tls = sizes.tls if with_tls else 0
        print(f"bench: metrics: creating {local} containers here and {tls} on the TLS daemon ...", flush=True)
        # The daemons create while this process simulates the history (CPU here, no Docker); the history is
        # read back, and everything else timed, only once the containers are up.
        with ThreadPoolExecutor(1, thread_name_prefix="bench-fleet") as pool:
            creating = pool.submit(fleet.create, local, tls)
            prepared = metrics_history.prepare(sizes) if "history" in parts else None
            created = creating.result()
        print(f"bench: metrics: {local} + {tls} containers created and started in {created:.1f} s", flush=True)
        if prepared is not None:
            results += metrics_history.measure(prepared, sizes, profile=profile)
        setup = {"key": "metrics.setup.create", "label": f"  (setup: create+start {local} + {tls}, both daemons at "
                 "once)", "value": round(created, 1), "unit": "s"}  # fmt: skip
        if "sweep" in docker_parts:
            from bench import metrics_sweep

            print("bench: metrics: sweep speed ...", flush=True)
            results += metrics_sweep.bench_sweep(fleet, sizes.sweep_containers, sizes.sweep_rounds, profile)
        if "scale" in docker_parts:
            from bench import metrics_sweep

            results += metrics_sweep.bench_scale(fleet, sizes.scale_rounds, sizes.reference_runs, sizes.pools, profile)
        if "fanout" in docker_parts:
            from bench import metrics_live

            print("bench: metrics: fan-out to WebSocket clients ...", flush=True)
            results += metrics_live.bench_fanout(fleet, sizes.clients, sizes.fanout_sweeps)
        if "memory" in docker_parts:
            from bench import metrics_live

            print("bench: metrics: memory of the whole app ...", flush=True)
            results += metrics_live.bench_memory(fleet, sizes.memory_seconds, profile)
        results.append(setup)
        return results
    finally:
        fleet.teardown()
