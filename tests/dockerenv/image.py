"""The busybox test image ``dockenv/testapp:1``, built locally without any registry.

The root filesystem is an in-memory tar of the host's static busybox, one symlink per applet and the
``testapp`` entrypoint script; it is imported with the docker SDK (like ``docker import``).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import json
import os
import struct
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

from docker.client import DockerClient
from docker.errors import APIError, NotFound

REPOSITORY = "dockenv/testapp"
TAG = "1"
TEST_IMAGE = f"{REPOSITORY}:{TAG}"
IMAGE_LABEL = "org.dockenv.testapp"
# Digest of this file: an edit to the recipe below makes ensure_test_image() rebuild the image.
RECIPE_LABEL = "org.dockenv.testapp.recipe"
# Printed by testapp once its signal trap is installed; wait for it before stopping a container.
READY_MARK = "testapp: ready"

BUSYBOX_PATHS = (Path("/bin/busybox"), Path("/usr/bin/busybox"))
INSTALL_HINT = "apt-get install -y busybox-static"
# Fixed owner and mtime keep the layer identical between builds.
MTIME = 1_704_067_200  # 2024-01-01T00:00:00Z

TESTAPP = r"""#!/bin/sh
# testapp: entrypoint of dockenv/testapp:1.
#   forever        idle until stopped (default)
#   http [PORT]    busybox httpd serving /www on PORT (8080); /health answers "ok"
#   exit CODE SECS exit with CODE after SECS seconds
#   cpu N [SECS]   keep N cores busy (for SECS seconds, then exit 0)
#   mem MB         hold MB megabytes of memory
#   cpumem N MB    both
#   oom            grow PID 1 until the memory limit kills it (exit 137, OOMKilled)
#   anything else  exec'd as a command, e.g. sh -c '...'
# PID 1 gets no default signal handlers, so without this trap `docker stop` waits for its SIGKILL timeout.
on_signal() { echo "testapp: got signal, exiting"; kill $(jobs -p) 2>/dev/null; exit 0; }
trap on_signal TERM INT

if [ $# -gt 0 ]; then mode=$1; shift; else mode=forever; fi

# Sleep as a background job: `wait` returns as soon as a trapped signal arrives.
pause() { sleep "$1" & wait $!; }
idle() { while :; do pause 3600; done; }
spin() { n=0; while [ "$n" -lt "$1" ]; do { while :; do :; done; } & n=$((n + 1)); done; }
# tail -c keeps the last MB of its input in memory; the sleep keeps that input open for ever.
hold() { { head -c "${1}m" /dev/zero; exec sleep 2147483647; } | tail -c "${1}m" >/dev/null & }

case $mode in
  forever | http | exit | cpu | mem | cpumem | oom) echo "testapp: ready mode=$mode args=$* host=$(hostname)" ;;
  *) exec "$mode" "$@" ;;  # a plain command: its output stays clean, and its own signal handling applies
esac
case $mode in
  forever) idle ;;
  http) httpd -f -vv -p "${1:-8080}" -h /www & wait $! ;;
  exit) code=${1:-1}; pause "${2:-5}"; echo "testapp: exiting with $code"; exit "$code" ;;
  cpu)
    spin "${1:-1}"
    if [ -n "${2:-}" ]; then pause "$2"; kill $(jobs -p) 2>/dev/null; exit 0; fi
    idle ;;
  mem) hold "${1:-64}"; idle ;;
  cpumem) spin "${1:-1}"; hold "${2:-64}"; idle ;;
  oom) exec tail /dev/zero ;;  # /dev/zero has no newline: tail's line buffer grows without bound
