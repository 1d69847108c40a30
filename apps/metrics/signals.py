"""Sent after each sweep of a host, so threshold rules judge the very numbers the pages show."""

from __future__ import annotations

from django.dispatch import Signal

# sender=Host class, host=Host, values={"host": {...}, "c:<container pk>": {...}} (see apps.metrics.store)
host_swept = Signal()
