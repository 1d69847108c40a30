"""The agent's connection to DockMon: one asyncio loop for the WebSocket, threads for everything that blocks.

Threads and the loop:
- The loop owns the WebSocket: it reads the server's messages, sends answers, events and heartbeats.
- Engine calls block (HTTP to the Docker daemon), so each request runs in a small thread pool; the loop only
  awaits it. A log stream can stay open for hours: it gets a thread of its own that hands lines to the loop
  through a bounded `_LinePipe`, and waits when the server is slower than the container.
- One thread reads Docker's event stream for the agent's whole life, connected or not, into a bounded
  `EventQueue`; the loop sends what accumulated after each (re)connection. When the daemon goes away the
  thread retries with back-off and its error goes out in heartbeats as `docker_error`.

Secrets: the token and the credential are never logged, and the websockets library's frame logging (which
would print the hello message) is kept off whatever the log level.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import enum
import functools
import json
import logging
import random
import socket
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from dockmon_agent import __version__, protocol
from dockmon_agent.config import Config, ConfigError, Credential, load_credential, save_credential
from dockmon_agent.engine.base import DockerEvent, Engine, EngineError, HostFacts, Stream

logger = logging.getLogger(__name__)
# Debug logging of websockets prints every frame, the hello (with the credential) included.
_ws_logger = logging.getLogger("dockmon_agent.websockets")
_ws_logger.setLevel(logging.INFO)

EXIT_OK = 0
EXIT_FINAL = 2  # the systemd unit does not restart on this status: the agent needs a person first

# A connection that stayed up this long resets the reconnect back-off.
STABLE_SECONDS = 60.0
AUTH_TIMEOUT_SECONDS = 30.0
FACTS_EVERY_SECONDS = 300.0
EVENT_BATCH_SECONDS = 0.1
EVENT_QUEUE_SIZE = 1000
EVENTS_PER_MESSAGE = 200
REQUEST_WORKERS = 8
# Each follows a container's logs on a thread of its own: a cap keeps a busy server from exhausting threads.
MAX_STREAMS = 64
# How far a log stream's reader thread may run ahead of the WebSocket before it waits.
PIPE_LINES = 4 * protocol.CHUNK_LINES
PIPE_BYTES = 4 * protocol.CHUNK_BYTES
# Room for an events message's envelope around its events.
ENVELOPE_BYTES = 1024


class Backoff:
    """Exponential back-off with full jitter: attempt n waits a random time up to first·2ⁿ (capped), and never
    less than `first`, so that many agents cut off together do not all come back in the same second."""

    def __init__(self, first: float = 1.0, cap: float = 60.0) -> None:
        self.first = first
        self.cap = cap
        self._attempt = 0

    def next(self) -> float:
        ceiling = min(self.cap, self.first * 2**self._attempt)
        self._attempt = min(self._attempt + 1, 32)  # no float overflow after days of retries
        return max(self.first, random.uniform(0, ceiling))  # noqa: S311  # jitter, not a secret

    def reset(self) -> None:
        self._attempt = 0


# --- events: from the reader thread to whichever connection is up ------------------------------------------


class EventQueue:
    """Docker events waiting to be sent, oldest first. When full, the oldest go and are counted: the server
    learns how many it missed (and resyncs)."""

    def __init__(self, maxlen: int = EVENT_QUEUE_SIZE) -> None:
        self._events: deque[DockerEvent] = deque(maxlen=maxlen)
        self._dropped = 0
        self._lock = threading.Lock()
        self.on_put: Callable[[], None] = lambda: None

    def put(self, event: DockerEvent) -> None:
        with self._lock:
            if len(self._events) == self._events.maxlen:
                self._dropped += 1
            self._events.append(event)
        self.on_put()

    def take(self, limit: int) -> tuple[list[DockerEvent], int]:
        """Up to `limit` of the oldest events, and the number dropped since the last take."""
        with self._lock:
            events = [self._events.popleft() for _ in range(min(limit, len(self._events)))]
            dropped, self._dropped = self._dropped, 0
        return events, dropped

    def put_back(self, events: list[DockerEvent], dropped: int) -> None:
        """Return what could not be sent (the connection dropped) to the front of the queue."""
        with self._lock:
            for event in reversed(events):
                if len(self._events) == self._events.maxlen:
                    dropped += 1  # older than everything queued: these are the ones to lose
                else:
                    self._events.appendleft(event)
            self._dropped += dropped

    def __len__(self) -> int:
        return len(self._events)


class EventReader:
    """Reads the daemon's container events on a thread for as long as the agent runs.

    The stream ends when the daemon goes (restart, upgrade, socket gone); the reader then reopens it with
    back-off, from just after the last event it saw, and `error` says why Docker cannot be read meanwhile.
    """

    def __init__(self, engine: Engine, queue: EventQueue, backoff: Backoff) -> None:
        self.engine = engine
        self.queue = queue
        self.backoff = backoff
        self.error = ""
        self._stream: Stream | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="dockmon-events", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        with self._lock:
            stream = self._stream
        if stream is not None:
            stream.close()

    def _run(self) -> None:
        since: datetime | None = None
        while not self._stopping.is_set():
            try:
                since = self._read(since)
            except EngineError as exc:
                if self.error != str(exc):
                    logger.warning("Cannot read Docker's events: %s", exc)
                self.error = str(exc)
            except Exception:
                # A bug of ours (an event we cannot parse): without this thread no event would arrive again.
                logger.exception("Reading Docker's events failed")
            if not self._stopping.is_set():
                self._stopping.wait(self.backoff.next())

    def _read(self, since: datetime | None) -> datetime | None:
        """One event stream, until it ends; the time to reopen the next one from."""
        stream = self.engine.events(since=since)
        if self.error:
            logger.info("Docker answers again")
        self.error = ""
        with self._lock:
            self._stream = stream
        try:
            if self._stopping.is_set():  # stop() came before the stream was visible to it
                return since
            for event in stream:
                self.queue.put(event)
                # Docker's `since` is inclusive: a microsecond on, the last event does not come twice.
                since = event.time + timedelta(microseconds=1)
                self.backoff.reset()
        finally:
            with self._lock:
                self._stream = None
            stream.close()
        if not self._stopping.is_set():
            logger.info("Docker's event stream ended; reopening it")
        return since


# --- log streams: from their reader thread to the WebSocket ------------------------------------------------------


class _LinePipe:
    """Lines from a reader thread to the loop, bounded: the thread waits while the loop is behind."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._lines: deque[tuple[str, int]] = deque()  # each with its size as JSON text
        self._bytes = 0
        self._done = False
        self._closed = False
        self._error: BaseException | None = None
        self._cond = threading.Condition()
        self._ready = asyncio.Event()

    def _wake(self) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody to wake
            self._loop.call_soon_threadsafe(self._ready.set)

    # The reader thread's side.

    def put(self, line: str) -> bool:
        """False once the loop side closed the pipe: stop reading."""
        # Measured as JSON (escapes included), so CHUNK_BYTES of lines always fit in one message.
        size = len(json.dumps(line)) + 1
        with self._cond:
            while not self._closed and (len(self._lines) >= PIPE_LINES or self._bytes >= PIPE_BYTES):
                self._cond.wait()
            if self._closed:
                return False
            wake = not self._lines
            self._lines.append((line, size))
            self._bytes += size
        if wake:
            self._wake()
        return True

    def finish(self, error: BaseException | None = None) -> None:
        with self._cond:
            self._done, self._error = True, error
        self._wake()

    # The loop's side.

    async def take(self) -> list[str] | None:
        """The next chunk's lines (at most CHUNK_LINES lines, CHUNK_BYTES); None at the end of the stream.
        Raises what ended the reader thread, if it failed."""
        while True:
            with self._cond:
                if self._lines:
                    lines: list[str] = []
                    size = 0
                    while self._lines and len(lines) < protocol.CHUNK_LINES:
                        line, length = self._lines[0]
                        if lines and size + length > protocol.CHUNK_BYTES:
                            break
                        self._lines.popleft()
                        lines.append(line)
                        size += length
                    self._bytes -= size
                    self._cond.notify_all()
                    return lines
                if self._done:
                    if self._error is not None:
                        raise self._error
                    return None
                self._ready.clear()
            await self._ready.wait()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()


