"""What the inventory tells other apps (alerts, auto-restart, health checks) as it learns it.

Sent from wherever Docker's news arrives (the events listener, an agent's consumer, the poller), after
the rows are written. Receivers must be quick: anything slow (logs, restarts, notifications) goes to a
Celery task. They are called through `apps.core.signals.announce`, so one failing receiver never stops the inventory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.dispatch import Signal

# sender=Host, happenings=list[Happening]: Docker events in the order they happened.
container_events = Signal()
# sender=Host, result=apps.containers.inventory.SyncResult: after a full sync of the host's containers.
containers_synced = Signal()


@dataclass(frozen=True)
class Happening:
    """One Docker event of one container, with its row as it stands after the batch was applied."""

    container: object  # apps.containers.models.Container
    action: str  # Docker's word: die, start, stop, kill, oom, health_status, destroy, ...
    time: datetime
    attributes: dict = field(default_factory=dict)
    health: str = ""  # for health_status: healthy, unhealthy, starting
    by_dockmon: bool = False  # caused by an action a DockMon user (or DockMon itself) just took

    @property
    def exit_code(self) -> int | None:
        code = str(self.attributes.get("exitCode", ""))
        return int(code) if code.lstrip("-").isdigit() else None
