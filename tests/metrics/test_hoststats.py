"""The machine's figures from /proc and statvfs (hoststats.py): the parsers on texts in the kernel's own format,
HostReader on a fake /proc, and HostReader on this machine compared with what other tools say."""

# ruff: noqa: E501  -- the /proc texts below keep the kernel's own column layout

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from dockmon_agent.hoststats import (
    FIRST_WINDOW_SECONDS,
    PROC_ENV,
    ROOT_ENV,
    CpuTimes,
    HostReader,
    Mounted,
    parse_cpu_times,
    parse_loadavg,
    parse_meminfo,
    parse_mounts,
    parse_net_dev,
    this_machine,
)

# Real texts (a 2-CPU Debian 12 VM, kernel 6.1), trimmed.
PROC_STAT = """\
cpu  64863 422 16771 108724 1009 0 473 52 0 0
cpu0 28208 226 7804 59482 301 0 69 24 0 0
cpu1 36654 195 8967 49242 708 0 403 28 0 0
intr 2118224 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 1 1 12 0 0 0 0 193 75 0 28 1 296581
ctxt 6780241
btime 1764351012
processes 30811
procs_running 3
procs_blocked 0
softirq 1570434 7 302877 27 85240 0 0 52212 555043 128 574900
"""
# user nice system idle iowait irq softirq steal: idle + iowait are not busy.
STAT_TOTAL = 64863 + 422 + 16771 + 108724 + 1009 + 0 + 473 + 52
STAT_BUSY = STAT_TOTAL - 108724 - 1009

MEMINFO = """\
MemTotal:       24684092 kB
MemFree:        22517532 kB
MemAvailable:   23648760 kB
Buffers:           48852 kB
Cached:          1227480 kB
SwapCached:            0 kB
Active:           655936 kB
Inactive:        1129724 kB
HugePages_Total:       0
HugePages_Free:        0
Hugepagesize:       2048 kB
DirectMap1G:    23068672 kB
"""
# A 3.10 kernel (CentOS 7's first releases) has no MemAvailable.
MEMINFO_OLD_KERNEL = """\
MemTotal:        8010432 kB
MemFree:          512000 kB
Buffers:          128000 kB
Cached:          2048000 kB
SwapCached:            0 kB
Active:          4096000 kB
"""

LOADAVG = "3.94 4.13 2.41 3/205 30778\n"

NET_DEV = """\
Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo: 35836046   81060    0    0    0     0          0         0 35836046   81060    0    0    0     0       0          0
  eth0: 323858635    7584    0    0    0     0          0         0   408091    4392    0    0    0     0       0          0
docker0:       0       0    0    0    0     0          0         0    14606     133    0    8    0     0       0          0
veth081d614: 1234567    100    0    0    0     0          0         0  7654321     200    0    0    0     0       0          0
br-6c1ad0e4b1a2: 555555    10    0    0    0     0          0         0   444444      10    0    0    0     0       0          0
wlan0:    1000      10    0    0    0     0          0         0     2000      20    0    0    0     0       0          0
"""

