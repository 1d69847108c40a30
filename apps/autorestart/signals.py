"""What auto-restart tells other apps (alerts)."""

from __future__ import annotations

from django.dispatch import Signal

# sender=Container class, container=Container, attempts=int, exit_codes=list[int] (newest last), error=str
restart_gave_up = Signal()
# sender=Container class, container=Container: it stayed up, the attempts counter went back to zero
restart_recovered = Signal()
