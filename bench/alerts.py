"""Alert rules and HTTP health checks (issue 6): `python -m bench.run --only alerts [--quick]`.

1. Threshold rules inside the metrics sweep: `collector.sweep_host(host)` for the local socket host with N idle
   bench containers (the metrics benches' fleet, bench/metrics_fleet.py), in rounds that alternate without
   enabled rules and with 10 enabled threshold rules (container CPU and memory with several scopes, host CPU and
   memory; one of them fires on every container, the others never). The rules are judged by the `host_swept`
   receiver inside the sweep (`apps.alerts.engine.judge_sweep`), which is wrapped to time it. The SQL queries
   the judging adds are counted on the real sweep and, with `judge_sweep` alone, for 100 and 300 containers'
   worth of figures on made-up hosts (they must not grow with the containers).
2. HTTP health checks against a busybox httpd bench container (`dockenv/testapp:1` in mode `http 8080`, its port
   published on 127.0.0.1): one check through `probe.probe(spec)` and through `services.run_check(check)` (which
   also stores the result), interleaved with the reference `curl` of the same URL; then a burst of 200 checks
   due at once, queued by `monitors.dispatch` to a real Celery worker (the Procfile's threads pool, through
   `bench.metrics_worker`), until all 200 results are stored, against 200 curls one after another.
The bench containers are removed at the end, also after an error or Ctrl-C (Fleet.teardown()).
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.alerts import engine
from apps.alerts.models import Alert, AlertRule
from apps.containers.inventory import sync_host
from apps.containers.models import Container
from apps.hosts.engines import engine_for
from apps.hosts.models import Host
from apps.metrics import store
from apps.monitors import probe, services, tasks
from apps.monitors.models import CheckResult, HealthCheck
from bench.inventory import LABEL, LABELS, NAME_PREFIX, docker_url
from bench.metrics_fleet import Fleet
from bench.metrics_sweep import WORKER_CONCURRENCY, Worker, timed_sweep
from tests.dockerenv.plugin import http_get
from tests.live import free_port

Kind = AlertRule.Kind
RATIO_TARGET = 1.10  # rules may add at most 10 % to a sweep
NEVER = {"duration_seconds": 300}  # host figures of a busy VM could touch a high threshold for a moment
# Ten threshold rules, the scopes a user would write. Idle containers use ~0 % CPU and ~1 % of their 32 MB limit:
# only the last container rule fires (memory above 0 %, on every container), once; the rest never do.
RULES: list[dict] = [
    {"kind": Kind.CONTAINER_CPU, "threshold": 90},
    {"kind": Kind.CONTAINER_CPU, "threshold": 95, "duration_seconds": 60, "name_pattern": f"{NAME_PREFIX}1*"},
    {"kind": Kind.CONTAINER_CPU, "threshold": 80, "occurrences": 3, "window_seconds": 300, "labels": f"{LABEL}=1"},
    {"kind": Kind.CONTAINER_CPU, "threshold": 99, "name_pattern": rf"^{NAME_PREFIX}\d+$",
     "name_match": AlertRule.NameMatch.REGEX},
    {"kind": Kind.CONTAINER_MEMORY, "threshold": 90},
    {"kind": Kind.CONTAINER_MEMORY, "threshold": 95, "labels": "com.docker.compose.project=dm-bench",
     "exclude_names": f"{NAME_PREFIX}0"},
    {"kind": Kind.CONTAINER_MEMORY, "threshold": 90, "name_pattern": f"{NAME_PREFIX}*",
     "desired_state": AlertRule.DesiredStateFilter.SHOULD_RUN},
    {"kind": Kind.CONTAINER_MEMORY, "threshold": 0, "name_pattern": f"{NAME_PREFIX}*"},  # fires on every container
    {"kind": Kind.HOST_CPU, "threshold": 99, **NEVER},
    {"kind": Kind.HOST_MEMORY, "threshold": 99, **NEVER},
]  # fmt: skip
FIRING = 7  # the index of the rule that fires
HTTPD_NAME = f"{NAME_PREFIX}httpd"
BURST_TIMEOUT = 120
POLL_SECONDS = 0.01
TASK_DONE = re.compile(r"Task ([\w.]+)\[[^\]]+\] succeeded in ([\d.]+)s")


@dataclass(frozen=True)
class Sizes:
    containers: int = 100  # the swept host's running containers
    rounds: int = 10  # each: one sweep without rules, one with
    figures: tuple[int, ...] = (100, 300)  # judge_sweep alone: containers' worth of figures
    judge_repeats: int = 10
    checks: int = 50  # single checks per path
    burst: int = 200
    burst_rounds: int = 3


QUICK = Sizes(containers=50, rounds=5, judge_repeats=5, checks=20, burst_rounds=2)


@dataclass
class BurstRound:
    total: float  # dispatch sent -> the last result stored
    first: float  # dispatch sent -> the first result stored
    failed: int  # checks that failed or stored no result in time
    dispatch: float  # the monitors.dispatch task itself, as the worker logged it
    tasks: list[float]  # each monitors.run_check task, as the worker logged it


def run(*, quick: bool = False) -> list[dict]:
    sizes = QUICK if quick else Sizes()
    fleet = Fleet()
    try:
        fleet.start(with_tls=False)
        print(f"bench: alerts: creating {sizes.containers} containers ...", flush=True)
        created = fleet.create(sizes.containers, 0)
        print(f"bench: alerts: created and started in {created:.1f} s; sweeps with and without rules ...", flush=True)
        results = bench_thresholds(fleet, sizes)
        print("bench: alerts: HTTP health checks ...", flush=True)
        results += bench_checks(fleet, sizes)
        results.append({"key": "alerts.setup.create", "label": f"  (setup: create+start {sizes.containers})",
                        "value": round(created, 1), "unit": "s"})  # fmt: skip
        return results
    finally:
        fleet.teardown()


# --- 1. threshold rules in the sweep ----------------------------------------------------------------------------


class JudgeTimer:
    """Wraps `engine.judge_sweep` (the `host_swept` receiver looks it up on each call): the seconds of each call,
    and its SQL queries when they are being captured (CaptureQueriesContext). The sweep announces with
    `send_robust`, which would swallow a failure: failures are kept and raised after."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self.queries: list[int] = []
        self.errors: list[BaseException] = []

    @contextmanager
    def installed(self) -> Iterator[JudgeTimer]:
        original = engine.judge_sweep

        def timed(*args, **kwargs) -> None:
            logged, start = len(connection.queries_log), time.perf_counter()
            try:
                original(*args, **kwargs)
            except Exception as error:
                self.errors.append(error)
                raise
            finally:
                self.samples.append(time.perf_counter() - start)
                self.queries.append(len(connection.queries_log) - logged)

        engine.judge_sweep = timed
        try:
            yield self
        finally:
            engine.judge_sweep = original
        if self.errors:
            raise RuntimeError(f"judge_sweep failed: {self.errors[0]!r}") from self.errors[0]


