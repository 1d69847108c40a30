"""The live log WebSocket: `/ws/containers/<pk>/logs/` sends a container's last lines, then follows it.

Query: `tail` (1..10,000, default 100), `timestamps=1`, `follow=0` to stop after the last lines (default:
follow), `filter` (text; case-insensitive substring) with `regex=1` to read it as a regular expression.

Messages (JSON text frames):
    server → client
        {"type": "lines", "lines": ["...", ...]}            at most 500 lines, sent at most every ~100 ms
        {"type": "status", "state": S, "message": "..."}    S: "following" (the stream is open), then once at
                                                            the end "stopped" (the container stopped),
                                                            "ended" (the stream ended while it still runs:
                                                            restarted, or the daemon let go) or "done"
                                                            (follow was off)
        {"type": "error", "message": "..."}                 a bad request or an engine error
    client → server
        {"type": "ack"}                                     once per "lines" message, when it has been shown
After the final status or an error the server closes the socket (4404: no such container, 4400: bad filter).

Flow control: Daphne does not push back on a slow client (it buffers whatever we send), so the client
acknowledges each "lines" message and the server keeps at most WINDOW of them unacknowledged. When the
window is full the sender waits, the bounded pipe between reader thread and sender fills up, and the reader
thread blocks on it, so Docker's connection stops being read. Nothing is dropped; memory stays bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from apps.containers.logs import LogRequest, line_filter
from apps.containers.models import Container
from apps.core.consumers import CLOSE_UNAUTHENTICATED
from apps.hosts.engines import engine_for
from apps.hosts.models import Host
from dockmon_agent.engine.base import ContainerState, Engine, EngineError, NotFound, Stream

logger = logging.getLogger(__name__)

CLOSE_BAD_REQUEST = 4400
CLOSE_NOT_FOUND = 4404

BATCH_LINES = 500
BATCH_CHARS = 256 * 1024  # a batch of long lines is cut earlier, so one message stays small
LINGER_SECONDS = 0.1  # after a first line, wait this long for more to send them together
PIPE_CHARS = 1024 * 1024  # what the reader may get ahead of the sender before it blocks
ITEM_OVERHEAD = 32  # so empty lines count too
WINDOW = 4  # "lines" messages sent but not yet acknowledged by the client

# What travels from the reader thread to the sender: a log line, or a control message.
Item = str | dict[str, str]

READER_THREAD_PREFIX = "dockmon-logs-"
RUNNING_STATES = frozenset({ContainerState.RUNNING, ContainerState.PAUSED})


def _status(state: str, message: str) -> dict[str, str]:
    return {"type": "status", "state": state, "message": message}


def _error(message: str) -> dict[str, str]:
    return {"type": "error", "message": message}


def _cost(item: Item) -> int:
    return ITEM_OVERHEAD + (len(item) if isinstance(item, str) else 0)


class _Pipe:
    """Items from the reader thread to the sender on the event loop, bounded by PIPE_CHARS.

    `put` (thread) blocks while the pipe is full; `take` (loop) awaits a batch. The thread wakes the loop
    only when the pipe stops being empty or a batch becomes full, not once per line.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._items: deque[Item] = deque()
        self._chars = 0
        self._cond = threading.Condition()
        self._wake = asyncio.Event()
        self._ended = False  # the reader put its last item
        self._cancelled = False  # the socket is gone: the reader should stop

    def _batch_full(self) -> bool:
        return len(self._items) >= BATCH_LINES or self._chars >= BATCH_CHARS

    def _notify_loop(self) -> None:
        # The loop is gone only when the consumer was torn down, and then cancel() has been called.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._wake.set)

    # --- reader thread

    def put(self, item: Item) -> bool:
        """Queue one item, waiting while the pipe is full; False once the socket is gone."""
        with self._cond:
            self._cond.wait_for(lambda: self._cancelled or self._chars < PIPE_CHARS)
            if self._cancelled:
                return False
            was_full = self._batch_full()
            self._items.append(item)
            self._chars += _cost(item)
            wake = len(self._items) == 1 or (self._batch_full() and not was_full)
        if wake:
            self._notify_loop()
        return True

    def end(self) -> None:
        with self._cond:
            self._ended = True
        self._notify_loop()

    # --- event loop

    def cancel(self) -> None:
        with self._cond:
            self._cancelled = True
            self._cond.notify_all()

    async def take(self) -> tuple[list[Item], bool]:
        """The next batch, once one is full, the reader has ended or LINGER_SECONDS have passed since the
        first item; and whether that was the last one."""
        await self._until(lambda: bool(self._items) or self._ended)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._until(lambda: self._ended or self._batch_full()), LINGER_SECONDS)
        batch: list[Item] = []
        chars = 0
        with self._cond:
            while self._items and len(batch) < BATCH_LINES and chars < BATCH_CHARS:
                item = self._items.popleft()
                chars += _cost(item)
                batch.append(item)
            self._chars -= chars
            last = self._ended and not self._items
            self._cond.notify_all()
        return batch, last

    async def _until(self, ready: Callable[[], bool]) -> None:
        while True:
            # Cleared before the check: a wake-up scheduled by the thread after it cannot be lost.
            self._wake.clear()
            with self._cond:
                if ready():
                    return
            await self._wake.wait()


