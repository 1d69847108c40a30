"""The figures of the machine a process runs on, read from /proc and statvfs (Linux only).

Run in a container, a process sees its own /proc; the machine's is visible only when mounted in, e.g.
`-v /proc:/host/proc:ro -v /:/host/root:ro`. A /proc other than the process's own is taken to be the
machine's as seen from such a container: its network and mount namespaces are then those of the machine's
PID 1 (`<proc>/1/net/dev`, `<proc>/1/mounts`), not the container's (`<proc>/self/...`). File systems are
measured below `root`, where the machine's / is mounted.
"""

from __future__ import annotations

import functools
import os
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

from dockmon_agent.stats import DiskUsage, HostStats

PROC_ENV = "DOCKMON_HOST_PROC"
ROOT_ENV = "DOCKMON_HOST_ROOT"
OWN_PROC = Path("/proc")
# The first reading has no previous one to compare with: measure CPU over this window instead.
FIRST_WINDOW_SECONDS = 0.2

# File systems that hold no disk space of their own (kernel interfaces, memory, container layers), or whose
# statvfs can hang for minutes when the server is away (network file systems): not listed. overlay is kept
# for / only: that is the root of a container (DockMon's own, measuring itself).
_SKIPPED_FS = frozenset(
    {
        "autofs", "binfmt_misc", "bpf", "cgroup", "cgroup2", "configfs", "debugfs", "devpts", "devtmpfs",
        "efivarfs", "fusectl", "hugetlbfs", "mqueue", "nsfs", "proc", "pstore", "ramfs", "rpc_pipefs",
        "securityfs", "selinuxfs", "squashfs", "sysfs", "tmpfs", "tracefs", "nfsd",
        "nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "ceph", "glusterfs", "fuse",
    }
)  # fmt: skip
# FUSE file systems (sshfs, lxcfs, gvfs, ...) are network or virtual ones; fuseblk (ntfs-3g, exFAT) is a disk.
_SKIPPED_FS_PREFIX = "fuse."
# The bytes of a container's traffic cross its veth, Docker's bridge and the machine's real interface:
# counting Docker's virtual interfaces too would count them up to three times.
_DOCKER_IF_PREFIXES = ("veth", "docker", "br-")


class CpuTimes(NamedTuple):
    busy: int
    total: int


class Mounted(NamedTuple):
    device: str
    mount: str
    fstype: str