def make_rules() -> list[AlertRule]:
    return [AlertRule.objects.create(name=f"bench: {n} {spec['kind']}", **spec) for n, spec in enumerate(RULES)]


def set_rules(enabled: bool) -> None:
    """Enable or disable every rule; the cache of enabled kinds is then refilled, as a sweep finds it 59 s in 60."""
    AlertRule.objects.update(enabled=enabled)
    engine.forget_active_kinds()
    engine.active_kinds()


def sweep_queries(host: Host, count: int, judge: JudgeTimer) -> tuple[int, int]:
    """SQL queries of one sweep, and of its judging. (The sweep's own vary: it flushes a history bucket every 6 s.)"""
    with CaptureQueriesContext(connection) as queries:
        timed_sweep(host, count)
    return len(queries), judge.queries[-1]


def bench_thresholds(fleet: Fleet, sizes: Sizes) -> list[dict]:
    count = sizes.containers
    host = fleet.add_host("local", keep=count)
    store.forget(host.pk)
    rules = make_rules()
    set_rules(False)
    timed_sweep(host, count)  # not counted: no previous reading yet, so no CPU %
    judge = JudgeTimer()
    samples: dict[bool, list[float]] = {False: [], True: []}
    cpu: dict[bool, list[float]] = {False: [], True: []}
    with judge.installed():
        set_rules(True)
        with CaptureQueriesContext(connection) as firing_queries:
            firing_seconds = timed_sweep(host, count)[0]
        firing_judge = judge.samples[-1]
        fired = Alert.objects.filter(rule=rules[FIRING], host=host).count()
        others = Alert.objects.exclude(rule=rules[FIRING]).count()
        if fired != count or others:
            raise RuntimeError(f"the firing rule opened {fired} alerts (expected {count}); the others {others}")
        judged: list[float] = []
        for i in range(sizes.rounds):
            for with_rules in (False, True) if i % 2 == 0 else (True, False):  # neither always goes first
                set_rules(with_rules)
                seconds, used, _ = timed_sweep(host, count)
                samples[with_rules].append(seconds)
                cpu[with_rules].append(used)
                if with_rules:
                    judged.append(judge.samples[-1])
        set_rules(False)
        plain, plain_judging = sweep_queries(host, count, judge)
        set_rules(True)
        ruled, judging = sweep_queries(host, count, judge)
    alone = {n: judge_alone(host, n, sizes.judge_repeats) for n in sizes.figures}
    ratio = statistics.median(samples[True]) / statistics.median(samples[False])
    cpu_ratio = statistics.median(cpu[True]) / statistics.median(cpu[False])
    verdict = "OK" if ratio <= RATIO_TARGET else "MISSED"
    base = "alerts.sweep.none"
    results: list[dict] = [
        {"section": f"Threshold rules in the metrics sweep: one host, {count} idle containers (local socket)"},
        {"key": base, "label": "reference: collector.sweep_host(host), no enabled rule", "samples": samples[False],
         "cpu_samples": cpu[False]},
        {"key": "alerts.sweep.rules", "label": f"collector.sweep_host(host), {len(RULES)} threshold rules enabled",
         "samples": samples[True], "cpu_samples": cpu[True], "reference": base},
        {"key": "alerts.sweep.judge", "label": "  of which judging the rules (engine.judge_sweep, in host_swept)",
         "samples": judged},
        {"key": "alerts.sweep.ratio", "label": f"with rules / without, medians (CPU {cpu_ratio:.2f}x; target <= "
         f"{RATIO_TARGET}: {verdict})", "value": round(ratio, 2), "unit": "x", "cpu_ratio": round(cpu_ratio, 3),
         "meets_target": ratio <= RATIO_TARGET},
        {"key": "alerts.sweep.firing", "label": f"first sweep with the rules: one rule fires {fired} alerts "
         f"({len(firing_queries)} SQL queries)", "samples": [firing_seconds], "queries": len(firing_queries)},
        {"key": "alerts.sweep.firing_judge", "label": "  of which judging (and firing)", "samples": [firing_judge]},
        {"key": "alerts.sweep.queries", "label": f"SQL queries of the judging in a sweep, without rules -> with (the "
         f"whole sweep: {plain} -> {ruled})", "value": f"{plain_judging} -> {judging}", "unit": "", "without": plain,
         "with": ruled, "judging": judging},
    ]  # fmt: skip
    first = f"alerts.judge.{sizes.figures[0]}.queries"
    for n, (seconds, queries) in alone.items():
        results += [
            {"key": f"alerts.judge.{n}", "label": f"engine.judge_sweep alone, {n} containers' figures (made-up host)",
             "samples": seconds},
            {"key": f"alerts.judge.{n}.queries", "label": f"  SQL queries of it, {n} containers' figures",
             "value": queries, "unit": "", **({"must_equal": first} if n != sizes.figures[0] else {})},
        ]  # fmt: skip
    return results


