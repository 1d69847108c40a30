"""What HTTP health checks tell other apps (alerts)."""

from __future__ import annotations

from django.dispatch import Signal

# sender=HealthCheck class, check=HealthCheck, healthy=bool, error=str (the last failure's words; "" when healthy)
# Sent when a check's verdict changes (failure threshold reached, or success threshold after failing).
check_status_changed = Signal()
