"""Start-up checks (`manage.py check`, run by `make run` through migrate)."""

from __future__ import annotations

import os

from django.conf import settings
from django.core.checks import Error, register
from django.db import connection


@register()
def data_dir_writable(app_configs, **kwargs) -> list[Error]:
    if connection.vendor != "sqlite" or os.access(settings.DATA_DIR, os.W_OK):
        return []
    return [
        Error(
            f"DOCKMON_DATA_DIR {settings.DATA_DIR} is read-only, but the SQLite database lives there.",
            hint="Make the directory writable by the user running DockMon, or set DATABASE_URL.",
            id="dockmon.E001",
        )
    ]