MOUNTS = r"""sysfs /sys sysfs rw,nosuid,nodev,noexec,relatime 0 0
proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0
udev /dev devtmpfs rw,nosuid,relatime,size=12334492k,nr_inodes=3083623,mode=755 0 0
devpts /dev/pts devpts rw,nosuid,noexec,relatime,gid=5,mode=620,ptmxmode=000 0 0
tmpfs /run tmpfs rw,nosuid,nodev,noexec,relatime,size=2468412k,mode=755 0 0
/dev/vda1 / ext4 rw,relatime,errors=remount-ro 0 0
securityfs /sys/kernel/security securityfs rw,nosuid,nodev,noexec,relatime 0 0
cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid,nodev,noexec,relatime,nsdelegate,memory_recursiveprot 0 0
bpf /sys/fs/bpf bpf rw,nosuid,nodev,noexec,relatime,mode=700 0 0
systemd-1 /proc/sys/fs/binfmt_misc autofs rw,relatime,fd=30,pgrp=1,timeout=0,minproto=5,maxproto=5,direct 0 0
mqueue /dev/mqueue mqueue rw,nosuid,nodev,noexec,relatime 0 0
/dev/vda15 /boot/efi vfat rw,relatime,fmask=0022,dmask=0022,codepage=437,iocharset=ascii,shortname=mixed 0 0
/dev/sdb1 /srv/data/backups xfs rw,relatime,attr2,inode64,logbufs=8,logbsize=32k,noquota 0 0
/dev/sdb1 /srv/data xfs rw,relatime,attr2,inode64,logbufs=8,logbsize=32k,noquota 0 0
/dev/vda1 /var/lib/docker ext4 rw,relatime,errors=remount-ro 0 0
/dev/sdc1 /media/My\040Disk\011(old) ext4 rw,nosuid,nodev,relatime 0 0
/dev/sdd1 /mnt/back\134slash fuseblk rw,relatime,user_id=0,group_id=0,allow_other,blksize=4096 0 0
overlay /var/lib/docker/overlay2/5f1c0c7d9e2b/merged overlay rw,relatime,lowerdir=/var/lib/docker/overlay2/l/ABC,upperdir=/var/lib/docker/overlay2/5f1c0c7d9e2b/diff 0 0
nsfs /run/docker/netns/1a2b3c4d nsfs rw 0 0
tmpfs /run/user/1000 tmpfs rw,nosuid,nodev,relatime,size=2468408k,nr_inodes=617102,mode=700,uid=1000,gid=1000 0 0
gvfsd-fuse /run/user/1000/gvfs fuse.gvfsd-fuse rw,nosuid,nodev,relatime,user_id=1000,group_id=1000 0 0
nas.local:/export/media /mnt/nas nfs4 rw,relatime,vers=4.2,rsize=1048576,wsize=1048576 0 0
//fileserver/share /mnt/share cifs rw,relatime,vers=3.1.1,cache=strict 0 0
lxcfs /var/lib/lxcfs fuse.lxcfs rw,nosuid,nodev,relatime,user_id=0,group_id=0,allow_other 0 0
/dev/loop3 /snap/core22/1380 squashfs ro,nodev,relatime,errors=continue 0 0
"""

# A container's own mount table (DockMon in a container measuring itself): overlay is its / and is kept.
CONTAINER_MOUNTS = """\
overlay / overlay rw,relatime,lowerdir=/var/lib/docker/overlay2/l/X:/var/lib/docker/overlay2/l/Y 0 0
proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0
tmpfs /dev tmpfs rw,nosuid,size=65536k,mode=755 0 0
shm /dev/shm tmpfs rw,nosuid,nodev,noexec,relatime,size=65536k 0 0
/dev/vda1 /etc/hosts ext4 rw,relatime,errors=remount-ro 0 0
/dev/vda1 /etc/hostname ext4 rw,relatime,errors=remount-ro 0 0
/dev/vda1 /data ext4 rw,relatime,errors=remount-ro 0 0
"""


# --- the parsers --------------------------------------------------------------------------------------------


def test_proc_stat_gives_busy_and_total_ticks_and_the_online_cpus() -> None:
    times, count = parse_cpu_times(PROC_STAT)
    assert times == CpuTimes(busy=STAT_BUSY, total=STAT_TOTAL)
    assert count == 2


def test_proc_stat_of_an_old_kernel_with_fewer_columns() -> None:
    # 2.6.11+ has steal, 2.6.24+ guest: a line with 7 values still parses; cpuN lines count however many.
    text = "cpu  100 0 50 800 50 0 0\n" + "".join(f"cpu{n} 25 0 12 200 12 0 0\n" for n in range(4))
    times, count = parse_cpu_times(text)
    assert times == CpuTimes(busy=150, total=1000)
    assert count == 4


def test_proc_stat_without_a_cpu_line_is_refused() -> None:
    with pytest.raises(ValueError, match="no cpu line"):
        parse_cpu_times("intr 1 2 3\nctxt 4\n")


def test_meminfo_used_is_total_minus_available() -> None:
    total, used = parse_meminfo(MEMINFO)
    assert total == 24684092 * 1024
    assert used == (24684092 - 23648760) * 1024


