"""Docker's stats documents turned into samples, and two samples into the figures users see (stats.py).

The base document was captured from the real daemon (dockerd 20.10, API 1.41, cgroup v1, 2 CPUs) with
`curl --unix-socket /var/run/docker.sock 'http://localhost/v1.41/containers/<id>/stats?stream=0&one-shot=1'`
for a `testapp mem 20` container run with `-m 64m`, and trimmed. Every other document is derived from it.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dockmon_agent.stats import (
    MAX_RATE_BYTES,
    NOT_READ,
    NotRunning,
    StatsSample,
    metrics_from,
    rate,
    sample_from_docker,
)

CONTAINER_ID = "8cc3fcfe979e12fc1103f9dbf9bce5448afe96950ccd760d97ffcaa9d4271732"

# cgroup v1, one-shot: precpu_stats is empty, but cpu_stats still has system_cpu_usage.
V1: dict[str, Any] = {
    "read": "2026-11-28T18:47:35.932660105Z",
    "preread": "0001-01-01T00:00:00Z",
    "pids_stats": {"current": 4},
    "blkio_stats": {
        # The capture's list was empty (this VM's virtio disk is not accounted per cgroup); these entries have
        # the shape v1 daemons send: per device, with Sync/Async/Total beside Read and Write.
        "io_service_bytes_recursive": [
            {"major": 254, "minor": 0, "op": "Read", "value": 1175552},
            {"major": 254, "minor": 0, "op": "Write", "value": 102400},
            {"major": 254, "minor": 0, "op": "Sync", "value": 1277952},
            {"major": 254, "minor": 0, "op": "Async", "value": 0},
            {"major": 254, "minor": 0, "op": "Discard", "value": 0},
            {"major": 254, "minor": 0, "op": "Total", "value": 1277952},
            {"major": 254, "minor": 16, "op": "Read", "value": 4096},
            {"major": 254, "minor": 16, "op": "Write", "value": 8192},
            {"major": 254, "minor": 16, "op": "Total", "value": 12288},
        ],
        "io_serviced_recursive": [],
        "io_queue_recursive": [],
        "sectors_recursive": [],
    },
    "num_procs": 0,
    "storage_stats": {},
    "cpu_stats": {
        "cpu_usage": {
            "total_usage": 139916408,
            "percpu_usage": [9917459, 129998949],
            "usage_in_kernelmode": 30000000,
            "usage_in_usermode": 100000000,
        },
        "system_cpu_usage": 1913790000000,
        "online_cpus": 2,
        "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0},
    },
    "precpu_stats": {
        "cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
        "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0},
    },
    "memory_stats": {
        "usage": 22061056,
        "max_usage": 23588864,
        "stats": {
            "active_anon": 16384,
            "active_file": 4096,
            "cache": 106496,
            "hierarchical_memory_limit": 67108864,
            "inactive_anon": 21180416,
            "inactive_file": 102400,
            "rss": 21196800,
            "total_active_file": 4096,
            "total_cache": 106496,
            "total_inactive_anon": 21180416,
            "total_inactive_file": 102400,
            "total_rss": 21196800,
        },
        "limit": 67108864,
    },
    "name": "/capt-stats-a",
    "id": CONTAINER_ID,
    "networks": {
        "eth0": {
            "rx_bytes": 516,
            "rx_packets": 6,
            "rx_errors": 0,
            "rx_dropped": 0,
            "tx_bytes": 0,
            "tx_packets": 0,
            "tx_errors": 0,
            "tx_dropped": 0,
        },
    },
}

# Docker's answer for a container that is not running (captured after `docker stop`): zero time, empty memory.
STOPPED: dict[str, Any] = {
    "read": "0001-01-01T00:00:00Z",
    "preread": "0001-01-01T00:00:00Z",
    "pids_stats": {},
    "blkio_stats": {"io_service_bytes_recursive": None, "io_serviced_recursive": None},
    "num_procs": 0,
    "storage_stats": {},
    "cpu_stats": {
        "cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
        "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0},
    },
    "precpu_stats": {
        "cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
        "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0},
    },
    "memory_stats": {},
    "name": "/capt-stats-n",
    "id": "3293dc9f20c565b3863c074f33fe6d3b2147721b473eb4d2a3b7d35af21bebc8",
}


def v2() -> dict[str, Any]:
    """The same reading as a cgroup v2 daemon words it: no percpu_usage, no total_* memory figures, lowercase
    block I/O ops, four CPUs."""
    doc = copy.deepcopy(V1)
    doc["cpu_stats"]["cpu_usage"] = {
        "total_usage": 139916408,
        "usage_in_kernelmode": 30000000,
        "usage_in_usermode": 100000000,
    }
    doc["cpu_stats"]["online_cpus"] = 4
    doc["memory_stats"] = {
        "usage": 22061056,
        "stats": {"anon": 21180416, "file": 106496, "active_file": 4096, "inactive_file": 98304, "shmem": 0},
        "limit": 67108864,
    }
    doc["blkio_stats"] = {
        "io_service_bytes_recursive": [
            {"major": 259, "minor": 0, "op": "read", "value": 1175552},
            {"major": 259, "minor": 0, "op": "write", "value": 102400},
        ]
    }
    return doc


def later(
    doc: dict[str, Any],
    seconds: float = 1.0,
    *,
    cpu_ns: int = 0,
    system_ns: int | None = None,
    rx: int = 0,
    tx: int = 0,
    read: int = 0,
    written: int = 0,
) -> dict[str, Any]:
    """The next reading of `doc`'s container: `seconds` later, its counters advanced by the given amounts
    (the system's CPU time by `seconds` × online CPUs unless `system_ns` says otherwise)."""
    nxt = copy.deepcopy(doc)
    read_at = datetime.fromisoformat(doc["read"]) + timedelta(seconds=seconds)
    nxt["read"] = read_at.isoformat().replace("+00:00", "Z")
    cpu = nxt["cpu_stats"]
    cpu["cpu_usage"]["total_usage"] += cpu_ns
    if "system_cpu_usage" in cpu:
        cpu["system_cpu_usage"] += system_ns if system_ns is not None else int(seconds * 1e9 * cpu["online_cpus"])
    if nxt.get("networks"):
        nxt["networks"]["eth0"]["rx_bytes"] += rx
        nxt["networks"]["eth0"]["tx_bytes"] += tx
    for entry in nxt["blkio_stats"]["io_service_bytes_recursive"]:
        if (entry["major"], entry["minor"]) == (254, 0) or entry["major"] == 259:
            entry["value"] += {"read": read, "write": written}.get(entry["op"].lower(), 0)
    return nxt


def sample(doc: Any) -> StatsSample:
    return sample_from_docker(doc)


# --- sample_from_docker -----------------------------------------------------------------------------------------


def test_a_cgroup_v1_document() -> None:
    s = sample(V1)
    assert s == StatsSample(
        container_id=CONTAINER_ID,
        # Python keeps microseconds: Docker's nanoseconds are cut, not rounded.
        read_at=datetime(2026, 11, 28, 18, 47, 35, 932660, tzinfo=UTC),
        cpu_total_ns=139916408,
        system_total_ns=1913790000000,
        online_cpus=2,
        memory_usage_bytes=22061056 - 102400,  # like `docker stats`: without the inactive page cache
        memory_limit_bytes=67108864,
        net_rx_bytes=516,
        net_tx_bytes=0,
        blk_read_bytes=1175552 + 4096,  # Read of every device; Sync, Async, Total are not added
        blk_write_bytes=102400 + 8192,
        pids=4,
    )
    assert s.read_at.utcoffset() == timedelta(0)


def test_cgroup_v1_takes_the_hierarchys_inactive_file() -> None:
    doc = copy.deepcopy(V1)
    doc["memory_stats"]["stats"]["inactive_file"] = 0  # this cgroup's own; its children's pages are in total_*
    doc["memory_stats"]["stats"]["total_inactive_file"] = 1048576
    assert sample(doc).memory_usage_bytes == 22061056 - 1048576


def test_a_cgroup_v2_document() -> None:
    s = sample(v2())
    assert s.memory_usage_bytes == 22061056 - 98304
    assert s.online_cpus == 4
    assert (s.blk_read_bytes, s.blk_write_bytes) == (1175552, 102400)
    assert (s.cpu_total_ns, s.system_total_ns, s.memory_limit_bytes) == (139916408, 1913790000000, 67108864)


def test_online_cpus_fall_back_to_the_per_cpu_list_then_to_one() -> None:
    old = copy.deepcopy(V1)
    del old["cpu_stats"]["online_cpus"]  # daemons before API 1.27
    assert sample(old).online_cpus == 2
    neither = v2()
    del neither["cpu_stats"]["online_cpus"]
    assert sample(neither).online_cpus == 1


def test_a_container_without_network_has_no_traffic() -> None:
    doc = copy.deepcopy(V1)
    del doc["networks"]  # network_mode none: Docker leaves the key out (seen on the real daemon)
    s = sample(doc)
    assert (s.net_rx_bytes, s.net_tx_bytes) == (0, 0)
    doc["networks"] = None
    assert sample(doc).net_rx_bytes == 0


def test_traffic_of_every_interface_is_added() -> None:
    doc = copy.deepcopy(V1)
    doc["networks"]["eth1"] = {**doc["networks"]["eth0"], "rx_bytes": 1000, "tx_bytes": 2000}
    s = sample(doc)
    assert (s.net_rx_bytes, s.net_tx_bytes) == (1516, 2000)


@pytest.mark.parametrize("blkio", [{"io_service_bytes_recursive": None}, {}, None])
def test_null_or_missing_block_io_counts_nothing(blkio: dict | None) -> None:
    doc = copy.deepcopy(V1)
    doc["blkio_stats"] = blkio
    s = sample(doc)
    assert (s.blk_read_bytes, s.blk_write_bytes) == (0, 0)


def test_without_system_cpu_usage_the_system_time_is_unknown() -> None:
    doc = copy.deepcopy(V1)
    del doc["cpu_stats"]["system_cpu_usage"]  # Windows daemons, some Podman versions
    assert sample(doc).system_total_ns is None
    doc["cpu_stats"]["system_cpu_usage"] = 0
    assert sample(doc).system_total_ns is None


def test_missing_pids_and_memory_details() -> None:
    doc = copy.deepcopy(V1)
    doc["pids_stats"] = {}
    del doc["memory_stats"]["stats"]
    s = sample(doc)
    assert s.pids == 0
    assert s.memory_usage_bytes == 22061056  # nothing to take off


def test_an_inactive_file_figure_above_usage_is_ignored() -> None:
    doc = copy.deepcopy(V1)
    doc["memory_stats"]["stats"]["total_inactive_file"] = 22061056 + 1
    assert sample(doc).memory_usage_bytes == 22061056


def test_a_stopped_containers_document_is_not_running() -> None:
    with pytest.raises(NotRunning, match=STOPPED["id"]):
        sample(STOPPED)
    assert STOPPED["read"] == NOT_READ
    assert issubclass(NotRunning, ValueError)  # callers that only know ValueError still catch it


def _without(key: str) -> dict[str, Any]:
    doc = copy.deepcopy(V1)
    del doc[key]
    return doc


def _with(key: str, value: Any) -> dict[str, Any]:
    return {**copy.deepcopy(V1), key: value}


@pytest.mark.parametrize(
    "doc",
    [
        pytest.param({}, id="empty"),
        pytest.param({"message": "page not found"}, id="an error body"),
        pytest.param(_without("cpu_stats"), id="no cpu_stats"),
        pytest.param(_without("memory_stats"), id="no memory_stats"),
        pytest.param(_with("memory_stats", {}), id="empty memory_stats of a running container"),
        pytest.param(_with("cpu_stats", "busy"), id="cpu_stats not a mapping"),
        pytest.param(_without("id"), id="no id"),
        pytest.param(_without("read"), id="no read time"),
        pytest.param(_with("read", "yesterday"), id="read time not a time"),
        pytest.param(_with("read", "2026-11-28T18:47:35.932660"), id="read time without zone"),
        pytest.param(_with("read", 1764355655), id="read time a number"),
        pytest.param([], id="a list"),
        pytest.param("x", id="a string"),
        pytest.param(None, id="null"),
    ],
)
def test_garbage_is_no_reading(doc: Any) -> None:
    with pytest.raises(ValueError, match="not a stats document") as caught:
        sample(doc)
    assert not isinstance(caught.value, NotRunning)


# --- metrics_from ---------------------------------------------------------------------------------------------


def test_the_first_reading_has_absolute_values_only() -> None:
    m = metrics_from(sample(V1), None)
    assert m.cpu_percent is None
    assert (m.net_rx_rate, m.net_tx_rate, m.blk_read_rate, m.blk_write_rate) == (None, None, None, None)
    assert (m.memory_bytes, m.memory_limit_bytes, m.pids) == (22061056 - 102400, 67108864, 4)
    assert (m.net_rx_bytes, m.blk_write_bytes) == (516, 110592)
    assert m.container_id == CONTAINER_ID and m.read_at == sample(V1).read_at


def test_cpu_percent_is_computed_like_docker_stats() -> None:
    # Half a second of CPU while the system's 2 CPUs ran 1 s each: half a core = 50 % (100 % = one core).
    nxt = later(V1, 1.0, cpu_ns=500_000_000, system_ns=2_000_000_000)
    assert metrics_from(sample(nxt), sample(V1)).cpu_percent == pytest.approx(50.0)
    # Both cores busy for the whole second: 200 %.
    busy = later(V1, 1.0, cpu_ns=2_000_000_000)
    assert metrics_from(sample(busy), sample(V1)).cpu_percent == pytest.approx(200.0)
    # Docker's own formula (cli/command/container/stats_helpers.go) on the same two documents.
    cpu_delta = busy["cpu_stats"]["cpu_usage"]["total_usage"] - V1["cpu_stats"]["cpu_usage"]["total_usage"]
    system_delta = busy["cpu_stats"]["system_cpu_usage"] - V1["cpu_stats"]["system_cpu_usage"]
    docker = cpu_delta / system_delta * busy["cpu_stats"]["online_cpus"] * 100
    assert metrics_from(sample(busy), sample(V1)).cpu_percent == pytest.approx(docker)


def test_cpu_percent_of_a_cgroup_v2_container_uses_its_online_cpus() -> None:
    nxt = later(v2(), 1.0, cpu_ns=1_000_000_000)  # system time advances 4 CPUs × 1 s
    assert metrics_from(sample(nxt), sample(v2())).cpu_percent == pytest.approx(100.0)


def test_without_system_cpu_time_the_wall_clock_is_used() -> None:
    base = copy.deepcopy(V1)
    del base["cpu_stats"]["system_cpu_usage"]
    nxt = later(base, 2.0, cpu_ns=1_000_000_000)  # 1 s of CPU in 2 s
    assert metrics_from(sample(nxt), sample(base)).cpu_percent == pytest.approx(50.0)
    # Only one of the two readings has it: the wall clock still answers.
    assert metrics_from(sample(later(V1, 2.0, cpu_ns=1_000_000_000)), sample(base)).cpu_percent == pytest.approx(50.0)


def test_a_restarted_container_has_no_cpu_percent_and_no_rates_for_reset_counters() -> None:
    nxt = later(V1, 1.0, tx=5000)
    nxt["cpu_stats"]["cpu_usage"]["total_usage"] = 1000  # its counters began again
    nxt["networks"]["eth0"]["rx_bytes"] = 10
    m = metrics_from(sample(nxt), sample(V1))
    assert m.cpu_percent is None
    assert m.net_rx_rate is None
    assert m.net_tx_rate == pytest.approx(5000.0)  # the counters that went on still give a rate


def test_the_same_tick_twice_gives_no_cpu_percent_and_no_rates() -> None:
    m = metrics_from(sample(V1), sample(V1))
    assert m.cpu_percent is None
    assert (m.net_rx_rate, m.net_tx_rate, m.blk_read_rate, m.blk_write_rate) == (None, None, None, None)
    assert m.memory_bytes == 22061056 - 102400


def test_a_clock_that_went_back_gives_no_figures() -> None:
    earlier = later(V1, -3.0, cpu_ns=100, system_ns=-6_000_000_000, rx=100)
    m = metrics_from(sample(earlier), sample(V1))
    assert m.cpu_percent is None
    assert m.net_rx_rate is None
    # The wall-clock fallback too.
    base = copy.deepcopy(V1)
    del base["cpu_stats"]["system_cpu_usage"]
    assert metrics_from(sample(later(base, -1.0, cpu_ns=100)), sample(base)).cpu_percent is None


def test_rates_are_bytes_per_second() -> None:
    nxt = later(V1, 2.0, rx=3000, tx=1000, read=1_048_576, written=4096)
    m = metrics_from(sample(nxt), sample(V1))
    assert (m.net_rx_rate, m.net_tx_rate) == (pytest.approx(1500.0), pytest.approx(500.0))
    assert (m.blk_read_rate, m.blk_write_rate) == (pytest.approx(524288.0), pytest.approx(2048.0))


def test_rates_over_10_gb_per_second_are_dropped() -> None:
    nxt = later(V1, 1.0, rx=25 * 1000**3, tx=MAX_RATE_BYTES)
    m = metrics_from(sample(nxt), sample(V1))
    assert m.net_rx_rate is None  # a recreated interface's counters, not traffic
    assert m.net_tx_rate == pytest.approx(MAX_RATE_BYTES)  # the limit itself still counts


def test_rate() -> None:
    assert rate(3000, 1000, 2.0) == 1000.0
    assert rate(1000, 1000, 1.0) == 0.0
    assert rate(999, 1000, 1.0) is None
    assert rate(2000, 1000, 0.0) is None
    assert rate(2000, 1000, -1.0) is None
    assert rate(MAX_RATE_BYTES + 1, 0, 1.0) is None
    assert rate(2 * MAX_RATE_BYTES, 0, 2.0) == MAX_RATE_BYTES


def test_memory_percent_with_and_without_a_limit() -> None:
    m = metrics_from(sample(V1), None)
    assert m.memory_percent == pytest.approx((22061056 - 102400) / 67108864 * 100)  # ≈ 32.7 %
    assert 32 < m.memory_percent < 33
    for missing in (0, None):
        doc = copy.deepcopy(V1)
        doc["memory_stats"]["limit"] = missing
        unlimited = metrics_from(sample(doc), None)
        assert unlimited.memory_percent is None and unlimited.memory_limit_bytes == 0


def test_readings_of_two_containers_do_not_mix() -> None:
    other = copy.deepcopy(V1)
    other["id"] = "f" * 64
    with pytest.raises(ValueError, match="two containers"):
        metrics_from(sample(later(V1)), sample(other))