def judge_alone(swept: Host, containers: int, repeats: int) -> tuple[list[float], int]:
    """`judge_sweep` on a made-up host of `containers` running rows with the swept host's real figures, once to
    let the firing rule fire, then `repeats` times as every later sweep judges: seconds, and the last one's SQL."""
    latest = store.latest(swept.pk)
    figures = list(store.containers_in(latest).values())
    Host.objects.filter(name=f"alerts-figures-{containers}").delete()
    host = Host.objects.create(name=f"alerts-figures-{containers}", kind=Host.Kind.SOCKET, url=docker_url())
    rows = Container.objects.bulk_create(
        Container(host=host, name=f"{NAME_PREFIX}{n}", docker_id=f"{n:064x}", image="dockenv/testapp:1",
                  state=Container.State.RUNNING, labels=LABELS)
        for n in range(containers)
    )  # fmt: skip
    values = {store.HOST_SERIES: latest[store.HOST_SERIES]}
    values |= {store.series_key(row.pk): figures[n % len(figures)] for n, row in enumerate(rows)}
    engine.judge_sweep(host, values)  # the firing rule fires on every container
    seconds = []
    for _ in range(repeats):
        with CaptureQueriesContext(connection) as queries:
            start = time.perf_counter()
            engine.judge_sweep(host, values)
            seconds.append(time.perf_counter() - start)
    return seconds, len(queries)


