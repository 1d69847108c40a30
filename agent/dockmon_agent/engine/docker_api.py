"""Engines that speak the Docker Engine API with the docker SDK: a socket (or plain TCP) and mutual TLS.

`DockerApiEngine` holds the whole implementation around one `docker.APIClient`; `SocketEngine` and
`TlsEngine` differ only in how that client is built. Every SDK, requests, urllib3 and ssl exception is
turned into our `EngineError` family in one place, `translate_error()`.
"""

from __future__ import annotations

import contextlib
import errno
import http.client
import json
import logging
import os
import re
import shutil
import socket
import ssl
import struct
import tempfile
import threading
import traceback
import weakref
from abc import abstractmethod
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple, Protocol, Self, TypeVar
from urllib.parse import quote, urlsplit

import requests
import urllib3
from docker import APIClient
from docker.constants import DEFAULT_DOCKER_API_VERSION
from docker.errors import APIError, DockerException, create_api_error_from_http_exception
from docker.tls import TLSConfig
from docker.utils import version_lt
from requests.adapters import HTTPAdapter

from dockmon_agent.engine.base import (
    Action,
    CertificateRejected,
    Conflict,
    ContainerSnapshot,
    ContainerState,
    DockerEvent,
    Engine,
    EngineError,
    EngineTimeout,
    Health,
    HostFacts,
    HostUnreachable,
    ImageInfo,
    Mount,
    NetworkInfo,
    NotDockerApi,
    NotFound,
    NotModified,
    NotSupported,
    PortBinding,
    PruneResult,
    ServerCertificateInvalid,
    Stream,
    TlsHandshakeFailed,
    VolumeInfo,
)
from dockmon_agent.hoststats import PROC_ENV, this_machine
from dockmon_agent.stats import HostStats, NotRunning, StatsSample, sample_from_docker

logger = logging.getLogger(__name__)


class HostAddress(Protocol):
    """What a spec is built from: the server's Host model, or anything with these attributes."""

    url: str
    tls_ca: str
    tls_cert: str
    tls_key: str


DEFAULT_SOCKET_URL = "unix:///var/run/docker.sock"
PLAIN_PORT = 2375
TLS_PORT = 2376
DEFAULT_TIMEOUT = 10.0
# The oldest API we are written and tested against (Docker 20.10, Podman 4), and the newest this SDK knows.
# Between the two we use what the daemon offers: Docker 29 refuses clients older than 1.44.
OLDEST_API = "1.41"
NEWEST_API = DEFAULT_DOCKER_API_VERSION
# containers() inspects every container: 8 requests in flight cut it ~5x at 5 ms RTT (no gain on a local
# socket).
INSPECT_WORKERS = 8
# stats() asks for every container at once: the daemon answers all waiting requests at its next 1-second
# collector tick, so N containers take ~ceil(N / STATS_WORKERS) ticks. Threads are cheap next to a tick.
STATS_WORKERS = 128
# Keep-alive connections kept per TCP daemon: one per stats worker, so the next sweep neither connects nor
# shakes hands again (urllib3 closes connections beyond the pool size when they are returned).
POOL_CONNECTIONS = STATS_WORKERS
# A stats request waits up to one tick (one-shot) or two (older APIs), longer on a busy daemon: the host's
# timeout, but at least the first figure; and a hung daemon holds a sweep no longer than the second.
STATS_TIMEOUT_RANGE = (3.0, 10.0)
ONE_SHOT_API = "1.41"  # one_shot=true: one tick instead of two, without precpu_stats
BUILTIN_NETWORKS = frozenset({"bridge", "host", "none"})
READ_SIZE = 64 * 1024
# A container writing without newlines must not grow our buffer for ever: longer lines are cut here.
MAX_LINE_BYTES = 64 * 1024
NO_TIME = "0001-01-01T00:00:00Z"  # Docker's "never"


@dataclass(frozen=True)
class ConnectionSpec:
    """Where and how to reach a daemon: from a Host, or straight from the "Test connection" form."""

    url: str
    # Kept out of repr: a spec ends up in tracebacks and logs.
    ca_pem: str = field(default="", repr=False)
    cert_pem: str = field(default="", repr=False)
    key_pem: str = field(default="", repr=False)
    timeout: float = DEFAULT_TIMEOUT

    @classmethod
    def from_host(cls, host: HostAddress) -> ConnectionSpec:
        return cls(url=host.url, ca_pem=host.tls_ca, cert_pem=host.tls_cert, key_pem=host.tls_key)


# --- error translation --------------------------------------------------------------------------------------


class _Unchanged(Exception):
    """The daemon answered 304 Not Modified (start of a running / stop of a stopped container)."""


def _raise_on_not_modified(response: requests.Response, *args: Any, **kwargs: Any) -> None:
    # requests treats 304 as success and the SDK returns silently; a response hook makes it visible.
    if response.status_code == 304:
        response.close()
        raise _Unchanged


class _Target(NamedTuple):
    kind: str  # container / image / network / volume
    ref: str


_NOT_MODIFIED = {
    Action.START: "The container is already started.",
    Action.STOP: "The container is already stopped.",
}

