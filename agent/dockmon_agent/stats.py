"""Container and host metrics: Docker's raw stats documents normalised into small frozen dataclasses, and the
arithmetic that turns two readings into percentages and rates.

Pure Python (no Django, no docker SDK): the server and the agent share it, and the agent sends these
dataclasses over the wire as they are.

CPU % of a container is computed like `docker stats` does, but from two readings we keep ourselves: the
engines ask Docker for one-shot readings (one daemon tick instead of two), whose `precpu_stats` is empty.
Their `cpu_stats.system_cpu_usage` is still there (checked on dockerd 20.10, cgroup v1), so

    cpu % = Δ container CPU time / Δ system CPU time × online CPUs × 100

with 100 % meaning one core fully busy. A daemon that leaves `system_cpu_usage` out (Windows, some Podman
versions) gets the same figure from the wall-clock time between the readings instead:
Δ container CPU time / Δ read time × 100 (system CPU time advances by wall time × online CPUs).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

# Docker's zero time: the `read` of a container that is not running (the rest of the document is zeros).
NOT_READ = "0001-01-01T00:00:00Z"
# A rate above this is an artefact (counters of a recreated interface, a clock step), not traffic.
MAX_RATE_BYTES = 10 * 1000**3  # 10 GB/s


class NotRunning(ValueError):
    """Docker sent the empty document of a container that is not running (it stopped during the read)."""


@dataclass(frozen=True)
class StatsSample:
    """One reading of one container, in cumulative counters as Docker reports them."""

    container_id: str
    read_at: datetime  # the daemon's time of the reading (aware, UTC)
    cpu_total_ns: int
    system_total_ns: int | None  # the host's CPU time over all CPUs; None when the daemon does not say
    online_cpus: int
    memory_usage_bytes: int  # the working set: usage without the inactive file cache, like `docker stats`
    memory_limit_bytes: int  # the host's memory when the container has no limit
    net_rx_bytes: int  # all interfaces; 0 without a network (network_mode none)
    net_tx_bytes: int
    blk_read_bytes: int
    blk_write_bytes: int
    pids: int


@dataclass(frozen=True)
class ContainerMetrics:
    """What a user sees for a container at one reading: absolute values, and what needs the previous reading
    (CPU %, rates) or None when there is none or it cannot be trusted."""

    container_id: str
    read_at: datetime
    cpu_percent: float | None  # 100 = one core busy; up to online CPUs × 100
    memory_bytes: int
    memory_limit_bytes: int
    memory_percent: float | None
    net_rx_bytes: int
    net_tx_bytes: int
    net_rx_rate: float | None  # bytes per second
    net_tx_rate: float | None
    blk_read_bytes: int
    blk_write_bytes: int
    blk_read_rate: float | None
    blk_write_rate: float | None
    pids: int


@dataclass(frozen=True)
class DiskUsage:
    mount: str  # where the file system is mounted on the machine (not inside an agent's container)
    device: str
    fstype: str
    total_bytes: int
    used_bytes: int
    used_percent: float  # like df: of what non-root users can get (root's reserve left out)


@dataclass(frozen=True)
class HostStats:
    """One reading of a whole machine (hoststats.HostReader)."""

    read_at: datetime
    cpu_percent: float | None  # of the whole machine (100 = every core busy), since the previous reading
    cpu_count: int
    memory_total_bytes: int
    memory_used_bytes: int  # MemTotal - MemAvailable
    memory_percent: float
    load_1: float
    load_5: float
    load_15: float
    disks: tuple[DiskUsage, ...]
    net_rx_bytes: int  # over the machine's interfaces (not loopback, not Docker's virtual ones)
    net_tx_bytes: int


# --- Docker's document -----------------------------------------------------------------------------------------


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _working_set(memory: Mapping[str, Any]) -> int:
    usage = _int(memory.get("usage"))
    details = memory.get("stats") or {}
    # cgroup v1 names the hierarchy's figure total_inactive_file; v2 has only inactive_file. Both are page
    # cache the kernel reclaims first, so `docker stats` leaves them out.
    inactive = details.get("total_inactive_file", details.get("inactive_file"))
    if isinstance(inactive, int) and 0 <= inactive <= usage:
        return usage - inactive
    return usage


def _block_io(blkio: Mapping[str, Any]) -> tuple[int, int]:
    read = write = 0
    # v1 says "Read"/"Write" per device (plus Sync, Async, Total, ...); v2 "read"/"write". Often empty or null.
    for entry in blkio.get("io_service_bytes_recursive") or ():
        op = str(entry.get("op", "")).lower()
        if op == "read":
            read += _int(entry.get("value"))
        elif op == "write":
            write += _int(entry.get("value"))
    return read, write


def sample_from_docker(raw: Mapping[str, Any]) -> StatsSample:
    """A StatsSample from one stats document (`GET /containers/{id}/stats?stream=0`, one-shot or not).

    Raises NotRunning for the empty document Docker sends for a container that is not running (its `read`
    is Docker's zero time and its memory_stats empty), and ValueError for anything else that is no reading.
    """
    if not isinstance(raw, Mapping):
        raise ValueError("not a stats document: not a JSON object")
    read = raw.get("read")
    if read == NOT_READ:
        raise NotRunning(f"container {raw.get('id', '?')} is not running")
    cpu, memory = raw.get("cpu_stats"), raw.get("memory_stats")
    if not isinstance(cpu, Mapping) or not isinstance(memory, Mapping) or not memory:
        raise ValueError("not a stats document: no cpu_stats or memory_stats")
    container_id = raw.get("id")
    if not isinstance(container_id, str) or not isinstance(read, str):
        raise ValueError("not a stats document: no id or read time")
    try:
        read_at = datetime.fromisoformat(read)  # 3.11 takes Docker's "Z" and cuts its nanoseconds
    except ValueError:
        raise ValueError(f"not a stats document: read time {read!r}") from None
    if read_at.tzinfo is None:
        raise ValueError(f"not a stats document: read time {read!r} has no time zone")
    usage = cpu.get("cpu_usage") or {}
    system = cpu.get("system_cpu_usage")
    networks = (raw.get("networks") or {}).values()
    blk_read, blk_write = _block_io(raw.get("blkio_stats") or {})
    return StatsSample(
        container_id=container_id,
        read_at=read_at,
        cpu_total_ns=_int(usage.get("total_usage")),
        system_total_ns=system if isinstance(system, int) and system > 0 else None,
        # Old daemons have no online_cpus, only the per-CPU list; cgroup v2 has no per-CPU list.
        online_cpus=_int(cpu.get("online_cpus")) or len(usage.get("percpu_usage") or ()) or 1,
        memory_usage_bytes=_working_set(memory),
        memory_limit_bytes=_int(memory.get("limit")),
        net_rx_bytes=sum(_int(net.get("rx_bytes")) for net in networks),
        net_tx_bytes=sum(_int(net.get("tx_bytes")) for net in networks),
        blk_read_bytes=blk_read,
        blk_write_bytes=blk_write,
        pids=_int((raw.get("pids_stats") or {}).get("current")),
    )


# --- two readings -------------------------------------------------------------------------------------------------


def _cpu_percent(sample: StatsSample, previous: StatsSample) -> float | None:
    used = sample.cpu_total_ns - previous.cpu_total_ns
    if used < 0:
        return None  # the container restarted: its counter began again
    if sample.system_total_ns is not None and previous.system_total_ns is not None:
        elapsed = sample.system_total_ns - previous.system_total_ns
        cpus = sample.online_cpus
    else:
        elapsed = int((sample.read_at - previous.read_at).total_seconds() * 1e9)
        cpus = 1
    if elapsed <= 0:
        return None  # the same daemon tick twice, or the clock went back
    return used / elapsed * cpus * 100


def rate(current: int, previous: int, seconds: float) -> float | None:
    """Bytes per second between two readings of a counter; None when the figure would be meaningless: the
    counter went back (reset), no time passed (or the clock went back), or an impossible speed."""
    delta = current - previous
    if delta < 0 or seconds <= 0:
        return None
    per_second = delta / seconds
    return per_second if per_second <= MAX_RATE_BYTES else None


def metrics_from(sample: StatsSample, previous: StatsSample | None) -> ContainerMetrics:
    """The metrics at `sample`, with CPU % and rates since `previous` (the same container's last reading)."""
    if previous is not None and previous.container_id != sample.container_id:
        raise ValueError(f"readings of two containers: {previous.container_id} then {sample.container_id}")
    seconds = (sample.read_at - previous.read_at).total_seconds() if previous else 0.0

    def since(field: str) -> float | None:
        return rate(getattr(sample, field), getattr(previous, field), seconds) if previous else None

    limit = sample.memory_limit_bytes
    return ContainerMetrics(
        container_id=sample.container_id,
        read_at=sample.read_at,
        cpu_percent=_cpu_percent(sample, previous) if previous else None,
        memory_bytes=sample.memory_usage_bytes,
        memory_limit_bytes=limit,
        memory_percent=sample.memory_usage_bytes / limit * 100 if limit > 0 else None,
        net_rx_bytes=sample.net_rx_bytes,
        net_tx_bytes=sample.net_tx_bytes,
        net_rx_rate=since("net_rx_bytes"),
        net_tx_rate=since("net_tx_bytes"),
        blk_read_bytes=sample.blk_read_bytes,
        blk_write_bytes=sample.blk_write_bytes,
        blk_read_rate=since("blk_read_bytes"),
        blk_write_rate=since("blk_write_bytes"),
        pids=sample.pids,
    )
