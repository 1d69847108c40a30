"""The messages between a DockMon agent and the DockMon server, in one place for both sides.

Every message is one JSON text frame with the same envelope::

    {"v": 1, "type": "request", "id": "c1f…", "name": "container", "payload": {...}}

`type` says what the message is, `id` ties requests, replies and stream chunks together, `name` is the
operation of a request. Payloads are checked against the dataclasses below by `decode()`, which raises
`ProtocolError` (with a reason fit for a log line or a close frame) for anything oversized, malformed,
unknown or of the wrong shape.

The conversation:

1. The agent connects to `/ws/agent/` and sends `register` (first time: the one-time token) or `hello`
   (later: its permanent credential). The server answers `registered` (with the credential to keep) or
   `welcome`, or closes with a reason.
2. The server sends `request`s named after Engine methods (`info`, `containers`, `act`, `logs`, ...). The
   agent answers each with one `reply`, or `fail` (an EngineError's class name and message); streaming
   requests (`logs`) get `chunk`s, then `end` (or `fail`). `cancel` stops a stream.
3. The agent pushes `events` (container events, batched) and a `heartbeat` every HEARTBEAT_SECONDS; both name
   the agent's host, and the server refuses messages that name another one.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import json
import types
import typing
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, get_args, get_origin, get_type_hints

from dockmon_agent.engine import base
from dockmon_agent.engine.base import (
    ContainerSnapshot,
    DockerEvent,
    HostFacts,
    ImageInfo,
    NetworkInfo,
    PruneResult,
    VolumeInfo,
)
from dockmon_agent.stats import HostStats, StatsSample

PROTOCOL_VERSION = 1
PATH = "/ws/agent/"
# The largest legitimate message is the container list of a big host (~2.5 KB a container); log chunks
# are cut far below it.
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
CHUNK_LINES = 500
CHUNK_BYTES = 256 * 1024
HEARTBEAT_SECONDS = 30
# Two missed heartbeats (and a little slack) and the server calls the host offline.
OFFLINE_AFTER_SECONDS = 2 * HEARTBEAT_SECONDS + 5
REQUEST_TIMEOUT_SECONDS = 30

# WebSocket close codes the server uses, so the agent can tell "try again later" from "give up".
CLOSE_PROTOCOL_ERROR = 4400  # malformed or unknown message
CLOSE_UNAUTHENTICATED = 4401  # no register/hello in time, or a bad token
CLOSE_REFUSED = 4403  # credential revoked or host deleted: registering again is the way back
CLOSE_TOO_LARGE = 4409
CLOSE_REPLACED = 4410  # another connection of the same agent took over


class ProtocolError(ValueError):
    """A message that breaks the protocol; `str(error)` is the reason."""


# --- payloads ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Register:
    """agent → server, first connection: trade the one-time token for a permanent credential."""

    token: str
    name: str
    engine_id: str
    # None (with docker_error) when the agent's Docker daemon does not answer yet.
    facts: HostFacts | None
    # Cloned VMs share Docker engine ids: the agent says so explicitly to be registered as another host.
    separate: bool = False
    agent_version: str = ""
    docker_error: str = ""


@dataclass(frozen=True)
class Hello:
    """agent → server, every later connection."""

    credential: str
    engine_id: str
    facts: HostFacts | None  # None (with docker_error) when the agent's Docker daemon does not answer yet
    agent_version: str = ""
    docker_error: str = ""


@dataclass(frozen=True)
class Registered:
    """server → agent: keep the credential (the server only stores its hash)."""

    host: int
    credential: str
    heartbeat_seconds: int = HEARTBEAT_SECONDS


@dataclass(frozen=True)
class Welcome:
    """server → agent: authenticated as this host."""

    host: int
    heartbeat_seconds: int = HEARTBEAT_SECONDS


@dataclass(frozen=True)
class Heartbeat:
    """agent → server: alive; `docker_error` is set while the agent cannot reach its own Docker daemon."""

    host: int
    docker_error: str = ""
    facts: HostFacts | None = None


@dataclass(frozen=True)
class Events:
    """agent → server: container events, oldest first. `dropped` counts events lost while disconnected."""

    host: int
    events: tuple[DockerEvent, ...]
    dropped: int = 0


@dataclass(frozen=True)
class Reply:
    """agent → server: a request's result, in the shape RESULTS gives for the request's name."""

    result: Any = None


@dataclass(frozen=True)
class Chunk:
    """agent → server: part of a streamed answer (log lines)."""

    lines: tuple[str, ...]


@dataclass(frozen=True)
class End:
    """agent → server: a stream is over."""


@dataclass(frozen=True)
class Fail:
    """agent → server: a request failed; `error` is an EngineError class name (see ERRORS)."""

    error: str
    message: str


@dataclass(frozen=True)
class Cancel:
    """server → agent: stop the stream with this message's id."""


