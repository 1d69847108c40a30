"""The one interface to a Docker host, whatever the connection.

Callers (services, tasks, views, consumers) get an `Engine` from `engine_for(host)` and never
learn whether it talks to the local socket, a remote daemon over mutual TLS, or an agent.
Engines return our own frozen dataclasses, never docker-SDK objects, and raise only the
`EngineError` family below, whose messages are written for the person at the screen.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from dockmon_agent.stats import HostStats, StatsSample

# --- errors -----------------------------------------------------------------------------------


class EngineError(Exception):
    """Something went wrong talking to a Docker host; `str(error)` is shown to users as is."""

    #: True when retrying cannot help (bad certificate, not a Docker API): the host needs attention.
    permanent = False


class HostUnreachable(EngineError):
    """Nothing answers at the address: refused, no route, name not found, socket missing."""


class EngineTimeout(EngineError):
    """The host accepted the connection but did not answer in time."""


class TlsHandshakeFailed(EngineError):
    """TLS could not be set up (wrong protocol, broken handshake)."""

    permanent = True


class CertificateRejected(EngineError):
    """The daemon refused our client certificate (unknown CA, wrong usage, expired)."""

    permanent = True


class ServerCertificateInvalid(EngineError):
    """The daemon's certificate does not verify against the CA we were given, or names another host."""

    permanent = True


class NotDockerApi(EngineError):
    """Something answered, but not a Docker API (or plain HTTP on a TLS port)."""

    permanent = True


class NotFound(EngineError):
    """The container, image, network or volume does not exist (any more)."""


class Conflict(EngineError):
    """The request clashes with the current state: name in use, in use by a container, removal in progress."""


class NotModified(EngineError):
    """Nothing to do: already started, already stopped, already paused."""


class AgentOffline(EngineError):
    """The host's agent is not connected right now."""


class NotSupported(EngineError):
    """This kind of connection cannot do that (a Docker API cannot tell its machine's CPU, memory, disks)."""


# --- what engines return -------------------------------------------------------------------------


@dataclass(frozen=True)
class HostFacts:
    name: str
    os: str
    os_type: str
    kernel: str
    architecture: str
    docker_version: str
    api_version: str
    engine_id: str
    cpus: int
    memory_bytes: int
    containers_total: int
    containers_running: int
    containers_paused: int
    containers_stopped: int
    images: int


@dataclass(frozen=True)
class PortBinding:
    container_port: int
    protocol: str  # tcp / udp / sctp
    host_ip: str = ""  # "" when not published
    host_port: int | None = None


@dataclass(frozen=True)
class Mount:
    type: str  # bind / volume / tmpfs
    source: str
    destination: str
    read_only: bool = False
    name: str = ""  # volume name


class ContainerState(enum.StrEnum):
    CREATED = "created"
    RUNNING = "running"
    PAUSED = "paused"
    RESTARTING = "restarting"
    REMOVING = "removing"
    EXITED = "exited"
    DEAD = "dead"


class Health(enum.StrEnum):
    NONE = ""  # the image defines no health check
    STARTING = "starting"
    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"


@dataclass(frozen=True)
class ContainerSnapshot:
    """One container as Docker reports it (list entry completed by inspect)."""

    id: str
    name: str  # without the leading slash
    image: str  # as configured, e.g. "nginx:1.27"
    image_id: str
    command: list[str]
    entrypoint: list[str]
    state: ContainerState
    status: str  # Docker's human text, e.g. "Up 3 minutes (healthy)"
    health: Health
    exit_code: int | None
    oom_killed: bool
    created: datetime
    started_at: datetime | None
    finished_at: datetime | None
    restart_policy: str  # "no", "always", "unless-stopped", "on-failure:3"
    restart_count: int
    ports: tuple[PortBinding, ...] = ()
    labels: dict[str, str] = field(default_factory=dict)
    networks: dict[str, str] = field(default_factory=dict)  # network name -> IPv4 address
    mounts: tuple[Mount, ...] = ()
    env: tuple[str, ...] = ()  # "KEY=value"; callers mask them for users without containers.view_env


class Action(enum.StrEnum):
    START = "start"
    STOP = "stop"
    RESTART = "restart"
    KILL = "kill"
    PAUSE = "pause"
    UNPAUSE = "unpause"
    RENAME = "rename"
    REMOVE = "remove"


