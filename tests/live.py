"""A whole DockMon started the way `make run` starts it (scripts/run: migrate,
collectstatic, bootstrap, then web + worker + beat under honcho), on a free port,
with its own data dir, database and Redis prefix. Used by browser tests."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import redis

ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT = 90


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class LiveDockMon:
    data_dir: Path
    database_url: str | None
    redis_url: str
    port: int = field(default_factory=free_port)
    redis_prefix: str = field(default_factory=lambda: f"dmlive-{uuid.uuid4().hex[:10]}")
    extra_env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "run.log"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "DJANGO_SETTINGS_MODULE", "DEBUG"}}
        env.update(
            DOCKMON_DATA_DIR=str(self.data_dir),
            PORT=str(self.port),
            REDIS_URL=self.redis_url,
            DOCKMON_REDIS_PREFIX=self.redis_prefix,
            DOCKMON_WORKER_CONCURRENCY="4",
            # The browser tests add hosts through the pages themselves.
            DOCKMON_AUTO_LOCAL_HOST="false",
            PYTHONUNBUFFERED="1",
        )
        if self.database_url:
            env["DATABASE_URL"] = self.database_url
        env.update(self.extra_env)
        return env

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:  # a restart appends: the whole story stays in one file
            self.process = subprocess.Popen(
                [str(ROOT / "scripts" / "run")],
                cwd=ROOT,
                env=self.env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.wait_healthy()

    def healthz(self) -> tuple[int, dict]:
        try:
            with urllib.request.urlopen(f"{self.url}/healthz", timeout=5) as response:
                return response.status, json.load(response)
        except urllib.error.HTTPError as error:
            return error.code, json.load(error)

    def wait_healthy(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        last = "no answer"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"scripts/run exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                status, body = self.healthz()
                if status == 200:
                    return
                last = body
            except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
                last = str(exc)
            time.sleep(0.5)
        raise RuntimeError(f"DockMon not healthy after {START_TIMEOUT}s (last: {last}):\n{self.log_tail()}")

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()

    def forget(self) -> None:
        """Delete this instance's Redis keys (queues, channels, cache), once it is stopped for good."""
        forget_redis_prefix(self.redis_url, self.redis_prefix)


def forget_redis_prefix(redis_url: str, prefix: str) -> None:
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(f"{prefix}:*", count=1000))
    for start in range(0, len(keys), 1000):
        client.delete(*keys[start : start + 1000])


class ScratchPostgres:
    """A throw-away PostgreSQL database beside the test database, for a live server."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.name = f"dockmon_live_{uuid.uuid4().hex[:10]}"

    def __enter__(self) -> str:
        with psycopg.connect(self.base_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.name}"')
        parts = urlsplit(self.base_url)
        return urlunsplit(parts._replace(path=f"/{self.name}"))

    def __exit__(self, *exc_info: object) -> None:
        with psycopg.connect(self.base_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