@dataclass(frozen=True)
class Error:
    """Either way: what was wrong with a message; the connection stays unless the sender closes it."""

    message: str


# --- requests: Engine methods, their arguments and results ---------------------------------------------------


@dataclass(frozen=True)
class NoArgs:
    pass


@dataclass(frozen=True)
class ContainerRef:
    container_id: str


@dataclass(frozen=True)
class ActArgs:
    container_id: str
    action: base.Action
    new_name: str = ""
    remove_volumes: bool = False
    timeout: int = 10


@dataclass(frozen=True)
class LogsArgs:
    container_id: str
    tail: int
    timestamps: bool
    follow: bool


@dataclass(frozen=True)
class ImageRef:
    image_id: str
    force: bool = False


@dataclass(frozen=True)
class NetworkRef:
    network_id: str


@dataclass(frozen=True)
class VolumeRef:
    name: str


@dataclass(frozen=True)
class PruneArgs:
    labels: dict[str, str] | None = None


@dataclass(frozen=True)
class StatsArgs:
    container_ids: tuple[str, ...]


@dataclass(frozen=True)
class Operation:
    args: type
    result: Any  # a type the codec can decode; None for "nothing"
    streams: bool = False


OPERATIONS: dict[str, Operation] = {
    "info": Operation(NoArgs, HostFacts),
    "containers": Operation(NoArgs, list[ContainerSnapshot]),
    "container": Operation(ContainerRef, ContainerSnapshot),
    "inspect": Operation(ContainerRef, dict[str, Any]),
    "act": Operation(ActArgs, None),
    "logs": Operation(LogsArgs, None, streams=True),
    "images": Operation(NoArgs, list[ImageInfo]),
    "remove_image": Operation(ImageRef, None),
    "prune_images": Operation(PruneArgs, PruneResult),
    "networks": Operation(NoArgs, list[NetworkInfo]),
    "remove_network": Operation(NetworkRef, None),
    "prune_networks": Operation(PruneArgs, PruneResult),
    "volumes": Operation(NoArgs, list[VolumeInfo]),
    "remove_volume": Operation(VolumeRef, None),
    "prune_volumes": Operation(PruneArgs, PruneResult),
    "stats": Operation(StatsArgs, list[StatsSample]),
    "host_stats": Operation(NoArgs, HostStats),
}

# Errors that cross the wire by class name; anything else arrives as a plain EngineError.
ERRORS: dict[str, type[base.EngineError]] = {
    cls.__name__: cls
    for cls in (
        base.EngineError,
        base.HostUnreachable,
        base.EngineTimeout,
        base.TlsHandshakeFailed,
        base.CertificateRejected,
        base.ServerCertificateInvalid,
        base.NotDockerApi,
        base.NotFound,
        base.Conflict,
        base.NotModified,
        base.AgentOffline,
        base.NotSupported,
    )
}


def error_from_wire(fail: Fail) -> base.EngineError:
    return ERRORS.get(fail.error, base.EngineError)(fail.message)


def error_to_wire(error: base.EngineError) -> Fail:
    name = type(error).__name__ if type(error).__name__ in ERRORS else "EngineError"
    return Fail(error=name, message=str(error))


# --- the envelope ---------------------------------------------------------------------------------------------

# Which payload each message type carries, and which way it may travel.
FROM_AGENT: dict[str, type] = {
    "register": Register,
    "hello": Hello,
    "heartbeat": Heartbeat,
    "events": Events,
    "reply": Reply,
    "chunk": Chunk,
    "end": End,
    "fail": Fail,
    "error": Error,
}
FROM_SERVER: dict[str, type] = {
    "registered": Registered,
    "welcome": Welcome,
    "request": NoArgs,  # the real arguments depend on `name`: see request_args()
    "cancel": Cancel,
    "error": Error,
}


@dataclass(frozen=True)
class Message:
    type: str
    payload: Any = field(default_factory=NoArgs)
    id: str | None = None
    name: str | None = None


def encode(message: Message) -> str:
    text = json.dumps(
        {
            "v": PROTOCOL_VERSION,
            "type": message.type,
            "id": message.id,
            "name": message.name,
            "payload": to_wire(message.payload),
        },
        separators=(",", ":"),
    )
    if len(text.encode()) > MAX_MESSAGE_BYTES:
        raise ProtocolError(f"a {message.type} message of {len(text)} characters is over the size limit")
    return text