# --- 2. HTTP health checks ----------------------------------------------------------------------------------------


def curl(url: str) -> float:
    """`curl -s -o /dev/null -w '%{http_code}' URL`: seconds, the process's start-up included."""
    start = time.perf_counter()
    answer = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", url], capture_output=True,
                            text=True)  # fmt: skip
    seconds = time.perf_counter() - start
    if answer.stdout != "200":
        raise RuntimeError(f"curl {url} answered {answer.stdout!r} (exit {answer.returncode})")
    return seconds


def timed_probe(spec: probe.ProbeSpec) -> float:
    start = time.perf_counter()
    outcome = probe.probe(spec)
    seconds = time.perf_counter() - start
    if not outcome.ok:
        raise RuntimeError(f"the probe of {spec.url} failed: {outcome.error}")
    return seconds


def timed_run_check(check: HealthCheck) -> float:
    start = time.perf_counter()
    result = services.run_check(check)
    seconds = time.perf_counter() - start
    if result is None or not result.ok:
        raise RuntimeError(f"run_check({check.url}) failed: {result and result.error}")
    return seconds


def start_httpd(fleet: Fleet) -> tuple[Container, str]:
    """A busybox httpd bench container on a free loopback port, and its row (a sync of the local host)."""
    port = free_port()
    fleet.local.containers.run(fleet.image, ["http", "8080"], name=HTTPD_NAME, labels={LABEL: "1"}, detach=True,
                               ports={"8080/tcp": ("127.0.0.1", port)})  # fmt: skip
    url = f"http://127.0.0.1:{port}/health"
    http_get(url)  # docker-proxy accepts connections before httpd listens
    host = fleet.hosts["local"]
    with engine_for(host) as docker:
        sync_host(host, docker)
    return Container.objects.get(host=host, name=HTTPD_NAME), url


def interleaved(paths: dict[str, Callable[[], float]], rounds: int, warm_up: int = 3) -> dict[str, list[float]]:
    """Each path `rounds` times after `warm_up` not counted, in an order that rotates from round to round."""
    names = list(paths)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for i in range(warm_up + rounds):
        shift = i % len(names)
        for name in names[shift:] + names[:shift]:
            seconds = paths[name]()
            if i >= warm_up:
                samples[name].append(seconds)
    return samples


def bench_checks(fleet: Fleet, sizes: Sizes) -> list[dict]:
    row, url = start_httpd(fleet)
    check = HealthCheck.objects.create(container=row, url=url, keyword="ok")
    spec = services.spec_for(check)
    single = interleaved({"curl": lambda: curl(url), "probe": lambda: timed_probe(spec),
                          "run_check": lambda: timed_run_check(check)}, sizes.checks)  # fmt: skip
    HealthCheck.objects.filter(pk=check.pk).update(enabled=False)  # the burst's dispatch claims only its own
    burst = burst_checks(row, url, sizes)
    ref, n, burst_ref = "alerts.check.curl", sizes.burst, "alerts.burst.curl"
    rounds: list[BurstRound] = burst["worker"]
    failed = sum(r.failed for r in rounds)
    return [
        {"section": f"HTTP health check: one check of a local busybox httpd ({url}, keyword \"ok\")"},
        {"key": ref, "label": "reference: curl -s -o /dev/null -w '%{http_code}' URL (process start included)",
         "samples": single["curl"]},
        {"key": "alerts.check.probe", "label": "probe.probe(spec), in this process", "samples": single["probe"],
         "reference": ref},
        {"key": "alerts.check.run", "label": "services.run_check(check): the probe, its result stored, the verdict",
         "samples": single["run_check"], "reference": ref},
        {"section": f"Burst: {n} checks due at once, monitors.dispatch to a real Celery worker (--pool threads, "
         f"{WORKER_CONCURRENCY} threads)"},
        {"key": burst_ref, "label": f"reference: {n} curls one after another", "samples": burst["curl"]},
        {"key": "alerts.burst.worker", "label": f"dispatch sent -> all {n} results stored", "samples":
         [r.total for r in rounds], "reference": burst_ref, "failures": failed},
        {"key": "alerts.burst.first", "label": "  of which: dispatch sent -> first result stored",
         "samples": [r.first for r in rounds]},
        {"key": "alerts.burst.dispatch", "label": f"  monitors.dispatch itself: claims {n} checks, queues {n} tasks "
         "(worker's log)", "samples": [r.dispatch for r in rounds]},
        {"key": "alerts.burst.task", "label": "  each monitors.run_check task in the worker (worker's log)",
         "samples": [t for r in rounds for t in r.tasks]},
        {"key": "alerts.burst.inline", "label": f"{n} x services.run_check in this process, one after another",
         "samples": burst["inline"], "reference": burst_ref},
        {"key": "alerts.burst.failed", "label": "checks that failed or never stored a result", "value": failed,
         "unit": ""},
    ]  # fmt: skip


