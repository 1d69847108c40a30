"""A second, isolated dockerd on tcp://127.0.0.1:<port> with mutual TLS: the "remote host" of the tests.

Isolation from the main daemon (see /work/shared/DOCKER-TEST-ENV.md §2): its own pre-created bridge (never
``--bridge none``, which made dockerd 20.10 delete the host's docker0), no iptables/masquerading/forwarding
changes, its own data-root, exec-root, pidfile and empty daemon.json, and only a TCP socket (no unix socket, so
/var/run/docker.sock is untouched). Several test sessions may run one each at the same time: port, bridge
name and subnet are chosen per instance under a machine-wide file lock. Needs root, ``dockerd`` and ``ip``.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import requests
from docker.client import DockerClient
from docker.errors import DockerException
from docker.tls import TLSConfig

from .certs import CertKeyFiles, TlsCerts
from .image import DockerEnvError

DEFAULT_PORT = 2376
API_VERSION = "1.41"  # explicit: "auto" would query the daemon before trust_env can be switched off
LOOPBACK = "127.0.0.1"
SUBNET_POOL = ipaddress.ip_network("172.31.0.0/16")
BRIDGE_PREFIX = "dmtls"  # + 8 hex digits = 13 characters; Linux allows 15
READY_TIMEOUT = 30.0
STOP_TIMEOUT = 60.0  # dockerd stops every container first: ~18 s with 200 of them
# Under /tmp, not $TMPDIR: the exec-root holds containerd's unix sockets (path limit ~108 bytes).
TEMP_PARENT = Path("/tmp")
LOCK_FILE = TEMP_PARENT / "dockmon-tlsd.lock"
DIR_PREFIX = "dm-tlsd-"
PORT_FILE = "port"  # in the instance directory: reserves the port while the directory exists


@contextlib.contextmanager
def _machine_lock() -> Iterator[None]:
    """Serialises choosing port/bridge/subnet and starting, so concurrent sessions never pick the same ones."""
    with LOCK_FILE.open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


def _run(*cmd: str) -> str:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DockerEnvError(f"`{' '.join(cmd)}` could not run: {exc}") from exc
    if proc.returncode != 0:
        raise DockerEnvError(f"`{' '.join(cmd)}` failed (exit {proc.returncode}): {proc.stderr.strip()}")
    return proc.stdout


def _networks_in_use() -> list[ipaddress.IPv4Network]:
    """IPv4 networks of every interface address and route on the host."""
    used = [
        ipaddress.ip_interface(m.group(1)).network
        for m in re.finditer(r"\binet (\S+)", _run("ip", "-o", "-4", "addr", "show"))
    ]
    for line in _run("ip", "-4", "route", "show", "table", "all").splitlines():
        dest = line.split()[0] if line.split() else ""
        if dest[:1].isdigit():
            used.append(ipaddress.ip_network(dest, strict=False))
    return used


def free_subnet() -> ipaddress.IPv4Network:
    """The highest 172.31.x.0/24 that overlaps no address or route on this host."""
    used = _networks_in_use()
    for subnet in reversed(list(SUBNET_POOL.subnets(new_prefix=24))):
        if not any(subnet.overlaps(net) for net in used):
            return subnet
    raise DockerEnvError(f"no free /24 left in {SUBNET_POOL} for a test bridge")


def _port_is_free(port: int) -> bool:
    with socket.socket() as s:
        # Like dockerd's listener: connections of a previous daemon lingering in TIME_WAIT do not block the port.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((LOOPBACK, port))
        except OSError:
            return False
    return True


def _reserved_ports() -> set[int]:
    """Ports of every TlsDaemon on this machine, also of those stopped for a moment (between stop and start)."""
    return {int(p.read_text()) for p in TEMP_PARENT.glob(f"{DIR_PREFIX}*/{PORT_FILE}")}


def free_port(preferred: int = DEFAULT_PORT) -> int:
    """``preferred`` if no TlsDaemon owns it and nothing listens on it on 127.0.0.1, else a port the kernel picks."""
    reserved = _reserved_ports()
    if preferred not in reserved and _port_is_free(preferred):
        return preferred
    while True:
        with socket.socket() as s:
            s.bind((LOOPBACK, 0))
            port = s.getsockname()[1]
        if port not in reserved:
            return port


def mounts_under(root: Path) -> list[str]:
    """Mount points at or below ``root``, deepest first (the order to unmount them in)."""
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        # Field 5 is the mount point, with space, tab, newline and backslash octal-escaped.
        point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), line.split()[4])
        if point == str(root) or point.startswith(f"{root}/"):
            found.append(point)
    return sorted(found, key=lambda p: p.count("/"), reverse=True)


class TlsDaemon:
    """One mutual-TLS dockerd. ``start()`` / ``stop()`` / ``restart()`` keep its state (images, containers);
    ``teardown()`` removes every trace of it (process, mounts, bridge, files)."""

    def __init__(self, certs: TlsCerts, port: int | None = None) -> None:
        """``port=None``: 2376 when free, else any free port. Nothing starts before ``start()``."""
        self.root = Path(tempfile.mkdtemp(prefix=DIR_PREFIX, dir=TEMP_PARENT))
        self.files = certs.write(self.root / "tls")
        self.data_root = self.root / "data"
        self.exec_root = self.root / "x"
        self.log_path = self.root / "dockerd.log"
        self.config_path = self.root / "daemon.json"
        self.config_path.write_text("{}\n")  # so /etc/docker/daemon.json is not read
        self._wanted_port = port
        self.port: int | None = None
        self.bridge: str | None = None
        self.subnet: ipaddress.IPv4Network | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        if self.port is None:
            raise DockerEnvError("the TLS daemon has not been started yet")
        return f"tcp://{LOOPBACK}:{self.port}"

    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    # --- clients ----------------------------------------------------------------------------------------

    def client(
        self,
        identity: CertKeyFiles | None = None,
        ca: Path | None = None,
        timeout: float = 10.0,
        **kwargs: Any,
    ) -> DockerClient:
        """A client for this daemon: by default the good client certificate and the good CA.

        Pass ``identity``/``ca`` (e.g. ``self.files.rogue_client``, ``self.files.rogue_ca``) for negative tests.
        """
        tls = tls_config(identity or self.files.client, ca or self.files.ca)
        return make_tls_client(self.base_url, tls, timeout=timeout, **kwargs)

    # --- lifecycle --------------------------------------------------------------------------------------

    def start(self) -> None:
        """Start dockerd (a no-op if it runs) and wait until ``_ping`` answers over mutual TLS."""
        if self.is_running():
            return
        with _machine_lock():
            if self.bridge is None:
                self._create_bridge()
            if self.port is None:
                self.port = self._wanted_port or free_port()
                (self.root / PORT_FILE).write_text(f"{self.port}\n")
            log_start = self.log_path.stat().st_size if self.log_path.exists() else 0
            self._spawn()
            self._wait_ready(log_start)

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """SIGTERM and wait; dockerd stops its containers (and its containerd) before it exits."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise DockerEnvError(f"dockerd (pid {proc.pid}) ignored SIGTERM for {timeout} s and was killed") from None

    def restart(self) -> None:
        self.stop()
        self.start()

    def teardown(self) -> None:
        """Stop the daemon and remove its mounts, bridge and directory. Safe to call more than once."""
        try:
            self.stop()
        finally:
            for point in mounts_under(self.root):
                # Lazy: a busy mount (a lingering shim) must not keep the rest from being cleaned up.
                subprocess.run(["umount", "-l", point], capture_output=True, check=False)
            if self.bridge is not None:
                subprocess.run(["ip", "link", "delete", self.bridge], capture_output=True, check=False)
                self.bridge = None
            shutil.rmtree(self.root, ignore_errors=True)
        left = mounts_under(self.root)
        if left:
            raise DockerEnvError(f"mounts left behind under {self.root}: {left}")

    # --- images -----------------------------------------------------------------------------------------

    def load_image(self, source: DockerClient, image: str) -> str:
        """Copy ``image`` from ``source`` (e.g. the main daemon) into this one, streamed; returns its id."""
        with contextlib.closing(self.client(timeout=120)) as target:
            for message in target.api.load_image(source.api.get_image(image)):
                if "error" in message:
                    raise DockerEnvError(f"loading {image} into the TLS daemon failed: {message['error']}")
            return target.api.inspect_image(image)["Id"]

    # --- internals --------------------------------------------------------------------------------------

    def _create_bridge(self) -> None:
        name = f"{BRIDGE_PREFIX}{secrets.token_hex(4)}"
        subnet = free_subnet()
        _run("ip", "link", "add", "name", name, "type", "bridge")
        self.bridge = name  # from here on teardown() deletes it
        _run("ip", "addr", "add", f"{subnet[1]}/{subnet.prefixlen}", "dev", name)
        _run("ip", "link", "set", name, "up")
        self.subnet = subnet

    def _command(self) -> list[str]:
        files = self.files
        return [
            "dockerd",
            f"--config-file={self.config_path}",
            f"--data-root={self.data_root}",
            f"--exec-root={self.exec_root}",
            f"--pidfile={self.root / 'dockerd.pid'}",
            f"--host={self.base_url}",
            "--tlsverify",
            f"--tlscacert={files.ca}",
            f"--tlscert={files.server.cert}",
            f"--tlskey={files.server.key}",
            f"--bridge={self.bridge}",
            # Leave the host's firewall and sysctls to the main daemon; docker-proxy still publishes ports.
            "--iptables=false",
            "--ip-masq=false",
            "--ip-forward=false",
        ]

    def _spawn(self) -> None:
        if shutil.which("dockerd") is None:
            raise DockerEnvError("dockerd is not installed (apt-get install -y docker.io)")
        with self.log_path.open("ab") as log:
            # Own session: a Ctrl-C on pytest must not kill dockerd before teardown() can stop it cleanly.
            self._proc = subprocess.Popen(
                self._command(), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    def _log_tail(self, since: int, lines: int = 30) -> str:
        with self.log_path.open("rb") as f:
            f.seek(since)
            return "\n".join(f.read().decode(errors="replace").splitlines()[-lines:])

    def _wait_ready(self, log_start: int) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        with contextlib.closing(self.client(timeout=2)) as probe:
            while True:
                if self._proc is None or self._proc.poll() is not None:
                    code = self._proc.returncode if self._proc else None
                    self._proc = None
                    raise DockerEnvError(
                        f"dockerd exited ({code}) before answering on {self.base_url}; log {self.log_path}:\n"
                        + self._log_tail(log_start)
                    )
                try:
                    probe.ping()
                    return
                except (requests.RequestException, DockerException):
                    pass  # not listening yet
                if time.monotonic() > deadline:
                    tail = self._log_tail(log_start)
                    self.stop()
                    raise DockerEnvError(
                        f"dockerd did not answer on {self.base_url} within {READY_TIMEOUT} s; "
                        f"log {self.log_path}:\n{tail}"
                    )
                time.sleep(0.05)


def tls_config(identity: CertKeyFiles | None, ca: Path) -> TLSConfig:
    """Client TLS settings that check the server against ``ca``; ``identity=None`` sends no certificate."""
    cert = (str(identity.cert), str(identity.key)) if identity else None
    # verify=True is not TLSConfig's default: without it the server certificate goes unchecked.
    return TLSConfig(client_cert=cert, ca_cert=str(ca), verify=True)


def make_tls_client(base_url: str, tls: TLSConfig | bool, timeout: float = 10.0, **kwargs: Any) -> DockerClient:
    """A DockerClient that really uses ``tls`` (``False``: plain HTTP).

    ``trust_env = False`` because requests otherwise prefers $REQUESTS_CA_BUNDLE / $CURL_CA_BUNDLE over the
    CA in ``tls``; that is also why the API version is fixed instead of asked for in the constructor.
    """
    client = DockerClient(base_url=base_url, tls=tls, timeout=timeout, version=API_VERSION, **kwargs)
    client.api.trust_env = False
    return client
