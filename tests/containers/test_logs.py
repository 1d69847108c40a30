"""Container logs: the live socket through the real ASGI stack against the local daemon, and the download."""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.urls import reverse
from docker.models.containers import Container as DockerContainer

from apps.containers.consumers import BATCH_LINES, READER_THREAD_PREFIX, WINDOW
from apps.containers.inventory import refresh
from apps.containers.logs import MAX_MATCH_CHARS, LogRequest, line_filter
from apps.containers.models import Container
from apps.hosts.engines import engine_for
from apps.hosts.models import Host
from dockmon.asgi import application
from tests.dockerenv.plugin import wait_for_log

pytestmark = pytest.mark.django_db(transaction=True)

COUNTER = "i=0; while :; do i=$((i+1)); echo line $i; sleep 0.1; done"
LINE = re.compile(r"^line (\d+)$")
STAMPED = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z line \d+$")


def _reader_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith(READER_THREAD_PREFIX)}


def _wait_for_no_readers(within: float = 3.0) -> set[threading.Thread]:
    deadline = time.monotonic() + within
    while (left := _reader_threads()) and time.monotonic() < deadline:
        time.sleep(0.02)
    return left


@pytest.fixture(autouse=True)
def _no_reader_survives() -> Iterator[None]:
    """Every test, whatever it does to its sockets, must leave no reader thread behind."""
    before = _reader_threads()
    yield
    assert not (_wait_for_no_readers() - before)


# --- fixtures --------------------------------------------------------------------------------------------


@pytest.fixture
def row_for(local_host: Host) -> Callable[[DockerContainer], Container]:
    """DockMon's row for a container on the local daemon."""

    def make(container: DockerContainer) -> Container:
        with engine_for(local_host) as engine:
            return refresh(local_host, engine, container.id)

    return make


@pytest.fixture
def counter(run_container, row_for) -> tuple[DockerContainer, Container]:
    """A container printing "line 1", "line 2", ... every 0.1 s, with at least 8 lines out already."""
    container = run_container("sh", "-c", COUNTER)
    wait_for_log(container, "line 8\n")
    return container, row_for(container)