def burst_checks(row: Container, url: str, sizes: Sizes) -> dict[str, list]:
    """Rounds of: every burst check due at once, `monitors.dispatch` sent to the worker, results polled until all
    are stored; interleaved with `burst` curls, and with the same checks run here one after another."""
    checks = HealthCheck.objects.bulk_create(
        HealthCheck(container=row, url=url, keyword="ok", next_check_at=timezone.now() + timedelta(days=1))
        for _ in range(sizes.burst)
    )
    ids = [c.pk for c in checks]
    worker = Worker(Path(os.environ["DOCKMON_DATA_DIR"]) / "alerts-worker.log")
    found: dict[str, list] = {"curl": [], "worker": [], "inline": []}
    try:
        worker.wait_ready()
        for i in range(sizes.burst_rounds):
            for path in ("curl", "worker", "inline") if i % 2 == 0 else ("worker", "inline", "curl"):
                if path == "worker":
                    found["worker"].append(dispatched_round(worker, ids))
                    continue
                start = time.perf_counter()
                if path == "curl":
                    for _ in ids:
                        curl(url)
                else:
                    for check in HealthCheck.objects.select_related("container__host").filter(pk__in=ids):
                        timed_run_check(check)
                found[path].append(time.perf_counter() - start)
    except Exception:
        print(f"bench: alerts: the worker's log ends with:\n{worker.tail()}")
        raise
    finally:
        worker.stop()
    return found


def dispatched_round(worker: Worker, ids: list[int]) -> BurstRound:
    """All `ids` due now, then `monitors.dispatch` as beat sends it, the database polled every 10 ms until every
    result is stored; then the tasks' own times from the worker's log (Celery logs each task's run time)."""
    after = CheckResult.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    new = CheckResult.objects.filter(pk__gt=after, health_check_id__in=ids)
    logged = worker.log.stat().st_size
    HealthCheck.objects.filter(pk__in=ids).update(next_check_at=timezone.now())
    start = time.perf_counter()
    tasks.dispatch.delay()
    first = None
    deadline = time.monotonic() + BURST_TIMEOUT
    while (stored := new.count()) < len(ids) and time.monotonic() < deadline:
        if first is None and stored:
            first = time.perf_counter() - start
        if worker.process.poll() is not None:
            raise RuntimeError(f"the Celery worker exited with {worker.process.returncode}")
        time.sleep(POLL_SECONDS)
    total = time.perf_counter() - start
    time.sleep(0.2)  # the last task logs its time just after its result is committed
    ran = task_seconds(worker.log, logged)
    return BurstRound(total, first if first is not None else total, len(ids) - new.filter(ok=True).count(),
                      sum(ran.get("monitors.dispatch", [])), ran.get("monitors.run_check", []))  # fmt: skip


def task_seconds(log: Path, offset: int) -> dict[str, list[float]]:
    """The run time of each task that succeeded in the worker's log after `offset`, by task name."""
    with log.open("rb") as text:
        text.seek(offset)
        found: dict[str, list[float]] = {}
        for name, seconds in TASK_DONE.findall(text.read().decode(errors="replace")):
            found.setdefault(name, []).append(float(seconds))
    return found