def _unescape(field: str) -> str:
    r"""/proc/mounts writes space, tab, newline and backslash in paths as octal escapes (\040 ...)."""
    if "\\" not in field:
        return field
    out, i = [], 0
    while i < len(field):
        code = field[i + 1 : i + 4]
        if field[i] == "\\" and len(code) == 3 and all(c in "01234567" for c in code):
            out.append(chr(int(code, 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def parse_cpu_times(text: str) -> tuple[CpuTimes, int]:
    """The machine's CPU time (all CPUs, in ticks) from /proc/stat, and how many CPUs are online."""
    times: CpuTimes | None = None
    count = 0
    for line in text.splitlines():
        name, *values = line.split()
        if name == "cpu":
            # user nice system idle iowait irq softirq steal (guest and guest_nice are inside user and nice).
            ticks = [int(v) for v in values[:8]]
            idle = sum(ticks[3:5])  # idle + iowait
            times = CpuTimes(busy=sum(ticks) - idle, total=sum(ticks))
        elif name.startswith("cpu") and name[3:].isdigit():
            count += 1
    if times is None:
        raise ValueError("/proc/stat has no cpu line")
    return times, count


def parse_meminfo(text: str) -> tuple[int, int]:
    """(total, used) bytes from /proc/meminfo; used = MemTotal - MemAvailable."""
    kib: dict[str, int] = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if value := rest.split():
            kib[key] = int(value[0])
    total = kib["MemTotal"]
    # Kernels before 3.14 have no MemAvailable: free memory plus caches is the closest figure.
    available = kib.get("MemAvailable", kib.get("MemFree", 0) + kib.get("Buffers", 0) + kib.get("Cached", 0))
    return total * 1024, max(0, total - available) * 1024


def parse_loadavg(text: str) -> tuple[float, float, float]:
    one, five, fifteen = (float(v) for v in text.split()[:3])
    return one, five, fifteen


def parse_net_dev(text: str) -> tuple[int, int]:
    """(received, sent) bytes over the machine's interfaces, from /proc/net/dev."""
    rx = tx = 0
    for line in text.splitlines()[2:]:  # two header lines
        name, _, counters = line.partition(":")
        name = name.strip()
        if not counters or name == "lo" or name.startswith(_DOCKER_IF_PREFIXES):
            continue
        values = counters.split()
        rx += int(values[0])
        tx += int(values[8])
    return rx, tx


def parse_mounts(text: str) -> list[Mounted]:
    """The real file systems in a /proc/mounts text, one entry per device (the shortest mount point wins)."""
    by_device: dict[str, Mounted] = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        device, mount, fstype = (_unescape(f) for f in fields[:3])
        if fstype in _SKIPPED_FS or fstype.startswith(_SKIPPED_FS_PREFIX):
            continue
        if fstype == "overlay" and mount != "/":
            continue  # a container's root file system, seen from the machine
        known = by_device.get(device)
        # The same device again: a bind mount (Docker's /var/lib/docker, /etc/hosts in a container).
        if known is None or len(mount) < len(known.mount):
            by_device[device] = Mounted(device, mount, fstype)
    return sorted(by_device.values(), key=lambda m: m.mount)


class HostReader:
    """Reads the machine's figures; keeps the previous CPU times so each `read()` gives CPU % since the last.

    `proc`: the machine's /proc; `root`: where its / is mounted (for disk usage); `mounts`: the mount table
    to read instead of `<proc>/<pid>/mounts`. `statvfs` and `sleep` are for tests. Thread-safe.
    """

    def __init__(
        self,
        proc: str | os.PathLike[str] = OWN_PROC,
        root: str | os.PathLike[str] = "/",
        *,
        mounts: str | os.PathLike[str] | None = None,
        statvfs: Callable[[str], os.statvfs_result] = os.statvfs,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.proc = Path(proc)
        self.root = Path(root)
        # Our own /proc: our namespaces are the machine's. Another one: the machine's, seen from a container.
        namespaces = self.proc / ("self" if self.proc == OWN_PROC else "1")
        self.mounts = Path(mounts) if mounts is not None else namespaces / "mounts"
        self.net_dev = namespaces / "net" / "dev"
        self._statvfs = statvfs
        self._sleep = sleep
        self._previous: CpuTimes | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> HostReader:
        """The reader DOCKMON_HOST_PROC (default /proc) and DOCKMON_HOST_ROOT (default /) describe."""
        return cls(environ.get(PROC_ENV) or OWN_PROC, environ.get(ROOT_ENV) or "/")

    def _cpu(self) -> tuple[CpuTimes, int]:
        return parse_cpu_times((self.proc / "stat").read_text())

    def read(self) -> HostStats:
        """Raises OSError when /proc cannot be read (not Linux, or the machine's /proc is not mounted)."""
        with self._lock:
            previous = self._previous
            if previous is None:
                previous, _ = self._cpu()
                self._sleep(FIRST_WINDOW_SECONDS)
            current, cpu_count = self._cpu()
            self._previous = current
        busy, total = current.busy - previous.busy, current.total - previous.total
        total_bytes, used_bytes = parse_meminfo((self.proc / "meminfo").read_text())
        load_1, load_5, load_15 = parse_loadavg((self.proc / "loadavg").read_text())
        rx, tx = parse_net_dev(self.net_dev.read_text())
        return HostStats(
            read_at=datetime.now(UTC),
            # No tick passed, or a reading from before a reboot (agent restarted with the machine): no figure.
            cpu_percent=busy / total * 100 if total > 0 and busy >= 0 else None,
            cpu_count=cpu_count,
            memory_total_bytes=total_bytes,
            memory_used_bytes=used_bytes,
            memory_percent=used_bytes / total_bytes * 100 if total_bytes else 0.0,
            load_1=load_1,
            load_5=load_5,
            load_15=load_15,
            disks=tuple(self._disks()),
            net_rx_bytes=rx,
            net_tx_bytes=tx,
        )

    def _disks(self) -> list[DiskUsage]:
        disks = []
        for mounted in parse_mounts(self.mounts.read_text()):
            try:
                fs = self._statvfs(str(self.root / mounted.mount.lstrip("/")))
            except OSError:
                continue  # not visible below root (mounted after the container started), or not ours to read
            if fs.f_blocks == 0:
                continue  # a pseudo file system we do not know by name
            used = (fs.f_blocks - fs.f_bfree) * fs.f_frsize
            usable = used + fs.f_bavail * fs.f_frsize
            disks.append(
                DiskUsage(
                    mount=mounted.mount,
                    device=mounted.device,
                    fstype=mounted.fstype,
                    total_bytes=fs.f_blocks * fs.f_frsize,
                    used_bytes=used,
                    used_percent=used / usable * 100 if usable else 0.0,
                )
            )
        return disks


@functools.cache
def this_machine() -> HostReader:
    """The process's one reader of its machine: it keeps the previous CPU times, so each reading covers the
    time since the last one, whichever engine asks."""
    return HostReader.from_env()