def decode(text: str | bytes, *, sender: str) -> Message:
    """Check and parse one frame from `sender` ("agent" or "server"); raises ProtocolError."""
    if isinstance(text, bytes):
        raise ProtocolError("binary frames are not part of the protocol")
    if len(text.encode()) > MAX_MESSAGE_BYTES:
        raise ProtocolError(f"message over the {MAX_MESSAGE_BYTES} byte limit")
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise ProtocolError(f"not JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise ProtocolError("the envelope is not an object")
    if raw.get("v") != PROTOCOL_VERSION:
        raise ProtocolError(f"protocol version {raw.get('v')!r} is not {PROTOCOL_VERSION}")
    kinds = FROM_AGENT if sender == "agent" else FROM_SERVER
    kind = raw.get("type")
    if kind not in kinds:
        raise ProtocolError(f"unknown message type {kind!r}")
    message_id, name = raw.get("id"), raw.get("name")
    if message_id is not None and (not isinstance(message_id, str) or not 0 < len(message_id) <= 64):
        raise ProtocolError("the id must be a short string")
    if kind == "request":
        if name not in OPERATIONS:
            raise ProtocolError(f"unknown request {name!r}")
        payload_type = OPERATIONS[name].args
    else:
        payload_type = kinds[kind]
    payload = from_wire(payload_type, raw.get("payload", {}), where=kind)
    return Message(type=kind, payload=payload, id=message_id, name=name)


# --- the codec: our dataclasses to JSON values and back, checking types on the way in --------------------------


def to_wire(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_wire(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [to_wire(item) for item in value]
    if isinstance(value, dict):
        return {str(key): to_wire(item) for key, item in value.items()}
    return value


def from_wire(expected: Any, value: Any, *, where: str = "payload") -> Any:
    """`value` decoded as `expected` (a dataclass, enum, datetime, list/tuple/dict, union or plain type)."""
    if expected is Any:
        return value
    if expected is None or expected is type(None):
        if value is not None:
            raise ProtocolError(f"{where}: expected nothing")
        return None
    origin = get_origin(expected)
    if origin in (typing.Union, types.UnionType):
        options = get_args(expected)
        if value is None and type(None) in options:
            return None
        for option in options:
            if option is type(None):
                continue
            try:
                return from_wire(option, value, where=where)
            except ProtocolError:
                continue
        raise ProtocolError(f"{where}: {value!r:.40} fits none of {expected}")
    if origin in (list, tuple):
        if not isinstance(value, list):
            raise ProtocolError(f"{where}: expected a list")
        item_type = get_args(expected)[0]
        items = [from_wire(item_type, item, where=f"{where}[{n}]") for n, item in enumerate(value)]
        return items if origin is list else tuple(items)
    if origin is dict:
        if not isinstance(value, dict):
            raise ProtocolError(f"{where}: expected an object")
        key_type, item_type = get_args(expected)
        return {from_wire(key_type, k, where=where): from_wire(item_type, v, where=f"{where}.{k}")
                for k, v in value.items()}  # fmt: skip
    if dataclasses.is_dataclass(expected):
        return _dataclass_from_wire(expected, value, where)
    if isinstance(expected, type) and issubclass(expected, enum.Enum):
        try:
            return expected(value)
        except ValueError:
            raise ProtocolError(f"{where}: {value!r:.40} is not a {expected.__name__}") from None
    if expected is datetime:
        try:
            parsed = datetime.fromisoformat(value)
        except (TypeError, ValueError):
            raise ProtocolError(f"{where}: {value!r:.40} is not a date and time") from None
        if parsed.tzinfo is None:
            raise ProtocolError(f"{where}: the time has no time zone")
        return parsed
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if expected in (str, int, float, bool):
        # bool is an int in Python, but not on the wire.
        if type(value) is not expected:
            raise ProtocolError(f"{where}: expected {expected.__name__}, got {type(value).__name__}")
        return value
    raise ProtocolError(f"{where}: cannot decode {expected}")


@functools.cache
def _type_hints(cls: type) -> dict[str, Any]:
    # Resolving a dataclass's annotations costs more than decoding it: the stats of a sweep decode hundreds.
    return get_type_hints(cls)


def _dataclass_from_wire(cls: type, value: Any, where: str) -> Any:
    if not isinstance(value, dict):
        raise ProtocolError(f"{where}: expected an object")
    hints = _type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = value.keys() - fields.keys()
    if unknown:
        raise ProtocolError(f"{where}: unexpected field {sorted(unknown)[0]!r}")
    values = {}
    for name, spec in fields.items():
        if name in value:
            values[name] = from_wire(hints[name], value[name], where=f"{where}.{name}")
        elif spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING:
            raise ProtocolError(f"{where}: missing field {name!r}")
    return cls(**values)
