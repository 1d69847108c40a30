"""WebSocket clients for the fan-out bench, in a process of their own: `python -m bench.metrics_clients URL`.

Receiving (and inflating) every message for 20 sockets costs CPU; in the bench process it would compete with
the sweep being measured, so the clients live here and the bench talks to them over stdin/stdout, one JSON
object a line. The session cookie comes in the environment (BENCH_COOKIE), not on the command line. Arrival times
are CLOCK_MONOTONIC, the same clock in every process of the machine.

Commands: {"op": "add", "count": n}, {"op": "remove", "count": n} (the newest first),
{"op": "wait", "since": t, "count": n, "timeout": s, "settle": s}: until every socket has n messages that arrived
at or after t (or the timeout), then `settle` seconds more; answers the arrival times since t of each socket
and the sockets the server closed. {"op": "quit"}. Imports nothing of Django.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import threading
import time

from websockets.asyncio.client import ClientConnection, connect


class Clients:
    """Sockets on one event loop in a thread; every message's arrival time."""

    def __init__(self, url: str, cookie: str) -> None:
        self.url, self.cookie = url, cookie
        self.origin = url.replace("ws://", "http://").split("/ws/")[0]
        self.arrivals: list[list[float]] = []  # one list per open socket
        self.closed: list[str] = []  # sockets the server closed
        self._sockets: list[ClientConnection] = []
        self._readers: list[asyncio.Task] = []
        self._closing: set[int] = set()  # ids of the sockets closed from here
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="bench-ws", daemon=True)
        self._thread.start()

    def _run(self, coroutine, timeout: float = 60):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def add(self, count: int) -> None:
        self._run(self._add(count))

    def remove(self, count: int) -> None:
        self._run(self._remove(count))

    async def _add(self, count: int) -> None:
        for _ in range(count):
            # As a browser: its Origin, the session cookie, permessage-deflate; never through a proxy.
            socket = await connect(self.url, origin=self.origin, additional_headers={"Cookie": self.cookie},
                                   proxy=None, max_size=None)  # fmt: skip
            arrivals: list[float] = []
            self._sockets.append(socket)
            self.arrivals.append(arrivals)
            self._readers.append(asyncio.ensure_future(self._read(socket, arrivals)))

    async def _remove(self, count: int) -> None:
        for _ in range(min(count, len(self._sockets))):
            socket, reader = self._sockets.pop(), self._readers.pop()
            self.arrivals.pop()
            self._closing.add(id(socket))
            await socket.close()
            await reader

    async def _read(self, socket: ClientConnection, arrivals: list) -> None:
        try:
            async for _ in socket:
                arrivals.append(time.monotonic())
        except Exception as error:  # noqa: BLE001 - reported: a socket the server closed is a failure
            self.closed.append(f"{type(error).__name__}: {error}")
        else:
            if id(socket) not in self._closing:
                self.closed.append(f"closed by the server: {socket.close_code} {socket.close_reason}")

    def since(self, moment: float) -> list[list[float]]:
        return [[at for at in list(arrivals) if at >= moment] for arrivals in self.arrivals]

    def wait(self, moment: float, count: int, timeout: float, settle: float) -> list[list[float]]:
        deadline = time.monotonic() + timeout
        while any(len(got) < count for got in self.since(moment)) and time.monotonic() < deadline:
            time.sleep(0.002)
        time.sleep(settle)  # anything later than expected shows as extra messages
        return self.since(moment)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._run(self._remove(len(self._sockets)), timeout=15)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)


def main() -> int:
    clients = Clients(sys.argv[1], os.environ["BENCH_COOKIE"])
    try:
        for line in sys.stdin:
            command = json.loads(line)
            op, answer = command["op"], {}
            if op == "quit":
                break
            try:
                if op == "add":
                    clients.add(command["count"])
                elif op == "remove":
                    clients.remove(command["count"])
                elif op == "wait":
                    answer["received"] = clients.wait(command["since"], command["count"], command["timeout"],
                                                      command.get("settle", 0.0))  # fmt: skip
                answer.update(open=len(clients.arrivals), closed=clients.closed)
            except Exception as error:  # noqa: BLE001 - the bench shows it
                answer["error"] = f"{type(error).__name__}: {error}"
            print(json.dumps(answer), flush=True)
    finally:
        clients.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