def _read_lines(stream: Stream, pipe: _LinePipe) -> None:
    """A log stream's thread: every line into the pipe until the stream ends or the pipe is closed."""
    try:
        for line in stream:
            if not pipe.put(line):
                break
    except BaseException as exc:  # noqa: BLE001  # handed to the loop, which reports it as the stream's failure
        pipe.finish(exc)
    else:
        pipe.finish()
    finally:
        stream.close()


# --- messages ---------------------------------------------------------------------------------------------------


def _event_batches(events: list[DockerEvent]) -> tuple[list[list[DockerEvent]], int]:
    """`events` cut into batches that fit in one message each, and how many were too large to send at all."""
    limit = protocol.MAX_MESSAGE_BYTES - ENVELOPE_BYTES
    batches: list[list[DockerEvent]] = [[]]
    size = skipped = 0
    for event in events:
        length = len(json.dumps(protocol.to_wire(event))) + 1
        if length > limit:
            skipped += 1  # a container with megabytes of labels: the server's resync will catch up
            continue
        if size + length > limit:
            batches.append([])
            size = 0
        batches[-1].append(event)
        size += length
    return batches, skipped


def _id_of(text: str | bytes) -> str | None:
    """The envelope id of a frame decode() refused, so the error can name it (best effort)."""
    with contextlib.suppress(ValueError, TypeError, AttributeError):
        value = json.loads(text).get("id")
        if isinstance(value, str) and 0 < len(value) <= 64:
            return value
    return None


