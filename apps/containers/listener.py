"""The Docker events listener: one thread per host, following its event stream.

Runs as its own process (`manage.py watch_docker_events`, started by `make run`). Several
copies may run, on several machines: a host is followed only by the copy that holds its Redis
lock, which it keeps alive with a heartbeat and gives up when it stops.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import datetime

import redis
from django.conf import settings
from django.db import close_old_connections

from apps.containers.inventory import apply_events, sync_host
from apps.containers.live import push_host_status
from apps.hosts.engines import engine_for
from apps.hosts.models import DIALLED_KINDS, Host
from apps.hosts.services import FIRST_RETRY_SECONDS, MAX_RETRY_SECONDS, host_record_contact, host_record_failure
from dockmon_agent.engine.base import DockerEvent, EngineError, Stream

logger = logging.getLogger(__name__)

LOCK_SECONDS = 15
HEARTBEAT_SECONDS = 5
HOSTS_RELOAD_SECONDS = 5
BATCH_LIMIT = 500
QUEUE_LIMIT = 10_000
END_OF_STREAM = object()


class HostLock:
    """A Redis lock on one host, renewed by a heartbeat; `lost` is set when another holder took over."""

    def __init__(self, client: redis.Redis, host_pk: int) -> None:
        self.client = client
        self.key = f"{settings.REDIS_PREFIX}:events-listener:{host_pk}"
        self.token = uuid.uuid4().hex
        self.lost = threading.Event()

    def acquire(self) -> bool:
        self.lost.clear()
        return bool(self.client.set(self.key, self.token, nx=True, ex=LOCK_SECONDS))

    def renew(self) -> bool:
        # Only extend our own lock: compare-and-expire in one step.
        renewed = self.client.eval(
            "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('expire', KEYS[1], ARGV[2]) end return 0",
            1, self.key, self.token, LOCK_SECONDS,
        )  # fmt: skip
        if not renewed:
            self.lost.set()
        return bool(renewed)

    def release(self) -> None:
        self.client.eval(
            "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0",
            1, self.key, self.token,
        )  # fmt: skip


class HostWatcher(threading.Thread):
    """Follows one host: sync on connect, then apply each event; reconnects with back-off."""

    def __init__(self, host_pk: int, version: datetime, redis_client: redis.Redis) -> None:
        super().__init__(name=f"events-host-{host_pk}", daemon=True)
        self.host_pk = host_pk
        self.version = version  # the host's updated_at: a changed address or certificate needs a new watcher
        self.lock = HostLock(redis_client, host_pk)
        self.stopping = threading.Event()
        self.stream: Stream | None = None
        self.delay = 0.0
        self.last_event_at: datetime | None = None

    def stop(self) -> None:
        self.stopping.set()
        if self.stream is not None:
            self.stream.close()

    def run(self) -> None:
        while not self.stopping.is_set():
            if not self.lock.acquire():
                self.stopping.wait(HEARTBEAT_SECONDS)  # someone else follows this host
                continue
            heartbeat = threading.Thread(target=self._heartbeat, daemon=True, name=f"{self.name}-heartbeat")
            heartbeat.start()
            try:
                self._follow()
            except Exception:
                logger.exception("Events listener for host %s failed", self.host_pk)
                self._back_off()
            finally:
                self.lock.release()
                self.lock.lost.set()  # ends the heartbeat
                close_old_connections()
            if not self.stopping.is_set() and self.delay:
                self.stopping.wait(self.delay)

    def _batches(self, stream: Stream) -> Iterator[list[DockerEvent]]:
        """Events in batches: whatever arrived while the last batch was being applied.

        A reader thread drains the stream into a bounded queue, so a burst (a compose project
        starting, a daemon restart) is applied container by container, not event by event.
        """
        pending: queue.Queue = queue.Queue(maxsize=QUEUE_LIMIT)
        failure: list[BaseException] = []

        def read() -> None:
            try:
                for event in stream:
                    pending.put(event)
            except BaseException as problem:  # noqa: BLE001 - handed to the applying thread
                failure.append(problem)
            finally:
                pending.put(END_OF_STREAM)

        threading.Thread(target=read, daemon=True, name=f"{self.name}-reader").start()
        while True:
            batch = [pending.get()]
            while batch[-1] is not END_OF_STREAM and len(batch) < BATCH_LIMIT:
                try:
                    batch.append(pending.get_nowait())
                except queue.Empty:
                    break
            ended = batch[-1] is END_OF_STREAM
            events = [event for event in batch if event is not END_OF_STREAM]
            if events:
                yield events
            if ended:
                if failure:
                    raise failure[0]
                return

    def _back_off(self) -> None:
        self.delay = min(max(self.delay * 2, FIRST_RETRY_SECONDS), MAX_RETRY_SECONDS)

    def _heartbeat(self) -> None:
        while not self.lock.lost.wait(HEARTBEAT_SECONDS):
            if self.stopping.is_set() or not self.lock.renew():
                if self.stream is not None:
                    self.stream.close()
                return

    def _follow(self) -> None:
        host = Host.objects.filter(pk=self.host_pk).first()
        if host is None:
            self.stopping.set()
            return
        try:
            with engine_for(host) as engine:
                # Open the stream first, then sync: nothing that happens in between is missed.
                self.stream = engine.events(since=self.last_event_at)
                if self.stopping.is_set():
                    return
                facts = engine.info()
                sync_host(host, engine)
                if host_record_contact(host, facts):
                    push_host_status(host)
                self.delay = 0
                for batch in self._batches(self.stream):
                    self.last_event_at = batch[-1].time
                    close_old_connections()
                    apply_events(host, engine, batch)
                if self.stopping.is_set() or self.lock.lost.is_set():
                    return
                raise EngineError(f"{host.name} closed its event stream (the daemon stopped?).")
        except EngineError as error:
            if self.stopping.is_set() or self.lock.lost.is_set():
                return
            host.refresh_from_db()
            if host_record_failure(host, error):
                push_host_status(host)
            self._back_off()
            logger.info("Host %s unreachable (%s); retrying in %ss", host.name, error, self.delay)
        finally:
            self.stream = None


class Supervisor:
    """Keeps one watcher per socket/TLS host, following hosts as they are added and deleted."""

    def __init__(self) -> None:
        self.redis = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=10, socket_connect_timeout=5)
        self.watchers: dict[int, HostWatcher] = {}

    def reconcile(self) -> None:
        wanted = dict(Host.objects.filter(kind__in=DIALLED_KINDS).values_list("pk", "updated_at"))
        close_old_connections()
        for pk in list(self.watchers):
            watcher = self.watchers[pk]
            if wanted.get(pk) != watcher.version or not watcher.is_alive():
                watcher.stop()
                del self.watchers[pk]
        for pk in wanted.keys() - self.watchers.keys():
            watcher = HostWatcher(pk, wanted[pk], self.redis)
            self.watchers[pk] = watcher
            watcher.start()

    def run(self, stop: threading.Event) -> None:
        logger.info("Docker events listener started")
        while not stop.is_set():
            try:
                self.reconcile()
            except Exception:
                logger.exception("Could not refresh the list of hosts to follow")
            stop.wait(HOSTS_RELOAD_SECONDS)
        for watcher in self.watchers.values():
            watcher.stop()
        deadline = time.monotonic() + 5
        for watcher in self.watchers.values():
            watcher.join(max(0.0, deadline - time.monotonic()))