@dataclass(frozen=True)
class DockerEvent:
    """A container event from the daemon's event stream."""

    action: str  # "start", "die", "health_status", ... (health_status: ... is normalised to health_status)
    container_id: str
    name: str  # the container's name at the time of the event (after the rename for "rename")
    time: datetime
    attributes: dict[str, str] = field(default_factory=dict)  # exitCode, oldName, image, signal, ...
    health: Health | None = None  # for health_status events


@dataclass(frozen=True)
class ImageInfo:
    id: str
    tags: tuple[str, ...]
    size_bytes: int
    created: datetime
    containers: int  # how many containers use it (any state)


@dataclass(frozen=True)
class NetworkInfo:
    id: str
    name: str
    driver: str
    scope: str
    containers: int
    builtin: bool  # bridge, host, none: cannot be removed


@dataclass(frozen=True)
class VolumeInfo:
    name: str
    driver: str
    mountpoint: str
    created: datetime | None
    containers: int


@dataclass(frozen=True)
class PruneResult:
    removed: tuple[str, ...]
    space_reclaimed_bytes: int = 0


class Stream(ABC):
    """An open, possibly endless, stream (logs, events). Iterate it; `close()` ends it from any thread."""

    @abstractmethod
    def __iter__(self) -> Iterator[Any]: ...

    @abstractmethod
    def close(self) -> None: ...


# --- the interface -------------------------------------------------------------------------------


class Engine(ABC):
    """One connection to one Docker host. Use as a context manager, or call `close()`."""

    @abstractmethod
    def info(self) -> HostFacts: ...

    @abstractmethod
    def containers(self) -> list[ContainerSnapshot]:
        """Every container on the host, running or not, fully described."""

    @abstractmethod
    def container(self, container_id: str) -> ContainerSnapshot:
        """One container by id or name; raises NotFound."""

    @abstractmethod
    def inspect(self, container_id: str) -> dict[str, Any]:
        """Docker's raw inspect document (the admin's inspect view masks its environment)."""

    @abstractmethod
    def act(
        self, container_id: str, action: Action, *, new_name: str = "", remove_volumes: bool = False, timeout: int = 10
    ) -> None:
        """Apply one action. `new_name` for RENAME, `remove_volumes` for REMOVE, `timeout` (s) for STOP/RESTART."""

    @abstractmethod
    def logs(self, container_id: str, *, tail: int, timestamps: bool, follow: bool) -> Stream:
        """The last `tail` lines, then (with `follow`) new lines as they come. Iterating yields str lines."""

    @abstractmethod
    def events(self, *, since: datetime | None = None) -> Stream:
        """Container events from `since` (or now) on; iterating yields DockerEvent. Ends when the daemon goes."""

    @abstractmethod
    def images(self) -> list[ImageInfo]: ...

    @abstractmethod
    def remove_image(self, image_id: str, *, force: bool = False) -> None: ...

    @abstractmethod
    def prune_images(self, *, labels: Mapping[str, str] | None = None) -> PruneResult:
        """Remove dangling images (only those carrying all `labels`, when given)."""

    @abstractmethod
    def networks(self) -> list[NetworkInfo]: ...

    @abstractmethod
    def remove_network(self, network_id: str) -> None: ...

    @abstractmethod
    def prune_networks(self, *, labels: Mapping[str, str] | None = None) -> PruneResult:
        """Remove networks no container uses (only those carrying all `labels`, when given)."""

    @abstractmethod
    def volumes(self) -> list[VolumeInfo]: ...

    @abstractmethod
    def remove_volume(self, name: str) -> None: ...

    @abstractmethod
    def prune_volumes(self, *, labels: Mapping[str, str] | None = None) -> PruneResult:
        """Remove volumes no container uses (only those carrying all `labels`, when given)."""

    @abstractmethod
    def stats(self, container_ids: Sequence[str]) -> list[StatsSample]:
        """One reading of each of these running containers, taken concurrently. Containers that stopped or
        vanished meanwhile are left out; an error of the host (unreachable, timeout) is raised."""

    @abstractmethod
    def host_stats(self) -> HostStats:
        """The CPU, memory, disks and network of the machine the daemon runs on; raises NotSupported where the
        connection cannot see them (only an agent, running on the machine, can)."""

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
