"""One sweep of one host: read every running container (and the machine, where DockMon can), compute the
figures, keep the latest in Redis, accumulate history, and push what changed to whoever watches.

Beat starts a sweep of every online host each interval (tasks.py); each host is swept by one worker at a
time (a Redis lock), so a slow or unreachable host delays nobody else and more workers just share hosts.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from apps.containers.models import Container
from apps.core.redis_client import held_alone
from apps.core.signals import announce
from apps.hosts.engines import engine_for
from apps.hosts.models import Host
from apps.metrics import history, live, store
from apps.metrics.models import MetricsSettings
from apps.metrics.signals import host_swept
from apps.metrics.tiers import METRICS
from dockmon_agent.engine.base import Engine, EngineError, NotSupported
from dockmon_agent.protocol import from_wire, to_wire
from dockmon_agent.stats import HostStats, StatsSample, metrics_from

logger = logging.getLogger(__name__)


@dataclass
class SweepResult:
    containers: int
    seconds: float
    rows_written: int


class KeptEngines:
    """One open engine per host in this process, kept from sweep to sweep: its keep-alive connections (and their
    TLS handshakes) then serve every sweep, not just one. A change of the host's connection settings, or an
    error, closes it and the next sweep opens a new one."""

    def __init__(self) -> None:
        self._engines: dict[int, tuple[int, Engine]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _settings_of(host: Host) -> int:
        return hash((host.kind, host.url, host.tls_ca, host.tls_cert, host.tls_key))

    def open(self, host: Host) -> Engine:
        settings = self._settings_of(host)
        with self._lock:
            kept = self._engines.get(host.pk)
            if kept is not None and kept[0] == settings:
                return kept[1]
            engine = engine_for(host)
            self._engines[host.pk] = (settings, engine)
        if kept is not None:
            kept[1].close()
        return engine

    def drop(self, host_pk: int) -> None:
        with self._lock:
            kept = self._engines.pop(host_pk, None)
        if kept is not None:
            kept[1].close()


_kept_engines = KeptEngines()


def sweep_host(host: Host) -> SweepResult | None:
    """Sweep one host; None when another worker is sweeping it right now."""
    config = MetricsSettings.load()
    # Held for at most one interval: a sweep that hangs longer lets the next one go ahead.
    with held_alone(f"metrics:sweep:{host.pk}", max(config.interval_seconds, 10)) as alone:
        return _sweep(host, config, time.monotonic()) if alone else None


def _sweep(host: Host, config: MetricsSettings, started: float) -> SweepResult:
    running = dict(Container.objects.filter(host=host, state=Container.State.RUNNING).values_list("docker_id", "pk"))
    now = time.time()
    try:
        engine = _kept_engines.open(host)
        samples = engine.stats(list(running)) if running else []
        machine, machine_note = _machine(engine)
    except EngineError as error:
        _kept_engines.drop(host.pk)  # the next sweep connects afresh
        logger.info("Metrics of %s not read: %s", host.name, error)
        return SweepResult(0, time.monotonic() - started, 0)
    previous = store.previous_samples(host.pk)
    values: dict[str, dict] = {}
    for sample in samples:
        before = previous.get(sample.container_id)
        figures = metrics_from(sample, from_wire(StatsSample, before) if before else None)
        values[store.series_key(running[sample.container_id])] = {
            "cpu": figures.cpu_percent,
            "mem": figures.memory_bytes,
            "memp": figures.memory_percent,
            "limit": figures.memory_limit_bytes,
            "rx": figures.net_rx_rate,
            "tx": figures.net_tx_rate,
            "rd": figures.blk_read_rate,
            "wr": figures.blk_write_rate,
            "pids": figures.pids,
        }
    host_values = _host_values(host, values, machine, previous.get(store.HOST_SERIES), now)
    host_values["machine_note"] = machine_note
    values[store.HOST_SERIES] = host_values
    kept = {sample.container_id: to_wire(sample) for sample in samples}
    if machine is not None:
        kept[store.HOST_SERIES] = {"at": now, "rx": machine.net_rx_bytes, "tx": machine.net_tx_bytes}
    store.save_previous_samples(host.pk, kept)
    store.save_latest(host.pk, {**values, "at": now})
    charted = {key: {k: v for k, v in figures.items() if k in METRICS} for key, figures in values.items()}
    written = history.accumulate(host.pk, charted, now, keep=config.history_enabled)
    live.push_sweep(host, values, store.push_recent(host.pk, {"t": now, **host_values}))
    announce(host_swept, Host, host=host, values=values)
    return SweepResult(len(samples), time.monotonic() - started, written)


def _machine(engine: Engine) -> tuple[HostStats | None, str]:
    """The machine's own figures where the connection can see them (a local socket, an agent), else why not."""
    try:
        return engine.host_stats(), ""
    except NotSupported as reason:
        return None, str(reason)


def _host_values(host: Host, containers: dict[str, dict], machine: HostStats | None, before: dict | None,
                 now: float) -> dict:  # fmt: skip
    """The host series: the machine's own figures when known, else its containers' totals against its size."""
    cpus = (machine.cpu_count if machine else None) or host.facts.get("cpus") or 1
    memory = (machine.memory_total_bytes if machine else None) or host.facts.get("memory_bytes") or 0
    container_cpu = sum(v["cpu"] or 0 for v in containers.values()) / cpus
    container_mem = sum(v["mem"] or 0 for v in containers.values())
    values = {
        "containers_cpu": container_cpu,
        "containers_mem": container_mem,
        "cpu": container_cpu,
        "mem": container_mem,
        "memp": container_mem / memory * 100 if memory else None,
        "rx": sum(v["rx"] or 0 for v in containers.values()),
        "tx": sum(v["tx"] or 0 for v in containers.values()),
        "rd": sum(v["rd"] or 0 for v in containers.values()),
        "wr": sum(v["wr"] or 0 for v in containers.values()),
        "pids": sum(v["pids"] or 0 for v in containers.values()),
        "load": None,
        "disk": None,
        "disks": [],
    }
    if machine is not None:
        values.update(cpu=machine.cpu_percent, mem=machine.memory_used_bytes, memp=machine.memory_percent,
                      load=machine.load_1)  # fmt: skip
        if machine.disks:
            values["disk"] = max(d.used_percent for d in machine.disks)
            values["disks"] = [
                {"mount": d.mount, "used": d.used_percent, "total": d.total_bytes} for d in machine.disks
            ]
        if before and now > before["at"]:
            elapsed = now - before["at"]
            rx, tx = machine.net_rx_bytes - before["rx"], machine.net_tx_bytes - before["tx"]
            values["rx"] = rx / elapsed if rx >= 0 else None  # counters reset (reboot): no rate this time
            values["tx"] = tx / elapsed if tx >= 0 else None
    return values