class LogSocket:
    """The client side of the protocol: decodes messages and acknowledges each batch, as the page does."""

    def __init__(self, pk: int, cookie: bytes | None, *, ack: bool = True, **params: Any) -> None:
        query = "&".join(f"{key}={value}" for key, value in params.items())
        headers = [(b"origin", b"http://127.0.0.1"), (b"host", b"127.0.0.1")]
        if cookie is not None:
            headers.append((b"cookie", cookie))
        self.ws = WebsocketCommunicator(application, f"/ws/containers/{pk}/logs/?{query}", headers=headers)
        self.ack = ack
        self.lines: list[str] = []
        self.batches = 0

    async def connect(self) -> tuple[bool, int | None]:
        return await self.ws.connect()

    async def message(self, timeout: float = 5) -> dict[str, Any]:
        message = json.loads(await self.ws.receive_from(timeout=timeout))
        if message["type"] == "lines":
            self.lines += message["lines"]
            self.batches += 1
            if self.ack:
                await self.ws.send_to(text_data=json.dumps({"type": "ack"}))
        return message

    async def until(self, done: Callable[[dict[str, Any]], bool], timeout: float = 10) -> dict[str, Any]:
        """Read messages until one satisfies `done`; returns it."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            left = deadline - asyncio.get_running_loop().time()
            assert left > 0, f"timed out; got {len(self.lines)} lines"
            if done(message := await self.message(timeout=left)):
                return message

    async def final(self, timeout: float = 10) -> dict[str, Any]:
        """The closing status or error; the server then closes the socket."""
        message = await self.until(lambda m: m["type"] == "error" or m.get("state") in {"stopped", "ended", "done"})
        assert (await self.ws.receive_output(timeout=timeout))["type"] == "websocket.close"
        return message

    async def close(self) -> None:
        await self.ws.disconnect()


def numbers(lines: list[str]) -> list[int]:
    found = [LINE.match(line) for line in lines]
    assert all(found), lines
    return [int(m.group(1)) for m in found]


def last_number(container: DockerContainer) -> int:
    return numbers(container.logs(tail=1).decode().splitlines())[0]


# --- who may read -----------------------------------------------------------------------------------------


async def test_anonymous_sockets_are_rejected_before_accept(counter):
    connected, code = await LogSocket(counter[1].pk, None).connect()
    assert not connected and code == 4401


async def test_an_unknown_container_gets_a_message_then_a_close(viewer_cookie):
    socket = LogSocket(999_999, viewer_cookie)
    assert (await socket.connect())[0]
    assert await socket.message() == {"type": "error", "message": "There is no such container."}
    assert await socket.ws.receive_output(timeout=2) == {"type": "websocket.close", "code": 4404}
    await socket.close()


# --- the last lines, then follow ----------------------------------------------------------------------------


async def test_tail_sends_exactly_the_last_lines_when_not_following(counter, viewer_cookie):
    container, row = counter
    socket = LogSocket(row.pk, viewer_cookie, tail=5, follow=0)
    assert (await socket.connect())[0]
    before = await asyncio.to_thread(last_number, container)
    assert await socket.final() == {"type": "status", "state": "done", "message": "End of the log: follow is off."}
    got = numbers(socket.lines)
    assert len(got) == 5 and got == list(range(got[0], got[0] + 5))
    assert got[-1] >= before  # the end of the log, not its start
    await socket.close()


async def test_tail_then_follow_streams_new_lines_without_gap_or_repeat(counter, viewer_cookie):
    container, row = counter
    before = await asyncio.to_thread(last_number, container)
    socket = LogSocket(row.pk, viewer_cookie, tail=5, follow=1)
    assert (await socket.connect())[0]
    first = await socket.message()
    assert first == {"type": "status", "state": "following", "message": "Following: new lines appear as written."}
    await socket.until(lambda m: len(socket.lines) >= 15)
    got = numbers(socket.lines)
    # The first five are the last lines when the server asked (the counter ticks on meanwhile), not line 1.
    assert before - 4 <= got[0] <= before + 10
    assert got == list(range(got[0], got[0] + len(got)))
    await socket.close()


async def test_tail_is_clamped(counter, viewer_cookie):
    assert LogRequest.from_query(b"tail=99999").tail == 10_000
    assert LogRequest.from_query(b"tail=-3").tail == 100  # not a number: the default
    socket = LogSocket(counter[1].pk, viewer_cookie, tail=0, follow=0)
    assert (await socket.connect())[0]
    await socket.final()
    assert len(socket.lines) == 1
    await socket.close()


async def test_timestamps_prefix_each_line_when_asked(counter, viewer_cookie):
    socket = LogSocket(counter[1].pk, viewer_cookie, tail=3, timestamps=1, follow=0)
    assert (await socket.connect())[0]
    await socket.final()
    assert len(socket.lines) == 3 and all(STAMPED.match(line) for line in socket.lines), socket.lines
    await socket.close()


# --- filters -----------------------------------------------------------------------------------------------


async def test_text_filter_keeps_matching_lines_case_insensitively(counter, viewer_cookie):
    socket = LogSocket(counter[1].pk, viewer_cookie, tail=100, follow=0, filter="LINE%202")
    assert (await socket.connect())[0]
    await socket.final()
    assert socket.lines and all("line 2" in line for line in socket.lines)
    assert "line 2" in socket.lines and "line 3" not in socket.lines
    await socket.close()


async def test_regex_filter_while_following(counter, viewer_cookie):
    socket = LogSocket(counter[1].pk, viewer_cookie, tail=1, follow=1, regex=1, filter=r"5%24")  # 5$
    assert (await socket.connect())[0]
    await socket.until(lambda m: len(socket.lines) >= 2, timeout=5)
    assert all(line.endswith("5") for line in socket.lines)
    await socket.close()


async def test_the_filter_ignores_the_timestamp(counter, viewer_cookie):
    # Every timestamp holds a "T"; no "line N" does.
    socket = LogSocket(counter[1].pk, viewer_cookie, tail=50, timestamps=1, follow=0, filter="t")
    assert (await socket.connect())[0]
    assert (await socket.final())["state"] == "done"
    assert socket.lines == []
    await socket.close()


async def test_an_invalid_regex_is_reported_and_closes(counter, viewer_cookie):
    socket = LogSocket(counter[1].pk, viewer_cookie, regex=1, filter="(oops")
    assert (await socket.connect())[0]
    message = await socket.message()
    assert message["type"] == "error"
    assert message["message"].startswith("The filter is not a valid regular expression: missing ), unterminated")
    assert await socket.ws.receive_output(timeout=2) == {"type": "websocket.close", "code": 4400}
    await socket.close()


def test_line_filter_rules():
    assert line_filter("", regex=True, timestamps=False) is None
    plain = line_filter("Error", regex=False, timestamps=False)
    assert plain("an ERROR here") and not plain("all good")
    assert not line_filter("[a-z]+", regex=False, timestamps=False)("abc")  # text is text
    stamped = line_filter("^GET", regex=True, timestamps=True)
    assert stamped("2024-05-01T10:00:00.000000001Z GET /") and not stamped("2024-05-01T10:00:00Z POST /get")
    # Only the first MAX_MATCH_CHARS are searched: bounded work per line whatever its length.
    far = line_filter("needle", regex=True, timestamps=False)
    assert far("x" * (MAX_MATCH_CHARS - 6) + "needle") and not far("x" * MAX_MATCH_CHARS + "needle")


# --- endings and threads -----------------------------------------------------------------------------------


async def test_disconnect_ends_the_reader_thread(counter, viewer_cookie):
    before = _reader_threads()
    socket = LogSocket(counter[1].pk, viewer_cookie, tail=5, follow=1)
    assert (await socket.connect())[0]
    await socket.until(lambda m: len(socket.lines) >= 7)
    assert len(_reader_threads() - before) == 1
    started = time.monotonic()
    await socket.close()
    assert not (await asyncio.to_thread(_wait_for_no_readers, 2.0)) - before
    assert time.monotonic() - started < 1.0


async def test_a_slow_client_holds_the_reader_back_and_can_still_leave(run_container, row_for, viewer_cookie):
    # 20,000 long lines: more than the window and the pipe hold together, so the reader must block.
    chatty = await asyncio.to_thread(
        run_container, "sh", "-c", "yes $(printf '%0200d' 0) | head -n 20000; echo end; sleep 3600"
    )
    await asyncio.to_thread(wait_for_log, chatty, "end\n")
    row = await database_sync_to_async(row_for)(chatty)
    socket = LogSocket(row.pk, viewer_cookie, ack=False, tail=10_000, follow=1)
    assert (await socket.connect())[0]
    await socket.until(lambda m: socket.batches == WINDOW)
    assert await socket.ws.receive_nothing(timeout=0.5)  # nothing beyond the window until acknowledged
    assert socket.batches == WINDOW and len(socket.lines) <= WINDOW * BATCH_LINES
    assert _reader_threads()  # blocked on the full pipe, not finished
    await socket.ws.send_to(text_data=json.dumps({"type": "ack"}))
    await socket.message()  # one acknowledgement, one more batch
    assert socket.batches == WINDOW + 1
    await socket.close()  # the autouse fixture checks the blocked reader ended


async def test_following_a_container_that_stops_ends_with_a_status(run_container, row_for, viewer_cookie):
    short = await asyncio.to_thread(run_container, "sh", "-c", "echo one; echo two; sleep 1; echo three")
    row = await database_sync_to_async(row_for)(short)
    socket = LogSocket(row.pk, viewer_cookie, tail=100, follow=1)
    assert (await socket.connect())[0]
    assert await socket.final() == {
        "type": "status",
        "state": "stopped",
        "message": "Container stopped: the log ended.",
    }
    assert socket.lines == ["one", "two", "three"]
    await socket.close()


async def test_killing_a_followed_container_ends_the_follow(counter, viewer_cookie):
    container, row = counter
    socket = LogSocket(row.pk, viewer_cookie, tail=1, follow=1)
    assert (await socket.connect())[0]
    await socket.until(lambda m: len(socket.lines) >= 3)
    await asyncio.to_thread(container.kill)
    assert (await socket.final())["message"] == "Container stopped: the log ended."
    await socket.close()


async def test_an_unreachable_host_is_reported(viewer_cookie):
    def make_row() -> Container:
        host = Host.objects.create(name="gone", kind=Host.Kind.SOCKET, url="unix:///nonexistent/docker.sock")
        return Container.objects.create(host=host, name="web", docker_id="f" * 64, state="running")

    row = await database_sync_to_async(make_row)()
    socket = LogSocket(row.pk, viewer_cookie)
    assert (await socket.connect())[0]
    assert await socket.final() == {
        "type": "error",
        "message": "Nothing answers at unix:///nonexistent/docker.sock (no such socket file).",
    }
    await socket.close()


# --- the panel and the download ----------------------------------------------------------------------------


def test_the_panel_is_on_the_container_page(counter, viewer, client_for):
    row = counter[1]
    html = client_for(viewer).get(reverse("containers:detail", args=[row.pk])).content.decode()
    assert '<section class="card span-3" id="logs"' in html
    assert f'data-logs-socket="/ws/containers/{row.pk}/logs/"' in html
    assert f'href="/containers/{row.pk}/logs.txt?tail=100&amp;timestamps=0"' in html
    assert "js/logs.js" in html


def test_download_returns_the_last_lines_as_a_file(counter, viewer, client_for):
    row = counter[1]
    response = client_for(viewer).get(reverse("containers:logs_download", args=[row.pk]), {"tail": 5})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert re.fullmatch(
        rf'attachment; filename="{re.escape(row.name)}-\d{{8}}-\d{{6}}\.log"', response["Content-Disposition"]
    )
    got = numbers(b"".join(response.streaming_content).decode().splitlines())
    assert len(got) == 5 and got == list(range(got[0], got[0] + 5))


def test_download_applies_the_panels_filter(counter, viewer, client_for):
    row = counter[1]
    url = reverse("containers:logs_download", args=[row.pk])
    response = client_for(viewer).get(url, {"tail": 50, "filter": r"line \d*7$", "regex": "1"})
    got = numbers(b"".join(response.streaming_content).decode().splitlines())
    assert got and all(n % 10 == 7 for n in got)
    bad = client_for(viewer).get(url, {"filter": "(", "regex": "1"})
    assert bad.status_code == 400 and "not a valid regular expression" in bad.content.decode()