class _Outcome(enum.Enum):
    RETRY = "retry"
    REPLACED = "replaced"  # another copy of this agent took over: wait long before trying again
    FINAL = "final"  # refused for good: exit and let a person look
    STOPPED = "stopped"


class _Closed(Exception):
    """The connection ended during authentication, with this close code (if any) and reason."""

    def __init__(self, code: int | None, reason: str) -> None:
        super().__init__(code, reason)
        self.code, self.reason = code, reason


# --- the agent -------------------------------------------------------------------------------------------------


class Agent:
    """Connects to DockMon, serves its requests with `engine`, pushes events and heartbeats; reconnects for
    ever until stopped or refused for good. `run()` returns the process exit status.

    `min_delay` and `max_delay` bound the reconnect back-off (tests make them small)."""

    def __init__(self, config: Config, engine: Engine, *, min_delay: float = 1.0, max_delay: float = 60.0) -> None:
        self.config = config
        self.engine = engine
        self.ssl = config.ssl_context()
        self.credential = load_credential(config)
        self.backoff = Backoff(min_delay, max_delay)
        self.events = EventQueue()
        self.reader = EventReader(engine, self.events, Backoff(min_delay, max_delay))
        self.pool = ThreadPoolExecutor(max_workers=REQUEST_WORKERS, thread_name_prefix="dockmon-request")
        self.authenticated = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop = asyncio.Event()

    def stop(self) -> None:
        """End run() gracefully; safe from signal handlers and other threads."""
        if self._loop is None:
            self._stop.set()  # run() has not started: it will return at once
        else:
            self._loop.call_soon_threadsafe(self._stop.set)

    async def run(self) -> int:
        self._loop = asyncio.get_running_loop()
        if self.config.insecure:
            logger.warning(
                "!!! --insecure: the server's certificate is NOT verified. Anyone on the network path can pose "
                "as DockMon and take over this host's Docker. Use --ca-bundle with DockMon's certificate instead."
            )
        if self.credential is not None and self.config.token:
            logger.info("A credential is stored in %s: the token is not needed and not used", self.config.data_dir)
        self.reader.start()
        try:
            return await self._run()
        finally:
            self.reader.stop()
            self.pool.shutdown(wait=False, cancel_futures=True)

    async def _run(self) -> int:
        while not self._stop.is_set():
            attempt = asyncio.create_task(self._connect_once())
            stopping = asyncio.create_task(self._stop.wait())
            await asyncio.wait([attempt, stopping], return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            if not attempt.done() and not self.authenticated:
                attempt.cancel()  # still connecting or waiting for Docker: nothing to close gracefully
            # An authenticated connection sees the stop itself and closes with 1000.
            outcome, lasted = await _outcome_of(attempt)
            if outcome is _Outcome.FINAL:
                return EXIT_FINAL
            if outcome is _Outcome.STOPPED or self._stop.is_set():
                break
            if lasted >= STABLE_SECONDS:
                self.backoff.reset()
            delay = self.backoff.cap if outcome is _Outcome.REPLACED else self.backoff.next()
            logger.info("Reconnecting in %.1f s", delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), delay)
        logger.info("Stopped")
        return EXIT_OK

    async def _facts(self, *, wait: bool) -> tuple[HostFacts | None, str]:
        """Docker's facts, or (None, why) when the daemon does not answer. Registering needs them (the
        engine id tells clones apart), so with `wait` it retries with back-off until the daemon answers;
        a known agent connects anyway and DockMon shows that its Docker does not answer."""
        backoff = Backoff(self.backoff.first, self.backoff.cap)
        while True:
            try:
                return await asyncio.to_thread(self.engine.info), ""
            except EngineError as exc:
                if not wait:
                    logger.warning("Docker does not answer (%s); connecting to report it", exc)
                    return None, str(exc)
                delay = backoff.next()
                logger.warning("Docker does not answer (%s); trying again in %.1f s before registering", exc, delay)
                await asyncio.sleep(delay)

    async def _connect_once(self) -> tuple[_Outcome, float]:
        """One connection, from connecting to its end: how it ended, and how long it was authenticated."""
        registering = self.credential is None
        facts, docker_error = await self._facts(wait=registering)
        since: float | None = None
        try:
            async with connect(
                self.config.server,
                ssl=self.ssl,
                max_size=protocol.MAX_MESSAGE_BYTES,
                logger=_ws_logger,
                user_agent_header=f"dockmon-agent/{__version__}",
            ) as ws:
                host, heartbeat = await self._authenticate(ws, facts, docker_error)
                since = time.monotonic()
                self.authenticated = True
                stopped = await _Connection(self, ws, host, heartbeat).serve()
                return (_Outcome.STOPPED if stopped else _Outcome.RETRY), time.monotonic() - since
        except _Closed as closed:
            return self._closed(closed.code, closed.reason, after_register=False), 0.0
        except ConnectionClosed as exc:
            code, reason = (exc.rcvd.code, exc.rcvd.reason) if exc.rcvd else (None, "")
            lasted = 0.0 if since is None else time.monotonic() - since
            return self._closed(code, reason, after_register=registering and since is None), lasted
        except ConfigError as exc:
            logger.error("%s", exc)
            return _Outcome.FINAL, 0.0
        except ssl.SSLCertVerificationError as exc:
            logger.error(
                "The server's certificate does not verify (%s). Give DockMon's CA or certificate with --ca-bundle.",
                exc.verify_message or exc,
            )
        except InvalidStatus as exc:
            logger.warning(
                "%s answered HTTP %s instead of a WebSocket: is --server DockMon's address?",
                self.config.server,
                exc.response.status_code,
            )
        except (InvalidHandshake, InvalidURI) as exc:
            logger.warning("The WebSocket handshake with %s failed: %s", self.config.server, exc)
        except (OSError, TimeoutError) as exc:
            logger.warning("Cannot reach %s: %s", self.config.server, str(exc) or type(exc).__name__)
        except Exception:
            # A bug of ours must not end an agent nobody watches: log it, reconnect.
            logger.exception("Unexpected error; reconnecting")
        finally:
            self.authenticated = False
        return _Outcome.RETRY, 0.0

    def _closed(self, code: int | None, reason: str, *, after_register: bool) -> _Outcome:
        detail = f" ({reason})" if reason else ""
        if code == protocol.CLOSE_REFUSED:
            logger.error(
                "DockMon refused this agent%s. Its credential was revoked or the host deleted: to connect again, "
                "delete %s and start the agent with a new registration token.",
                detail,
                self.config.credential_path,
            )
            return _Outcome.FINAL
        if code == protocol.CLOSE_UNAUTHENTICATED and after_register:
            logger.error(
                "DockMon refused the registration token%s. Create a new token on the host's page in DockMon and "
                "start the agent with it.",
                detail,
            )
            return _Outcome.FINAL
        if code == protocol.CLOSE_REPLACED:
            logger.warning(
                "Another copy of this agent (same credential) connected and replaced this one%s. Stop the other "
                "copy; until then this one tries again only every %.0f s.",
                detail,
                self.backoff.cap,
            )
            return _Outcome.REPLACED
        logger.warning("The connection to DockMon ended%s%s", f" with code {code}" if code else "", detail)
        return _Outcome.RETRY

    async def _authenticate(self, ws: ClientConnection, facts: HostFacts | None, docker_error: str) -> tuple[int, int]:
        """Register (first time) or say hello; the host id and heartbeat interval the server answers with."""
        if self.credential is None:
            assert facts is not None  # registering waits for Docker
            kind = "register"
            payload: Any = protocol.Register(
                token=self.config.token,
                name=self.config.name or facts.name or socket.gethostname(),
                engine_id=facts.engine_id,
                facts=facts,
                separate=self.config.separate_host,
                agent_version=__version__,
            )
        else:
            kind = "hello"
            payload = protocol.Hello(
                self.credential.credential,
                facts.engine_id if facts else "",
                facts,
                agent_version=__version__,
                docker_error=docker_error,
            )
        await ws.send(protocol.encode(protocol.Message(kind, payload)))
        try:
            async with asyncio.timeout(AUTH_TIMEOUT_SECONDS):
                text = await ws.recv()
        except TimeoutError:
            raise _Closed(None, f"no answer to our {kind} within {AUTH_TIMEOUT_SECONDS:.0f} s") from None
        try:
            message = protocol.decode(text, sender="server")
        except protocol.ProtocolError as exc:
            await ws.close(protocol.CLOSE_PROTOCOL_ERROR, str(exc)[:120])
            raise _Closed(None, f"the server's answer breaks the protocol: {exc}") from None
        if message.type == "registered" and kind == "register":
            credential = Credential(self.config.server, message.payload.host, message.payload.credential)
            try:
                path = save_credential(self.config.data_dir, credential)
            except OSError as exc:
                # Without the file the next start would need a new token: better to stop and say so now.
                await ws.close()
                raise ConfigError(
                    f"Registered, but the credential cannot be saved in {self.config.data_dir} ({exc.strerror}). "
                    "Fix the directory, then register again with a new token."
                ) from None
            self.credential = credential
            logger.info("Registered with DockMon as host %s; credential saved in %s", credential.host, path)
            return credential.host, max(1, message.payload.heartbeat_seconds)
        if message.type == "welcome" and kind == "hello":
            logger.info("Connected to %s as host %s", self.config.server, message.payload.host)
            return message.payload.host, max(1, message.payload.heartbeat_seconds)
        reason = message.payload.message if message.type == "error" else f"unexpected {message.type}"
        await ws.close(protocol.CLOSE_PROTOCOL_ERROR, f"after {kind}: {reason}"[:120])
        raise _Closed(None, f"the server answered our {kind} with {reason}")


