"""Follow the Docker events of every socket and TLS host (a long-running process)."""

import signal
import threading

from django.core.management.base import BaseCommand

from apps.containers.listener import Supervisor


class Command(BaseCommand):
    help = "Follow Docker events of every host and keep the container inventory current."

    def handle(self, *args, **options) -> None:
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        Supervisor().run(stop)
