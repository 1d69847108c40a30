"""DockMon's settings for the test suite: the real settings module, with an isolated
data directory and a Redis key prefix of its own so a test run never touches a
running DockMon's keys, queues or files."""

import os
import tempfile
import uuid

os.environ.setdefault("DOCKMON_DATA_DIR", tempfile.mkdtemp(prefix="dockmon-test-data-"))
os.environ.setdefault("DOCKMON_REDIS_PREFIX", f"dmtest-{uuid.uuid4().hex[:10]}")

from dockmon.settings import *  # noqa: F403

# Tests render pages without running collectstatic first.
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}  # noqa: F405
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # noqa: F405

# Close connections after each use: channels and Celery run queries on helper threads, whose
# kept-alive connections would otherwise block dropping the PostgreSQL test database.
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405

# A file, not SQLite's shared in-memory database: listener and worker threads write concurrently,
# which shared-cache memory databases answer with "table is locked" instead of waiting.
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):  # noqa: F405
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test.sqlite3")}  # noqa: F405