async def _outcome_of(attempt: asyncio.Task[tuple[_Outcome, float]]) -> tuple[_Outcome, float]:
    try:
        return await attempt
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise  # run() itself is being cancelled, not just the attempt
        return _Outcome.STOPPED, 0.0


class _Connection:
    """One authenticated connection: its requests, streams, heartbeats and event batches."""

    def __init__(self, agent: Agent, ws: ClientConnection, host: int, heartbeat: int) -> None:
        self.agent = agent
        self.engine = agent.engine
        self.ws = ws
        self.host = host
        self.heartbeat = heartbeat
        self.requests: dict[str, asyncio.Task[None]] = {}
        self.streams = 0

    async def serve(self) -> bool:
        """Until the connection ends (raises ConnectionClosed) or the agent is stopped (returns True)."""
        stop = asyncio.create_task(self.agent._stop.wait())
        loops = [
            asyncio.create_task(self._receive()),
            asyncio.create_task(self._heartbeats()),
            asyncio.create_task(self._send_events()),
        ]
        try:
            done, _ = await asyncio.wait([stop, *loops], return_when=asyncio.FIRST_COMPLETED)
            if stop in done:
                await self._end(loops)  # so that nothing follows the close frame
                await self.ws.close(1000, "agent stopping")
                return True
            for task in done:
                task.result()  # the connection closed: raises ConnectionClosed
            return False
        finally:
            await self._end([stop, *loops])

    async def _end(self, loops: list[asyncio.Task[Any]]) -> None:
        # A cancelled request task closes its engine Stream (see _stream); a blocking engine call finishes in
        # its thread and its result is dropped.
        tasks = [*loops, *self.requests.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _send(self, message: protocol.Message) -> None:
        await self.ws.send(protocol.encode(message))

    async def _fail(self, message_id: str | None, error: EngineError) -> None:
        await self._send(protocol.Message("fail", protocol.error_to_wire(error), id=message_id))

    # --- what the server sends

    async def _receive(self) -> None:
        while True:
            text = await self.ws.recv()
            try:
                message = protocol.decode(text, sender="server")
            except protocol.ProtocolError as exc:
                message_id = _id_of(text)
                logger.warning("Refused a message from the server (id %s): %s", message_id, exc)
                await self._send(protocol.Message("error", protocol.Error(str(exc)), id=message_id))
                continue
            if message.type == "request":
                await self._start(message)
            elif message.type == "cancel":
                if task := self.requests.get(message.id or ""):
                    task.cancel()
            elif message.type == "error":
                logger.warning("DockMon reports a problem with our message %s: %s", message.id, message.payload.message)
            else:
                logger.warning("Ignored an unexpected %s from the server", message.type)

    async def _start(self, message: protocol.Message) -> None:
        if message.id is None or message.id in self.requests:
            problem = "a request needs an id" if message.id is None else f"request {message.id} is running already"
            await self._send(protocol.Message("error", protocol.Error(problem), id=message.id))
            return
        serve = self._serve_stream if protocol.OPERATIONS[message.name].streams else self._serve_request
        task = asyncio.create_task(self._guarded(serve(message)))
        self.requests[message.id] = task
        task.add_done_callback(lambda _: self.requests.pop(message.id, None))

    @staticmethod
    async def _guarded(work: Coroutine[Any, Any, None]) -> None:
        # The connection may drop while an answer goes out: the receiving loop notices and ends the connection.
        with contextlib.suppress(ConnectionClosed):
            await work

    def _call(self, message: protocol.Message) -> asyncio.Future[Any]:
        """The engine method named by the request, run in the pool. The argument dataclasses' fields are named
        like the method's parameters."""
        method = getattr(self.engine, message.name)
        args = message.payload
        kwargs = {f.name: getattr(args, f.name) for f in dataclasses.fields(args)}
        return asyncio.get_running_loop().run_in_executor(self.agent.pool, functools.partial(method, **kwargs))

    def _unexpected(self, message: protocol.Message, exc: Exception) -> EngineError:
        logger.error("Request %s (%s) failed", message.name, message.id, exc_info=exc)
        return EngineError(f"The agent failed on {message.name} ({type(exc).__name__}); see the agent's log.")

    async def _serve_request(self, message: protocol.Message) -> None:
        try:
            result = await self._call(message)
            reply = protocol.Message("reply", protocol.Reply(protocol.to_wire(result)), id=message.id)
            text = protocol.encode(reply)
        except EngineError as exc:
            await self._fail(message.id, exc)
        except protocol.ProtocolError:
            too_large = f"The answer to {message.name} is over the {protocol.MAX_MESSAGE_BYTES} byte message limit."
            await self._fail(message.id, EngineError(too_large))
        except Exception as exc:  # noqa: BLE001  # logged by _unexpected; the server still gets an answer
            await self._fail(message.id, self._unexpected(message, exc))
        else:
            await self.ws.send(text)

    async def _serve_stream(self, message: protocol.Message) -> None:
        if self.streams >= MAX_STREAMS:
            await self._fail(message.id, EngineError(f"This agent has {MAX_STREAMS} streams open already."))
            return
        self.streams += 1
        try:
            await self._stream(message)
        finally:
            self.streams -= 1

    async def _stream(self, message: protocol.Message) -> None:
        opening = self._call(message)
        try:
            # Shielded: cancelling the request must not lose a stream the daemon is about to hand over.
            stream: Stream = await asyncio.shield(opening)
        except asyncio.CancelledError:
            opening.add_done_callback(_close_when_open)
            raise
        except EngineError as exc:
            await self._fail(message.id, exc)
            return
        except Exception as exc:  # noqa: BLE001  # logged by _unexpected; the server still gets an answer
            await self._fail(message.id, self._unexpected(message, exc))
            return
        pipe = _LinePipe(asyncio.get_running_loop())
        thread = threading.Thread(target=_read_lines, args=(stream, pipe), name=f"dockmon-{message.name}", daemon=True)
        thread.start()
        try:
            while (lines := await pipe.take()) is not None:
                await self._send(protocol.Message("chunk", protocol.Chunk(tuple(lines)), id=message.id))
            await self._send(protocol.Message("end", protocol.End(), id=message.id))
        except EngineError as exc:
            await self._fail(message.id, exc)
        except Exception as exc:  # noqa: BLE001  # logged by _unexpected; the server still gets an answer
            await self._fail(message.id, self._unexpected(message, exc))
        finally:
            # Cancelled (by the server or the connection's end) or over: the thread stops, the stream closes.
            pipe.close()
            stream.close()

    # --- what the agent pushes

    async def _heartbeats(self) -> None:
        """Every `heartbeat` seconds. Asking Docker for its facts doubles as the check that it answers."""
        last_facts: HostFacts | None = None  # so the first heartbeat of every connection carries them
        facts_sent_at = 0.0
        while True:
            try:
                facts, error = await asyncio.to_thread(self.engine.info), ""
            except EngineError as exc:
                facts, error = None, str(exc)
                last_facts = None  # so they go out again as soon as Docker is back
            error = error or self.agent.reader.error
            due = time.monotonic() - facts_sent_at >= FACTS_EVERY_SECONDS
            if facts is not None and (facts != last_facts or due):
                last_facts, facts_sent_at = facts, time.monotonic()
            else:
                facts = None
            await self._send(protocol.Message("heartbeat", protocol.Heartbeat(self.host, error, facts)))
            await asyncio.sleep(self.heartbeat)

    async def _send_events(self) -> None:
        """What the reader queued, as soon as it comes but at most every EVENT_BATCH_SECONDS."""
        queue = self.agent.events
        ready = asyncio.Event()
        loop = asyncio.get_running_loop()

        def wake() -> None:
            with contextlib.suppress(RuntimeError):  # the loop is closing
                loop.call_soon_threadsafe(ready.set)

        queue.on_put = wake
        try:
            while True:
                if not len(queue):
                    ready.clear()
                    await ready.wait()
                events, dropped = queue.take(EVENTS_PER_MESSAGE)
                batches, too_large = _event_batches(events)
                dropped += too_large
                for n, batch in enumerate(batches):
                    try:
                        await self._send(protocol.Message("events", protocol.Events(self.host, tuple(batch), dropped)))
                    except BaseException:
                        queue.put_back([event for rest in batches[n:] for event in rest], dropped)
                        raise
                    dropped = 0  # counted once, in the first message that got out
                await asyncio.sleep(EVENT_BATCH_SECONDS)
        finally:
            queue.on_put = lambda: None


def _close_when_open(opening: asyncio.Future[Any]) -> None:
    if not opening.cancelled() and opening.exception() is None:
        opening.result().close()