# Docker answers these with 400, 403, 409 or 500 depending on the call and the version: match the text.
_STATE_ERRORS: tuple[tuple[re.Pattern[str], type[EngineError], str], ...] = (
    (re.compile(r"is already paused"), NotModified, "The container is already paused."),
    (re.compile(r"is not paused"), NotModified, "The container is not paused."),
    (re.compile(r"same name as its current name"), NotModified, "The container already has this name."),
    (
        re.compile(r'container name "/?([^"]+)" is already in use'),
        Conflict,
        "The name “{0}” is already in use by another container.",
    ),
    (re.compile(r"cannot start a paused container"), Conflict, "The container is paused: unpause it instead."),
    (re.compile(r"is not running"), Conflict, "The container is not running."),
    (
        re.compile(r"cannot remove a running container"),
        Conflict,
        "The container is running: stop it first, or remove it with force.",
    ),
    (
        re.compile(r"removal of container .* is already in progress"),
        Conflict,
        "The container is already being removed.",
    ),
    (re.compile(r"has active endpoints"), Conflict, "Containers are still connected to the network."),
    (re.compile(r"volume is in use"), Conflict, "The volume is still used by a container."),
    (re.compile(r"container ([0-9a-f]{12}) is using its referenced image"), Conflict, "Container {0} uses the image."),
    (
        re.compile(r"being used by (?:running|stopped) container ([0-9a-f]{12})"),
        Conflict,
        "Container {0} uses the image.",
    ),
    (
        re.compile(r"referenced in multiple repositories"),
        Conflict,
        "The image has several tags: remove it by tag, or with force.",
    ),
)

# OpenSSL alert reasons meaning "the daemon did not accept our client certificate".
_UNTRUSTED = "it is not signed by a CA the daemon trusts, expired, or not meant for client use"
_REJECTED = {
    "SSLV3_ALERT_BAD_CERTIFICATE": _UNTRUSTED,  # Go's TLS (dockerd) sends this one for all of them, expiry too
    "SSLV3_ALERT_CERTIFICATE_UNKNOWN": _UNTRUSTED,
    "TLSV1_ALERT_UNKNOWN_CA": "it is not signed by a CA the daemon trusts",
    "SSLV3_ALERT_UNSUPPORTED_CERTIFICATE": "its type or usage is not accepted",
    "SSLV3_ALERT_CERTIFICATE_EXPIRED": "it has expired",
    "SSLV3_ALERT_CERTIFICATE_REVOKED": "it has been revoked",
    "TLSV13_ALERT_CERTIFICATE_REQUIRED": "the daemon wants one and got none",
    "TLSV1_ALERT_ACCESS_DENIED": "access denied",
}
# The peer does not speak TLS at all (typically plain HTTP on the port).
_NOT_TLS = {"WRONG_VERSION_NUMBER", "HTTP_REQUEST", "PACKET_LENGTH_TOO_LONG", "RECORD_LAYER_FAILURE"}
# Our own files could not be loaded into the TLS context.
_BAD_MATERIAL = {"PEM_LIB", "NO_START_LINE", "NO_CERTIFICATE_OR_CRL_FOUND", "EE_KEY_TOO_SMALL", "CA_MD_TOO_WEAK"}

_HEX_ID = re.compile(r"\b(?:sha256:)?([0-9a-f]{12})[0-9a-f]{52}\b")


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception and everything it wraps: requests → urllib3 (MaxRetryError.reason) → ssl/OSError.
    Not __context__: an unrelated error being handled at the time must not decide the diagnosis."""
    seen: set[int] = set()
    todo = [exc]
    while todo:
        current = todo.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        nested = (getattr(current, "reason", None), current.__cause__, *current.args)
        todo.extend(e for e in nested if isinstance(e, BaseException))


_E = TypeVar("_E", bound=BaseException)


def _find(
    exc: BaseException, kind: type[_E] | tuple[type[_E], ...], test: Callable[[_E], bool] = lambda e: True
) -> _E | None:
    """The first exception of `kind` (passing `test`) in what `exc` wraps."""
    return next((e for e in _chain(exc) if isinstance(e, kind) and test(e)), None)


def _readable(message: str) -> str:
    """Docker's error text for people: no "Error response from daemon:" style prefixes, short ids."""
    message = message.strip()
    for prefix in ("Error response from daemon:", "Error when allocating new name:", "error while removing network:"):
        message = message.removeprefix(prefix).strip()
    message = _HEX_ID.sub(r"\1", message)
    if not message:
        return "Docker reported an error without a message."
    message = message[0].upper() + message[1:]
    return message if message.endswith((".", "!", "?")) else f"{message}."


def _api_error(exc: APIError, url: str, target: _Target | None) -> EngineError:
    response = exc.response
    status = exc.status_code or 0
    # Every answer of a Docker (or Podman) API route carries Api-Version; other servers' answers do not.
    if response is not None and "Api-Version" not in response.headers:
        if "HTTP request to an HTTPS server" in response.text:
            return NotDockerApi(f"{url} expects TLS: add it as a mutual-TLS host with certificates.")
        if status == 404:
            path = urlsplit(response.url).path
            return NotDockerApi(f"Something answers at {url}, but it is not a Docker API (HTTP {status} for {path}).")
        return EngineError(f"{url} refused the request (HTTP {status} {response.reason}); is a proxy in the way?")
    message = str(exc.explanation or exc)
    if status == 404:
        if target and target.kind in message.lower():
            return NotFound(f"There is no {target.kind} “{target.ref}” on this host.")
        return NotFound(_readable(message))
    for pattern, error_class, text in _STATE_ERRORS:
        if match := pattern.search(message):
            return error_class(text.format(*match.groups()))
    return EngineError(_readable(message))