class _Reader:
    """Reads one container's log in a thread of its own and feeds the pipe.

    A thread per socket, not the shared executor: a follow blocks for as long as the page is open, and
    would soon occupy every worker of sync_to_async. `stop()` (from the loop) ends it promptly: it shuts
    the stream's socket, which wakes a blocked read, and cancels the pipe, which wakes a blocked put.
    """

    def __init__(self, host: Host, docker_id: str, request: LogRequest, pipe: _Pipe, thread_name: str) -> None:
        self._host = host
        self._docker_id = docker_id
        self._request = request
        self._keep = line_filter(request.pattern, regex=request.regex, timestamps=request.timestamps)
        self._pipe = pipe
        self._lock = threading.Lock()
        self._stopped = False
        self._stream: Stream | None = None
        # Daemon: a pathological regex cannot be interrupted, and must not keep the server from exiting.
        self.thread = threading.Thread(target=self._run, name=thread_name, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            stream = self._stream
        if stream is not None:
            stream.close()
        self._pipe.cancel()

    def _run(self) -> None:
        try:
            with engine_for(self._host) as engine:
                self._read(engine)
        except EngineError as error:
            self._pipe.put(_error(str(error)))
        except Exception:
            logger.exception("Following the log of container %s failed", self._docker_id)
            self._pipe.put(_error("Reading the log failed unexpectedly; DockMon's log has the details."))
        finally:
            self._pipe.end()

    def _read(self, engine: Engine) -> None:
        request = self._request
        stream = engine.logs(self._docker_id, tail=request.tail, timestamps=request.timestamps, follow=request.follow)
        with self._lock:
            if self._stopped:
                return  # the socket went while we connected; closing the engine closes the stream
            self._stream = stream
        if request.follow and not self._pipe.put(_status("following", "Following: new lines appear as written.")):
            return
        for line in stream:
            if (self._keep is None or self._keep(line)) and not self._pipe.put(line):
                return
        if not self._stopped:
            self._pipe.put(self._end_status(engine))

    def _end_status(self, engine: Engine) -> dict[str, str]:
        if not self._request.follow:
            return _status("done", "End of the log: follow is off.")
        # Docker ends a follow when the container stops; the daemon going away ends it too, and then this
        # inspect raises the EngineError that says so.
        try:
            state = engine.container(self._docker_id).state
        except NotFound:
            return _status("stopped", "Container removed: the log ended.")
        if state in RUNNING_STATES:
            return _status("ended", "The log ended while the container runs (it may have restarted).")
        return _status("stopped", "Container stopped: the log ended.")


def _container(pk: int) -> Container | None:
    return Container.objects.select_related("host").filter(pk=pk).first()


class LogsConsumer(AsyncWebsocketConsumer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._reader: _Reader | None = None
        self._sender: asyncio.Task[None] | None = None
        self._window = asyncio.Condition()
        self._unacked = 0

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        # disconnect() is not called when the server cancels the consumer (shutdown): stop here as well.
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self._stop()

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated or not user.is_active:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        container = await database_sync_to_async(_container)(self.scope["url_route"]["kwargs"]["pk"])
        if container is None or container.is_removed:
            message = "There is no such container." if container is None else "The container was removed."
            await self._refuse(message, CLOSE_NOT_FOUND)
            return
        request = LogRequest.from_query(self.scope.get("query_string", b""))
        try:
            line_filter(request.pattern, regex=request.regex, timestamps=request.timestamps)
        except re.error as error:
            await self._refuse(f"The filter is not a valid regular expression: {error}.", CLOSE_BAD_REQUEST)
            return
        await self.accept()
        pipe = _Pipe(asyncio.get_running_loop())
        name = f"{READER_THREAD_PREFIX}{container.pk}"
        self._reader = _Reader(container.host, container.docker_id, request, pipe, name)
        self._reader.start()
        self._sender = asyncio.create_task(self._send_from(pipe))

    async def _refuse(self, message: str, code: int) -> None:
        # Accepted first: a socket closed before accept() reaches the page without any text.
        await self.accept()
        await self._send_json(_error(message))
        await self.close(code=code)

    async def disconnect(self, code: int) -> None:
        await self._stop()

    async def _stop(self) -> None:
        if self._reader is not None:
            self._reader.stop()
        if self._sender is not None:
            self._sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sender

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        try:
            message = json.loads(text_data or "")
        except ValueError:
            return
        if isinstance(message, dict) and message.get("type") == "ack":
            async with self._window:
                # Never below zero: extra acks must not open the window wider.
                if self._unacked:
                    self._unacked -= 1
                    self._window.notify()

    async def _send_from(self, pipe: _Pipe) -> None:
        """Send what the reader produces, lines batched, until it has finished; then close."""
        last = False
        while not last:
            items, last = await pipe.take()
            lines: list[str] = []
            for item in items:
                if isinstance(item, str):
                    lines.append(item)
                else:  # a control message keeps its place after the lines before it
                    await self._send_lines(lines)
                    lines = []
                    await self._send_json(item)
            await self._send_lines(lines)
        await self.close()

    async def _send_lines(self, lines: list[str]) -> None:
        if not lines:
            return
        async with self._window:
            await self._window.wait_for(lambda: self._unacked < WINDOW)
            self._unacked += 1
        await self._send_json({"type": "lines", "lines": lines})

    async def _send_json(self, message: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(message, ensure_ascii=False))