def test_meminfo_of_a_kernel_without_mem_available_counts_free_buffers_and_cache() -> None:
    total, used = parse_meminfo(MEMINFO_OLD_KERNEL)
    assert total == 8010432 * 1024
    assert used == (8010432 - 512000 - 128000 - 2048000) * 1024


def test_loadavg() -> None:
    assert parse_loadavg(LOADAVG) == (3.94, 4.13, 2.41)


def test_net_dev_leaves_out_loopback_and_dockers_virtual_interfaces() -> None:
    # eth0 and wlan0 only: lo, docker0, veth* and br-* carry the same bytes again (or never leave the machine).
    assert parse_net_dev(NET_DEV) == (323858635 + 1000, 408091 + 2000)


def test_net_dev_with_only_the_headers_and_loopback_is_zero() -> None:
    assert parse_net_dev("\n".join(NET_DEV.splitlines()[:3])) == (0, 0)


def test_mounts_lists_real_file_systems_once_per_device() -> None:
    assert parse_mounts(MOUNTS) == [
        Mounted("/dev/vda1", "/", "ext4"),  # /var/lib/docker is the same device again
        Mounted("/dev/vda15", "/boot/efi", "vfat"),
        Mounted("/dev/sdc1", "/media/My Disk\t(old)", "ext4"),  # octal escapes of space and tab
        Mounted("/dev/sdd1", "/mnt/back\\slash", "fuseblk"),  # a FUSE disk (ntfs-3g) is a disk
        Mounted("/dev/sdb1", "/srv/data", "xfs"),  # the shortest mount point wins, whatever the order
    ]


def test_mounts_skip_pseudo_network_and_fuse_file_systems_and_container_layers() -> None:
    listed = {m.fstype for m in parse_mounts(MOUNTS)}
    skipped = {"sysfs", "proc", "devtmpfs", "devpts", "tmpfs", "securityfs", "cgroup2", "bpf", "autofs", "mqueue",
               "overlay", "nsfs", "fuse.gvfsd-fuse", "nfs4", "cifs", "fuse.lxcfs", "squashfs"}  # fmt: skip
    assert not listed & skipped


def test_mounts_in_a_container_keep_its_overlay_root() -> None:
    assert parse_mounts(CONTAINER_MOUNTS) == [
        Mounted("overlay", "/", "overlay"),
        Mounted("/dev/vda1", "/data", "ext4"),  # the bind mounts of /etc/hosts & co. are the same device
    ]


def test_mounts_ignore_short_and_empty_lines() -> None:
    assert parse_mounts("\n/dev/vda1 /\nrootfs\n/dev/vda1 / ext4 rw 0 0\n") == [Mounted("/dev/vda1", "/", "ext4")]


# --- HostReader on a fake /proc -----------------------------------------------------------------------------


def stat_text(busy: int, idle: int, cpus: int = 2) -> str:
    """A /proc/stat whose cpu line has `busy` ticks (user) and `idle` ticks."""
    return f"cpu  {busy} 0 0 {idle} 0 0 0 0 0 0\n" + "".join(f"cpu{n} 0 0 0 0 0 0 0 0 0 0\n" for n in range(cpus))


def fs(blocks: int, free: int, avail: int, frsize: int = 4096) -> os.statvfs_result:
    return os.statvfs_result((frsize, frsize, blocks, free, avail, 1000, 500, 500, 0, 255))