def _tls_error(error: ssl.SSLError, url: str) -> EngineError:
    if isinstance(error, ssl.SSLCertVerificationError):
        detail = error.verify_message or "verification failed"
        if "mismatch" in detail:
            return ServerCertificateInvalid(f"The certificate of {url} is made out to another host ({detail}).")
        return ServerCertificateInvalid(
            f"The certificate of {url} does not verify against this host's CA certificate ({detail})."
        )
    reason = error.reason or ""
    if reason in _REJECTED:
        return CertificateRejected(f"{url} rejected DockMon's client certificate: {_REJECTED[reason]}.")
    if reason == "KEY_VALUES_MISMATCH":
        return TlsHandshakeFailed("The client key does not belong to the client certificate.")
    if reason in _BAD_MATERIAL:
        return TlsHandshakeFailed(f"DockMon could not load this host's certificates or key ({reason}).")
    if reason in _NOT_TLS:
        return TlsHandshakeFailed(f"{url} does not speak TLS (is it a plain-HTTP port?).")
    if isinstance(error, ssl.SSLEOFError) or reason == "UNEXPECTED_EOF_WHILE_READING":
        if "do_handshake" not in {frame.name for frame in traceback.extract_tb(error.__traceback__)}:
            # TLS 1.3: the daemon checks our certificate only after our side of the handshake is done. Its
            # "bad certificate" alert then often loses the race with the reset our already-sent request causes.
            return CertificateRejected(
                f"{url} hung up right after the TLS handshake: it most likely rejected DockMon's client "
                "certificate (not signed by a CA it trusts, expired, or not meant for client use)."
            )
        return TlsHandshakeFailed(f"{url} closed the connection during the TLS handshake.")
    return TlsHandshakeFailed(f"The TLS handshake with {url} failed ({reason or error.__class__.__name__}).")


_OS_ERRORS = {
    errno.ECONNREFUSED: "Nothing answers at {url} (connection refused).",
    errno.ENOENT: "Nothing answers at {url} (no such socket file).",
    errno.EACCES: "DockMon may not open {url} (permission denied).",
    errno.EPERM: "DockMon may not open {url} (permission denied).",
    errno.ENETUNREACH: "Nothing answers at {url} (network unreachable).",
    errno.EHOSTUNREACH: "Nothing answers at {url} (no route to host).",
    errno.ECONNRESET: "{url} closed the connection without answering.",
    errno.EPIPE: "{url} closed the connection without answering.",
    errno.ECONNABORTED: "{url} closed the connection without answering.",
}


def translate_error(
    exc: BaseException, *, url: str, timeout: float, target: _Target | None = None, action: Action | None = None
) -> EngineError | None:
    """The EngineError for an exception raised while talking to the daemon at `url`; None if it is not one
    of those (a bug of ours, which should surface as it is)."""
    if isinstance(exc, EngineError):
        return exc
    if isinstance(exc, _Unchanged):
        return NotModified(_NOT_MODIFIED.get(action, "Nothing to do: the container is already in that state."))
    if isinstance(exc, APIError):
        return _api_error(exc, url, target)
    if isinstance(exc, requests.exceptions.JSONDecodeError):
        return NotDockerApi(f"Something answers at {url}, but not with Docker's JSON: this is not a Docker API.")
    if tls := _find(exc, ssl.SSLError):
        return _tls_error(tls, url)
    if _find(exc, (requests.exceptions.SSLError, urllib3.exceptions.SSLError)):
        return TlsHandshakeFailed(f"The TLS handshake with {url} failed.")
    # Before the timeouts: urllib3's NewConnectionError (refused, ...) subclasses ConnectTimeoutError.
    if os_error := _find(exc, OSError, lambda e: e.errno in _OS_ERRORS):
        return HostUnreachable(_OS_ERRORS[os_error.errno].format(url=url))
    if _find(exc, (socket.gaierror, urllib3.exceptions.NameResolutionError)):
        return HostUnreachable(f"Nothing answers at {url} (the host name does not resolve).")
    if _find(exc, (requests.exceptions.ConnectTimeout, urllib3.exceptions.ConnectTimeoutError)):
        return HostUnreachable(f"Nothing answers at {url} (no reply within {timeout:g} s).")
    if _find(exc, (requests.exceptions.ReadTimeout, urllib3.exceptions.ReadTimeoutError, TimeoutError)):
        return EngineTimeout(f"{url} accepted the connection but did not answer within {timeout:g} s.")
    if _find(exc, (http.client.RemoteDisconnected, http.client.IncompleteRead)):
        return HostUnreachable(f"{url} closed the connection without answering.")
    if _find(exc, (http.client.BadStatusLine, http.client.LineTooLong)):
        return NotDockerApi(f"Something answers at {url}, but it does not speak HTTP: this is not a Docker API.")
    if isinstance(exc, requests.exceptions.ConnectionError | urllib3.exceptions.HTTPError):
        cause = list(_chain(exc))[-1]
        return HostUnreachable(f"Cannot talk to {url} ({cause.__class__.__name__}: {cause}).")
    if isinstance(exc, DockerException):
        return EngineError(_readable(str(exc)))
    return None


_TRANSLATED = (_Unchanged, DockerException, requests.RequestException, urllib3.exceptions.HTTPError, OSError)


# --- parsing Docker's documents -----------------------------------------------------------------------------

_TIMESTAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$")


def parse_time(value: str) -> datetime:
    """Docker's RFC 3339 time (nanoseconds, Z or an offset) as an aware datetime in UTC."""
    match = _TIMESTAMP.match(value)
    if not match:
        raise ValueError(f"not a Docker timestamp: {value!r}")
    seconds, fraction, zone = match.groups()
    # Python keeps microseconds: cut the nanoseconds rather than round into the next second.
    micro = (fraction or "")[:6].ljust(6, "0")
    return datetime.fromisoformat(f"{seconds}.{micro}{'+00:00' if zone == 'Z' else zone}").astimezone(UTC)