esac
"""

FILES = {
    "bin/testapp": (0o755, TESTAPP.encode()),
    "www/index.html": (0o644, b"<html><body>dockenv testapp</body></html>\n"),
    "www/health": (0o644, b"ok"),
    "etc/passwd": (0o644, b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"),
    "etc/group": (0o644, b"root:x:0:\nnogroup:x:65534:\n"),
}
DIRS = {"bin": 0o755, "etc": 0o755, "root": 0o700, "tmp": 0o1777, "www": 0o755}
CHANGES = (
    'ENTRYPOINT ["/bin/testapp"]',
    'CMD ["forever"]',
    "EXPOSE 8080",
    "ENV PATH=/bin",
    f"LABEL {IMAGE_LABEL}=1",
)


class DockerEnvError(RuntimeError):
    """The Docker test environment cannot be set up (missing tools, daemon, image)."""


def is_static_elf(path: Path) -> bool:
    """True if ``path`` is an ELF executable without a PT_INTERP header (no dynamic loader needed)."""
    with path.open("rb") as f:
        ident = f.read(16)
        if len(ident) < 16 or ident[:4] != b"\x7fELF":
            return False
        order = "<" if ident[5] == 1 else ">"
        if ident[4] == 2:  # ELF64
            f.seek(32)
            (phoff,) = struct.unpack(order + "Q", f.read(8))
            f.seek(54)
        else:  # ELF32
            f.seek(28)
            (phoff,) = struct.unpack(order + "I", f.read(4))
            f.seek(42)
        phentsize, phnum = struct.unpack(order + "HH", f.read(4))
        for i in range(phnum):
            f.seek(phoff + i * phentsize)
            (p_type,) = struct.unpack(order + "I", f.read(4))
            if p_type == 3:  # PT_INTERP
                return False
    return True


def find_busybox() -> Path:
    """The host's statically linked busybox (a dynamic one cannot run in an empty root filesystem)."""
    found = [p for p in BUSYBOX_PATHS if p.is_file()]
    for path in found:
        if is_static_elf(path):
            return path
    if found:
        raise DockerEnvError(f"{', '.join(map(str, found))} is not statically linked; run: {INSTALL_HINT}")
    raise DockerEnvError(f"busybox not found at {', '.join(map(str, BUSYBOX_PATHS))}; run: {INSTALL_HINT}")


def busybox_applets(busybox: Path) -> list[str]:
    try:
        out = subprocess.run([str(busybox), "--list"], capture_output=True, text=True, check=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise DockerEnvError(f"`{busybox} --list` failed: {exc}") from exc
    # "testapp" must stay our script even if a busybox build ever ships an applet of that name.
    return sorted({a for a in out.split() if "/" not in a and a not in {"busybox", "testapp"}})


def _member(name: str, kind: bytes, mode: int, size: int = 0, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.size, info.linkname = kind, mode, size, link
    info.mtime, info.uid, info.gid, info.uname, info.gname = MTIME, 0, 0, "root", "root"
    return info


def build_rootfs(busybox: Path) -> bytes:
    """The image's root filesystem as an uncompressed tar, identical for identical inputs."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, mode in sorted(DIRS.items()):
            tar.addfile(_member(name, tarfile.DIRTYPE, mode))
        binary = busybox.read_bytes()
        tar.addfile(_member("bin/busybox", tarfile.REGTYPE, 0o755, len(binary)), io.BytesIO(binary))
        for applet in busybox_applets(busybox):
            tar.addfile(_member(f"bin/{applet}", tarfile.SYMTYPE, 0o777, link="busybox"))
        for name, (mode, data) in sorted(FILES.items()):
            tar.addfile(_member(name, tarfile.REGTYPE, mode, len(data)), io.BytesIO(data))
    return buf.getvalue()


def recipe_digest() -> str:
    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]


def _image_recipe(client: DockerClient) -> str | None:
    try:
        labels = client.api.inspect_image(TEST_IMAGE)["Config"].get("Labels") or {}
    except NotFound:
        return None
    return labels.get(RECIPE_LABEL)


def build_test_image(client: DockerClient) -> str:
    """Import the test image (replacing any older one) and return its id."""
    try:
        old_id = client.api.inspect_image(TEST_IMAGE)["Id"]
    except NotFound:
        old_id = None
    rootfs = build_rootfs(find_busybox())
    changes = [*CHANGES, f"LABEL {RECIPE_LABEL}={recipe_digest()}"]
    answer = client.api.import_image_from_data(rootfs, repository=REPOSITORY, tag=TAG, changes=changes)
    # Once the daemon has started streaming it answers 200 even on failure; errors are in the stream.
    for line in answer.splitlines():
        if line.strip() and "error" in (message := json.loads(line)):
            raise DockerEnvError(f"importing {TEST_IMAGE} failed: {message['error']}")
    new_id = client.api.inspect_image(TEST_IMAGE)["Id"]
    if old_id and old_id != new_id:
        # The outdated image is now untagged; it stays only if containers still use it.
        with contextlib.suppress(APIError):
            client.api.remove_image(old_id)
    return new_id


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    with path.open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield  # closing the file releases the lock


def ensure_test_image(client: DockerClient) -> str:
    """Build ``dockenv/testapp:1`` unless the daemon already has it from this recipe; return its name.

    A file lock keeps concurrent test processes (e.g. xdist workers) from building it twice.
    """
    want = recipe_digest()
    if _image_recipe(client) == want:
        return TEST_IMAGE
    with _file_lock(Path(tempfile.gettempdir()) / f"dockenv-testapp-{os.getuid()}.lock"):
        if _image_recipe(client) != want:  # another process may have built it while we waited
            build_test_image(client)
    return TEST_IMAGE
