"""What other apps (alerts) learn about hosts: sent when a host goes down or comes back."""

from __future__ import annotations

from django.dispatch import Signal

# sender=Host class, host=Host, online=bool, error=str (why it is down; empty when it came back)
host_status_changed = Signal()