class FakeMachine:
    """A machine's /proc as a container sees it mounted (<proc>/1/... for the network and mounts), its / at
    `root`, a statvfs answering from a table, and a sleep that lets time (CPU ticks) pass."""

    def __init__(self, tmp_path: Path) -> None:
        self.proc = tmp_path / "proc"
        self.root = tmp_path / "root"
        (self.proc / "1" / "net").mkdir(parents=True)
        self.root.mkdir()
        self.write(stat=stat_text(1000, 9000), meminfo=MEMINFO, loadavg=LOADAVG)
        (self.proc / "1" / "net" / "dev").write_text(NET_DEV)
        (self.proc / "1" / "mounts").write_text(MOUNTS)
        self.file_systems = {
            str(self.root): fs(blocks=1000, free=300, avail=250),  # / : 700 used, 50 blocks reserved for root
            str(self.root / "boot/efi"): fs(blocks=0, free=0, avail=0),  # reports no blocks: left out
            str(self.root / "srv/data"): fs(blocks=2_000_000, free=1_500_000, avail=1_500_000, frsize=1024),
            str(self.root / "media/My Disk\t(old)"): fs(blocks=100, free=100, avail=100),
            # /mnt/back\slash is not visible below root: statvfs fails, the disk is left out
        }
        self.asked: list[str] = []
        self.slept: list[float] = []
        self.after_sleep = stat_text(1000, 9000)

    def write(self, **files: str) -> None:
        for name, text in files.items():
            (self.proc / name).write_text(text)

    def statvfs(self, path: str) -> os.statvfs_result:
        self.asked.append(path)
        try:
            return self.file_systems[path]
        except KeyError:
            raise FileNotFoundError(2, "No such file or directory", path) from None

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.write(stat=self.after_sleep)

    def reader(self, **options) -> HostReader:
        return HostReader(self.proc, self.root, statvfs=self.statvfs, sleep=self.sleep, **options)


@pytest.fixture
def machine(tmp_path: Path) -> FakeMachine:
    return FakeMachine(tmp_path)


def test_the_first_reading_measures_cpu_over_the_first_window(machine: FakeMachine) -> None:
    machine.after_sleep = stat_text(1000 + 30, 9000 + 10)  # 40 ticks passed during the window, 30 busy
    stats = machine.reader().read()
    assert machine.slept == [FIRST_WINDOW_SECONDS]
    assert stats.cpu_percent == pytest.approx(75.0)
    assert stats.cpu_count == 2
    assert (stats.memory_total_bytes, stats.memory_used_bytes) == (24684092 * 1024, (24684092 - 23648760) * 1024)
    assert stats.memory_percent == pytest.approx((24684092 - 23648760) / 24684092 * 100)
    assert (stats.load_1, stats.load_5, stats.load_15) == (3.94, 4.13, 2.41)
    assert (stats.net_rx_bytes, stats.net_tx_bytes) == parse_net_dev(NET_DEV)  # from <proc>/1/net/dev
    assert stats.read_at.tzinfo is not None


def test_later_readings_cover_the_time_since_the_previous_one(machine: FakeMachine) -> None:
    machine.after_sleep = stat_text(1010, 9010)
    reader = machine.reader()
    reader.read()
    machine.write(stat=stat_text(1010 + 10, 9010 + 90))
    second = reader.read()
    assert machine.slept == [FIRST_WINDOW_SECONDS]  # no more waiting after the first reading
    assert second.cpu_percent == pytest.approx(10.0)
    machine.write(stat=stat_text(1020 + 200, 9100))
    assert reader.read().cpu_percent == pytest.approx(100.0)


def test_no_tick_or_counters_from_before_a_reboot_give_no_cpu_percent(machine: FakeMachine) -> None:
    reader = machine.reader()
    assert reader.read().cpu_percent is None  # the fake's clock did not tick during the window
    machine.write(stat=stat_text(10, 500))  # the machine rebooted since: counters began again
    assert reader.read().cpu_percent is None
    machine.write(stat=stat_text(20, 590))
    assert reader.read().cpu_percent == pytest.approx(10.0)  # and from there on it counts again


def test_disks_are_measured_below_root_with_used_percent_like_df(machine: FakeMachine) -> None:
    disks = {d.mount: d for d in machine.reader().read().disks}
    assert set(disks) == {"/", "/srv/data", "/media/My Disk\t(old)"}
    root = disks["/"]
    assert (root.device, root.fstype) == ("/dev/vda1", "ext4")
    assert (root.total_bytes, root.used_bytes) == (1000 * 4096, 700 * 4096)
    # df: used / (used + available to users); root's reserved 50 blocks are in neither.
    assert root.used_percent == pytest.approx(700 / 950 * 100)
    assert math.ceil(root.used_percent) == 74  # what df prints as Use%
    data = disks["/srv/data"]
    assert (data.total_bytes, data.used_bytes, data.used_percent) == (2_000_000 * 1024, 500_000 * 1024, 25.0)
    assert disks["/media/My Disk\t(old)"].used_percent == 0.0
    assert str(machine.root / "mnt/back\\slash") in machine.asked  # asked, failed, left out
    assert all(path.startswith(str(machine.root)) for path in machine.asked)