def _optional_time(value: str | None) -> datetime | None:
    return None if not value or value == NO_TIME else parse_time(value)


def _from_nanos(nanos: int) -> datetime:
    seconds, rest = divmod(nanos, 1_000_000_000)
    return datetime.fromtimestamp(seconds, UTC) + timedelta(microseconds=rest // 1000)


def _health(status: str) -> Health:
    try:
        return Health(status)
    except ValueError:  # "none", or something newer
        return Health.NONE


def _as_list(value: str | list[str] | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def _restart_policy(policy: Mapping[str, Any] | None) -> str:
    name = (policy or {}).get("Name") or "no"
    retries = (policy or {}).get("MaximumRetryCount") or 0
    return f"{name}:{retries}" if name == "on-failure" and retries else name


def _ports(ports: Mapping[str, list[Mapping[str, str]] | None] | None) -> tuple[PortBinding, ...]:
    found = []
    for key, bindings in (ports or {}).items():
        number, _, protocol = key.partition("/")
        if not bindings:
            found.append(PortBinding(int(number), protocol or "tcp"))
        for binding in bindings or ():
            host_port = binding.get("HostPort")
            found.append(
                PortBinding(
                    int(number), protocol or "tcp", binding.get("HostIp", ""), int(host_port) if host_port else None
                )
            )
    return tuple(sorted(found, key=lambda p: (p.container_port, p.protocol, p.host_ip, p.host_port or 0)))


def _mounts(mounts: Iterable[Mapping[str, Any]] | None) -> tuple[Mount, ...]:
    return tuple(
        Mount(
            type=m.get("Type", ""),
            source=m.get("Source", ""),
            destination=m.get("Destination", ""),
            read_only=not m.get("RW", True),
            name=m.get("Name", ""),
        )
        for m in mounts or ()
    )


def snapshot(doc: Mapping[str, Any], status: str) -> ContainerSnapshot:
    """A ContainerSnapshot from an inspect document, plus the human status text only the list has."""
    state = doc["State"]
    config = doc.get("Config") or {}
    container_state = ContainerState(state["Status"])
    ran = container_state in {ContainerState.EXITED, ContainerState.DEAD, ContainerState.RESTARTING}
    networks = (doc.get("NetworkSettings") or {}).get("Networks") or {}
    return ContainerSnapshot(
        id=doc["Id"],
        name=doc["Name"].lstrip("/"),
        image=config.get("Image", ""),
        image_id=doc.get("Image", ""),
        command=_as_list(config.get("Cmd")),
        entrypoint=_as_list(config.get("Entrypoint")),
        state=container_state,
        status=status,
        health=_health((state.get("Health") or {}).get("Status", "")),
        exit_code=state.get("ExitCode") if ran else None,
        oom_killed=bool(state.get("OOMKilled")),
        created=parse_time(doc["Created"]),
        started_at=_optional_time(state.get("StartedAt")),
        finished_at=_optional_time(state.get("FinishedAt")),
        restart_policy=_restart_policy((doc.get("HostConfig") or {}).get("RestartPolicy")),
        restart_count=doc.get("RestartCount", 0),
        ports=_ports((doc.get("NetworkSettings") or {}).get("Ports")),
        labels=dict(config.get("Labels") or {}),
        networks={name: net.get("IPAddress", "") for name, net in networks.items()},
        mounts=_mounts(doc.get("Mounts")),
        env=tuple(config.get("Env") or ()),
    )


def docker_event(raw: Mapping[str, Any]) -> DockerEvent | None:
    """Our DockerEvent for one decoded event; None for what callers need not see (exec_*, other types)."""
    if raw.get("Type", "container") != "container":
        return None
    action = raw.get("Action") or raw.get("status") or ""
    if action.startswith("exec_"):
        return None
    health = None
    if action.startswith("health_status"):
        # "health_status: healthy" carries the new status in the action itself.
        health = _health(action.partition(":")[2].strip())
        action = "health_status"
    actor = raw.get("Actor") or {}
    attributes = {str(k): str(v) for k, v in (actor.get("Attributes") or {}).items()}
    nanos = raw.get("timeNano") or int(raw.get("time", 0)) * 1_000_000_000
    return DockerEvent(
        action=action,
        container_id=actor.get("ID") or raw.get("id", ""),
        name=attributes.get("name", ""),
        time=_from_nanos(nanos),
        attributes=attributes,
        health=health,
    )


# --- streams ------------------------------------------------------------------------------------------------


class _Lines:
    """Cuts arbitrary chunks into lines (without the newline); a line split across chunks is re-joined."""

    def __init__(self) -> None:
        self._pending = bytearray()

    def feed(self, chunk: bytes) -> list[bytes]:
        self._pending += chunk
        if b"\n" not in chunk and len(self._pending) <= MAX_LINE_BYTES:
            return []
        *lines, rest = self._pending.split(b"\n")
        while len(rest) > MAX_LINE_BYTES:
            lines.append(bytes(rest[:MAX_LINE_BYTES]))
            del rest[:MAX_LINE_BYTES]
        self._pending = rest
        return lines

    def rest(self) -> list[bytes]:
        return [bytes(self._pending)] if self._pending else []


def _lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    lines = _Lines()
    for chunk in chunks:
        yield from lines.feed(chunk)
    yield from lines.rest()


def _demux(chunks: Iterable[bytes]) -> Iterator[tuple[int, bytes]]:
    """(stream, payload) frames of Docker's multiplexed stdout/stderr: 1 byte stream, 3 zero, 4 length."""
    buffer = bytearray()
    for chunk in chunks:
        buffer += chunk
        start = 0
        while len(buffer) - start >= 8:
            kind, size = struct.unpack_from(">BxxxL", buffer, start)
            end = start + 8 + size
            if len(buffer) < end:
                break
            yield kind, bytes(buffer[start + 8 : end])
            start = end
        del buffer[:start]  # once per chunk, not per frame


def _decode_line(line: bytes) -> str:
    return line.rstrip(b"\r").decode("utf-8", errors="replace")  # TTYs end lines with \r\n


def _tty_log_lines(chunks: Iterable[bytes]) -> Iterator[str]:
    return map(_decode_line, _lines(chunks))


def _framed_log_lines(chunks: Iterable[bytes]) -> Iterator[str]:
    # stdout and stderr get a line buffer each: a long line comes as several frames, and frames of the
    # other stream may arrive in between.
    buffers = {1: _Lines(), 2: _Lines()}
    for kind, payload in _demux(chunks):
        yield from map(_decode_line, buffers.setdefault(kind, _Lines()).feed(payload))
    for lines in buffers.values():
        yield from map(_decode_line, lines.rest())


def _container_events(chunks: Iterable[bytes]) -> Iterator[DockerEvent]:
    for line in _lines(chunks):
        if line.strip() and (event := docker_event(json.loads(line))):
            yield event


class ResponseStream(Stream):
    """A streamed HTTP answer (logs, events), parsed into items as it arrives; its end (daemon gone) ends
    the iteration.

    `close()` may come from any thread. It only shuts the socket down for reading, which wakes a reader
    blocked in recv() at once; the reading thread then releases the response itself, because http.client's
    response is not safe to close from one thread while another reads it.
    """

    def __init__(
        self,
        response: requests.Response,
        sock: socket.socket | None,
        parse: Callable[[Iterable[bytes]], Iterator[Any]],
    ) -> None:
        self._response = response
        self._sock = sock
        self._parse = parse
        self._lock = threading.Lock()
        self._closed = False
        self._reading = False

    def __iter__(self) -> Iterator[Any]:
        with self._lock:
            if self._closed:
                return
            self._reading = True
        try:
            for item in self._parse(self._chunks()):
                if self._closed:
                    return
                yield item
        finally:
            with self._lock:
                self._closed, self._reading = True, False
            self._response.close()

    def _chunks(self) -> Iterator[bytes]:
        raw = self._response.raw
        try:
            # read1 returns what has arrived (a chunk) instead of waiting for READ_SIZE bytes.
            while not self._closed and (chunk := raw.read1(READ_SIZE)):
                yield chunk
        # The daemon went away, or close() shut the socket down (ValueError: an SSL socket saw it mid-read).
        except (urllib3.exceptions.HTTPError, OSError, ValueError):
            return

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            reading = self._reading
        if not reading:
            self._response.close()
        elif self._sock is not None:
            # socket.socket's own shutdown, also for an SSLSocket: its override would drop the TLS state the
            # reading thread is using (and urllib3's response.shutdown() calls that override).
            with contextlib.suppress(OSError):  # already closed
                socket.socket.shutdown(self._sock, socket.SHUT_RD)


# --- the engines --------------------------------------------------------------------------------------------


def _tcp_url(url: str, default_port: int) -> str:
    parts = urlsplit(url)
    try:
        port = parts.port or default_port
    except ValueError:
        port = None
    if parts.scheme != "tcp" or not parts.hostname or port is None or parts.path not in ("", "/"):
        raise EngineError(f"“{url}” is not a daemon address like tcp://docker.example.com:{default_port}.")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"tcp://{host}:{port}"


class DockerApiEngine(Engine):
    """The Engine over the Docker Engine API. Subclasses only check the address and bring their TLS setup.

    Thread safety: one engine may serve several threads at once (requests' connection pool is thread-safe,
    and the client is created once, under a lock). Streams get their own connection each.
    """

    _tls: TLSConfig | bool = False

    def __init__(self, spec: ConnectionSpec) -> None:
        self.spec = spec
        self.url = self._address(spec.url.strip())  # normalised; also what messages show
        self._client: APIClient | None = None
        self._client_lock = threading.Lock()
        self._closed = False
        self._streams: weakref.WeakSet[ResponseStream] = weakref.WeakSet()

    @classmethod
    def for_host(cls, host: HostAddress) -> Self:
        return cls(ConnectionSpec.from_host(host))

    @staticmethod
    @abstractmethod
    def _address(url: str) -> str:
        """The daemon's address, checked and normalised; raises EngineError for an unusable one."""

    # --- plumbing

    @contextlib.contextmanager
    def _errors(
        self, target: _Target | None = None, action: Action | None = None, timeout: float | None = None
    ) -> Iterator[None]:
        """Docker's and the transport's exceptions as ours; `timeout` is what the call waited, when not the host's."""
        try:
            yield
        except _TRANSLATED as exc:
            waited = self.spec.timeout if timeout is None else timeout
            error = translate_error(exc, url=self.url, timeout=waited, target=target, action=action)
            if error is None:
                raise
            raise error from exc

    def _new_client(self, version: str) -> APIClient:
        client = APIClient(base_url=self.url, tls=self._tls, version=version, timeout=self.spec.timeout)
        if not self.url.startswith("unix://"):
            # TCP goes through requests' own adapter, which keeps 10 connections. (The SDK's max_pool_size is for
            # its unix-socket adapter only, which keys its pools by URL, i.e. one per container: no use there,
            # and connecting to a socket costs microseconds.)
            adapter = HTTPAdapter(pool_maxsize=POOL_CONNECTIONS)
            client.mount("http://", adapter)
            client.mount("https://", adapter)
        # Else requests lets $REQUESTS_CA_BUNDLE replace our CA (gotcha 1) and $HTTPS_PROXY reroute us.
        client.trust_env = False
        client.hooks["response"].append(_raise_on_not_modified)
        return client

    @property
    def _api(self) -> APIClient:
        """The client, created on first use with the API version negotiated with the daemon.

        We do not let the SDK negotiate (version="auto"): it asks /version inside the constructor, before
        trust_env can be switched off. So a probe client with our oldest version asks the unversioned
        /version, and the real client is built with min(daemon's version, SDK's newest). A second client
        (one more connection) is the price of not reaching into the SDK's private `_version`.
        """
        if self._client is None:
            with self._client_lock, self._errors():
                if self._closed:
                    raise EngineError("This connection to the host is closed.")
                if self._client is None:
                    probe = self._new_client(OLDEST_API)
                    try:
                        answer = probe.version(api_version=False)
                    finally:
                        probe.close()
                    self._client = self._new_client(self._pick_version(answer))
        return self._client

    def _pick_version(self, answer: Any) -> str:
        server = answer.get("ApiVersion") if isinstance(answer, dict) else None
        if not isinstance(server, str):
            raise NotDockerApi(f"Something answers at {self.url}, but it is not a Docker API (no API version).")
        if version_lt(server, OLDEST_API):
            raise NotDockerApi(
                f"{self.url} speaks Docker API {server}; DockMon needs {OLDEST_API} or newer (Docker 20.10+)."
            )
        chosen = NEWEST_API if version_lt(NEWEST_API, server) else server
        minimum = answer.get("MinAPIVersion") or OLDEST_API
        if version_lt(chosen, minimum):
            raise NotDockerApi(f"{self.url} needs Docker API {minimum} or newer; DockMon speaks up to {NEWEST_API}.")
        return chosen

    def _open_stream(
        self, path: str, params: dict[str, Any], parse: Callable[[Iterable[bytes]], Iterator[Any]]
    ) -> ResponseStream:
        """GET a streamed answer: connecting and the headers are bounded by the timeout, the body is not."""
        api = self._api
        url = f"{api.base_url}/v{api.api_version}{path}"
        response = api.get(url, params=params, stream=True, timeout=self.spec.timeout)
        try:
            response.raise_for_status()
        except requests.HTTPError as exc:
            response.content  # noqa: B018  # the error text, read before the connection goes
            response.close()
            raise create_api_error_from_http_exception(exc) from exc
        # The connection's socket keeps the request's read timeout: idle streams must not time out.
        connection = response.raw.connection
        sock = connection.sock if connection else None
        if sock is not None:
            sock.settimeout(None)
        stream = ResponseStream(response, sock, parse)
        with self._client_lock:
            if not self._closed:
                self._streams.add(stream)
                return stream
        stream.close()  # the engine was closed meanwhile
        raise EngineError("This connection to the host is closed.")

    def _stats_of(
        self, api: APIClient, container_id: str, params: dict[str, int], timeout: float
    ) -> StatsSample | None:
        """One reading of one container; None when it is gone or not running (any more)."""
        url = f"{api.base_url}/v{api.api_version}/containers/{quote(container_id, safe='')}/stats"
        try:
            with self._errors(_Target("container", container_id), timeout=timeout):
                response = api.get(url, params=params, timeout=timeout)
                try:
                    response.raise_for_status()
                except requests.HTTPError as exc:
                    raise create_api_error_from_http_exception(exc) from exc
                body = response.content
        except (NotFound, Conflict):
            return None  # removed (or being removed) since it was listed
        if not body.strip():
            return None  # it stopped while the daemon waited for its tick: the answer ends without a document
        try:
            return sample_from_docker(json.loads(body))
        except NotRunning:
            return None
        except ValueError as exc:
            logger.warning("Docker at %s sent no usable stats for container %s: %s", self.url, container_id, exc)
            return None

    def _inspect_or_none(self, container_id: str) -> dict[str, Any] | None:
        try:
            with self._errors(_Target("container", container_id)):
                return self._api.inspect_container(container_id)
        except NotFound:
            return None  # removed since it was listed

    # --- the interface

    def info(self) -> HostFacts:
        with self._errors():
            info = self._api.info()
            version = self._api.version()
        return HostFacts(
            name=info.get("Name", ""),
            os=info.get("OperatingSystem", ""),
            os_type=info.get("OSType", ""),
            kernel=info.get("KernelVersion", ""),
            architecture=info.get("Architecture", ""),
            docker_version=info.get("ServerVersion") or version.get("Version", ""),
            api_version=version.get("ApiVersion", ""),
            engine_id=info.get("ID", ""),
            cpus=info.get("NCPU", 0),
            memory_bytes=info.get("MemTotal", 0),
            containers_total=info.get("Containers", 0),
            containers_running=info.get("ContainersRunning", 0),
            containers_paused=info.get("ContainersPaused", 0),
            containers_stopped=info.get("ContainersStopped", 0),
            images=info.get("Images", 0),
        )

    def containers(self) -> list[ContainerSnapshot]:
        with self._errors():
            listed = self._api.containers(all=True)
        if not listed:
            return []
        status = {c["Id"]: c.get("Status", "") for c in listed}
        with ThreadPoolExecutor(max_workers=min(INSPECT_WORKERS, len(listed))) as pool:
            docs = list(pool.map(self._inspect_or_none, status))
        return [snapshot(doc, status[doc["Id"]]) for doc in docs if doc]

    def container(self, container_id: str) -> ContainerSnapshot:
        doc = self.inspect(container_id)
        with self._errors(_Target("container", container_id)):
            # Only the list has Docker's human status text ("Up 3 minutes (healthy)").
            listed = self._api.containers(all=True, filters={"id": doc["Id"]})
        if not listed:
            raise NotFound(f"There is no container “{container_id}” on this host.")
        return snapshot(doc, listed[0].get("Status", ""))

    def inspect(self, container_id: str) -> dict[str, Any]:
        with self._errors(_Target("container", container_id)):
            return self._api.inspect_container(container_id)

    def act(
        self, container_id: str, action: Action, *, new_name: str = "", remove_volumes: bool = False, timeout: int = 10
    ) -> None:
        if action is Action.RENAME and not new_name:
            raise EngineError("Choose a new name for the container.")
        with self._errors(_Target("container", container_id), action):
            api = self._api
            match action:
                case Action.START:
                    api.start(container_id)
                case Action.STOP:
                    api.stop(container_id, timeout=timeout)
                case Action.RESTART:
                    api.restart(container_id, timeout=timeout)
                case Action.KILL:
                    api.kill(container_id)
                case Action.PAUSE:
                    api.pause(container_id)
                case Action.UNPAUSE:
                    api.unpause(container_id)
                case Action.RENAME:
                    api.rename(container_id, new_name)
                case Action.REMOVE:
                    # Force: the user confirmed removing it, running or not (like `docker rm -f`).
                    api.remove_container(container_id, v=remove_volumes, force=True)
                case _:
                    raise ValueError(f"unknown action {action!r}")

    def logs(self, container_id: str, *, tail: int, timestamps: bool, follow: bool) -> Stream:
        with self._errors(_Target("container", container_id)):
            doc = self._api.inspect_container(container_id)
            # A TTY container's output is raw; any other's is framed stdout/stderr.
            parse = _tty_log_lines if doc["Config"].get("Tty") else _framed_log_lines
            params = {"stdout": 1, "stderr": 1, "tail": tail if tail >= 0 else "all"}
            params |= {"timestamps": int(timestamps), "follow": int(follow)}
            return self._open_stream(f"/containers/{doc['Id']}/logs", params, parse)

    def events(self, *, since: datetime | None = None) -> Stream:
        params: dict[str, Any] = {"filters": json.dumps({"type": ["container"]})}
        if since is not None:
            params["since"] = f"{since.timestamp():.9f}"
        with self._errors():
            return self._open_stream("/events", params, _container_events)

    def images(self) -> list[ImageInfo]:
        with self._errors():
            images = self._api.images()
            used = Counter(c.get("ImageID") for c in self._api.containers(all=True))
        return [
            ImageInfo(
                id=image["Id"],
                tags=tuple(tag for tag in image.get("RepoTags") or () if tag != "<none>:<none>"),
                size_bytes=image.get("Size", 0),
                created=datetime.fromtimestamp(image.get("Created", 0), UTC),
                containers=used[image["Id"]],
            )
            for image in images
        ]

    def remove_image(self, image_id: str, *, force: bool = False) -> None:
        with self._errors(_Target("image", image_id)):
            self._api.remove_image(image_id, force=force)

    def prune_images(self, *, labels: Mapping[str, str] | None = None) -> PruneResult:
        """Remove dangling images (only those with all of `labels`, if given)."""
        with self._errors():
            answer = self._api.prune_images(filters={"dangling": True, **_label_filter(labels)})
        deleted = tuple(d["Deleted"] for d in answer.get("ImagesDeleted") or () if d.get("Deleted"))
        return PruneResult(deleted, answer.get("SpaceReclaimed") or 0)

    def networks(self) -> list[NetworkInfo]:
        with self._errors():
            networks = self._api.networks()
            listed = self._api.containers(all=True)
        # The network list leaves "Containers" empty; the container list names each one's networks.
        used = Counter(
            net.get("NetworkID") or name
            for c in listed
            for name, net in ((c.get("NetworkSettings") or {}).get("Networks") or {}).items()
        )
        return [
            NetworkInfo(
                id=net["Id"],
                name=net["Name"],
                driver=net.get("Driver", ""),
                scope=net.get("Scope", ""),
                containers=used[net["Id"]] + used[net["Name"]],
                builtin=net["Name"] in BUILTIN_NETWORKS,
            )
            for net in networks
        ]

    def remove_network(self, network_id: str) -> None:
        with self._errors(_Target("network", network_id)):
            self._api.remove_network(network_id)

    def prune_networks(self, *, labels: Mapping[str, str] | None = None) -> PruneResult:
        """Remove networks no container uses (only those with all of `labels`, if given)."""
        with self._errors():
            answer = self._api.prune_networks(filters=_label_filter(labels))
        return PruneResult(tuple(answer.get("NetworksDeleted") or ()))

    def volumes(self) -> list[VolumeInfo]:
        with self._errors():
            volumes = self._api.volumes().get("Volumes") or []
            listed = self._api.containers(all=True)
        used = Counter(m.get("Name") for c in listed for m in c.get("Mounts") or () if m.get("Type") == "volume")
        return [
            VolumeInfo(
                name=vol["Name"],
                driver=vol.get("Driver", ""),
                mountpoint=vol.get("Mountpoint", ""),
                created=_optional_time(vol.get("CreatedAt")),
                containers=used[vol["Name"]],
            )
            for vol in volumes
        ]

    def remove_volume(self, name: str) -> None:
        with self._errors(_Target("volume", name)):
            self._api.remove_volume(name)

    def prune_volumes(self, *, labels: Mapping[str, str] | None = None) -> PruneResult:
        """Remove volumes no container uses, named ones included (only those with all of `labels`, if given)."""
        filters = _label_filter(labels)
        with self._errors():
            api = self._api
            # API 1.42 made prune skip named volumes unless all=true; keep 1.41's meaning on every daemon.
            if not version_lt(api.api_version, "1.42"):
                filters["all"] = "true"
            answer = api.prune_volumes(filters=filters)
        return PruneResult(tuple(answer.get("VolumesDeleted") or ()), answer.get("SpaceReclaimed") or 0)

    def stats(self, container_ids: Sequence[str]) -> list[StatsSample]:
        wanted = list(dict.fromkeys(container_ids))
        if not wanted:
            return []
        api = self._api
        params = {"stream": 0} if version_lt(api.api_version, ONE_SHOT_API) else {"stream": 0, "one-shot": 1}
        low, high = STATS_TIMEOUT_RANGE
        timeout = min(max(self.spec.timeout, low), high)
        pool = ThreadPoolExecutor(max_workers=min(STATS_WORKERS, len(wanted)), thread_name_prefix="dockmon-stats")
        try:
            futures = [pool.submit(self._stats_of, api, cid, params, timeout) for cid in wanted]
            # Each request is bounded by the timeout: a hung daemon fails the first ones, and that ends the call.
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        finally:
            # Requests still queued behind a failure are dropped; those in flight end by their timeout.
            pool.shutdown(wait=False, cancel_futures=True)
        for future in futures:
            if future in done and (error := future.exception()) is not None:
                raise error
        return [sample for future in futures if (sample := future.result()) is not None]

    def host_stats(self) -> HostStats:
        if not self.url.startswith("unix://"):
            raise NotSupported(
                f"{self.url} is a Docker API, which does not tell its machine's CPU, memory and disks: "
                "run the DockMon agent on that machine to see them."
            )
        # A unix socket is on this machine: read it ourselves (the agent does the same on its host).
        try:
            return this_machine().read()
        except OSError as exc:
            raise NotSupported(
                f"This machine's figures cannot be read ({exc}). In a container, mount the machine's /proc and "
                f"set {PROC_ENV}: see the agent's README."
            ) from exc

    def close(self) -> None:
        with self._client_lock:
            self._closed = True
            client, self._client = self._client, None
            streams = list(self._streams)
        for stream in streams:
            stream.close()
        if client is not None:
            client.close()


def _label_filter(labels: Mapping[str, str] | None) -> dict[str, Any]:
    return {"label": [f"{k}={v}" for k, v in labels.items()]} if labels else {}


class SocketEngine(DockerApiEngine):
    """A daemon without TLS: its unix socket (Docker's, or Podman's: any unix:// path), or a plain-HTTP
    tcp:// address such as a docker-socket-proxy on a private network."""

    @staticmethod
    def _address(url: str) -> str:
        url = url or DEFAULT_SOCKET_URL
        if not url.startswith("unix://"):
            return _tcp_url(url, PLAIN_PORT)
        if not url.removeprefix("unix://").startswith("/"):
            raise EngineError(f"“{url}” is not a socket address like {DEFAULT_SOCKET_URL}.")
        return url


class TlsEngine(DockerApiEngine):
    """A remote daemon over mutual TLS (tcp://host:2376).

    The SDK (and ssl) take certificates and keys as files only, so the PEMs go to a private temp dir
    (0700, files 0600) owned by the engine and deleted in close(), when construction fails, and at the
    latest when the engine is garbage-collected or the process exits (weakref.finalize).
    """

    def __init__(self, spec: ConnectionSpec) -> None:
        super().__init__(spec)
        missing = [
            what
            for what, pem in (
                ("CA certificate", spec.ca_pem),
                ("client certificate", spec.cert_pem),
                ("client key", spec.key_pem),
            )
            if not pem.strip()
        ]
        if missing:
            raise TlsHandshakeFailed(f"This host has no {' and no '.join(missing)}.")
        self.tls_dir = Path(tempfile.mkdtemp(prefix="dockmon-tls-"))  # mkdtemp creates it 0700
        self._remove_tls_dir = weakref.finalize(self, shutil.rmtree, self.tls_dir, ignore_errors=True)
        try:
            self._tls = TLSConfig(
                client_cert=(
                    _write_private(self.tls_dir / "cert.pem", spec.cert_pem),
                    _write_private(self.tls_dir / "key.pem", spec.key_pem),
                ),
                ca_cert=_write_private(self.tls_dir / "ca.pem", spec.ca_pem),
                verify=True,  # TLSConfig's default is False: the server certificate would go unchecked
            )
        except OSError as exc:
            self._remove_tls_dir()
            raise EngineError(f"DockMon could not store the TLS files for {self.url} ({exc.strerror}).") from exc
        except BaseException:
            self._remove_tls_dir()
            raise

    @staticmethod
    def _address(url: str) -> str:
        return _tcp_url(url, TLS_PORT)

    def close(self) -> None:
        super().close()
        self._remove_tls_dir()


def _write_private(path: Path, text: str) -> str:
    # Created with mode 0600 from the start: the key is never readable by others, not even briefly.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text if text.endswith("\n") else f"{text}\n")
    return str(path)