def test_another_mount_table_can_be_given(machine: FakeMachine, tmp_path: Path) -> None:
    table = tmp_path / "mounts"
    table.write_text("/dev/sdb1 /srv/data xfs rw 0 0\n")
    assert [d.mount for d in machine.reader(mounts=table).read().disks] == ["/srv/data"]


def test_a_proc_without_the_files_raises_os_error(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        HostReader(tmp_path, sleep=lambda s: None).read()


def test_concurrent_first_readings_wait_once(machine: FakeMachine) -> None:
    reader = machine.reader()
    results = []
    threads = [threading.Thread(target=lambda: results.append(reader.read())) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(results) == 4
    assert machine.slept == [FIRST_WINDOW_SECONDS]


def test_the_reader_follows_the_environment(tmp_path: Path) -> None:
    reader = HostReader.from_env({PROC_ENV: str(tmp_path / "proc"), ROOT_ENV: str(tmp_path / "root")})
    assert (reader.proc, reader.root) == (tmp_path / "proc", tmp_path / "root")
    # Another /proc is the machine's seen from a container: its PID 1 has the machine's namespaces.
    assert (reader.mounts, reader.net_dev) == (tmp_path / "proc/1/mounts", tmp_path / "proc/1/net/dev")
    own = HostReader.from_env({})
    assert (own.proc, own.root) == (Path("/proc"), Path("/"))
    assert (own.mounts, own.net_dev) == (Path("/proc/self/mounts"), Path("/proc/self/net/dev"))


# --- this machine -------------------------------------------------------------------------------------------


def _kib(field: str) -> int:
    match = re.search(rf"^{field}:\s+(\d+) kB", Path("/proc/meminfo").read_text(), re.MULTILINE)
    assert match, field
    return int(match.group(1)) * 1024


def _interface_bytes() -> tuple[int, int]:
    """The same interfaces' counters from sysfs, another view of the kernel's figures."""
    rx = tx = 0
    for interface in Path("/sys/class/net").iterdir():
        if interface.name == "lo" or interface.name.startswith(("veth", "docker", "br-")):
            continue
        rx += int((interface / "statistics/rx_bytes").read_text())
        tx += int((interface / "statistics/tx_bytes").read_text())
    return rx, tx


def test_this_machines_figures_are_plausible() -> None:
    reader = HostReader()
    stats = reader.read()
    assert stats.cpu_count == os.cpu_count()
    assert stats.cpu_percent is not None and 0 <= stats.cpu_percent <= 100
    assert stats.memory_total_bytes == _kib("MemTotal")
    assert abs(stats.memory_used_bytes - (_kib("MemTotal") - _kib("MemAvailable"))) < 512 * 2**20
    assert 0 < stats.memory_percent < 100
    for ours, theirs in zip((stats.load_1, stats.load_5, stats.load_15), os.getloadavg(), strict=True):
        assert abs(ours - theirs) < 2.0
    rx, tx = _interface_bytes()
    assert rx - 50 * 2**20 <= stats.net_rx_bytes <= rx and tx - 50 * 2**20 <= stats.net_tx_bytes <= tx

    disks = {d.mount: d for d in stats.disks}
    assert "/" in disks, stats.disks
    usage = shutil.disk_usage("/")
    root = disks["/"]
    assert root.total_bytes == usage.total
    assert abs(root.used_bytes - usage.used) < 256 * 2**20  # other work writes meanwhile
    assert root.used_percent == pytest.approx(usage.used / (usage.used + usage.free) * 100, abs=0.5)
    df = subprocess.run(["df", "--output=pcent", "/"], capture_output=True, text=True, check=True).stdout
    assert abs(math.ceil(root.used_percent) - int(df.split()[-1].rstrip("%"))) <= 1
    assert not {d.fstype for d in stats.disks} & {"tmpfs", "proc", "sysfs", "cgroup", "cgroup2"}
    assert len({d.device for d in stats.disks}) == len(stats.disks)


def test_this_machine_is_one_reader_for_the_process() -> None:
    assert this_machine() is this_machine()
    assert isinstance(this_machine(), HostReader)
