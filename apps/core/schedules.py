"""Default periodic tasks. They are created once (on migrate) and then belong to the
operator: changes made in the admin's "Periodic tasks" survive restarts and upgrades."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DefaultSchedule:
    name: str
    task: str
    crontab: dict | None = None  # minute/hour/... fields
    every_seconds: int | None = None
    description: str = ""
    # A run not started within this many seconds is dropped: a backlog never stacks duplicate runs.
    expire_seconds: int | None = None


# Apps add their own entries from AppConfig.ready() through add_default_schedule().
DEFAULT_SCHEDULES = [
    DefaultSchedule(
        name="Delete old audit events",
        task="core.purge_events",
        crontab={"minute": "17", "hour": "3"},
        description="Removes audit events older than the retention period set in Settings.",
    ),
]


def add_default_schedule(schedule: DefaultSchedule) -> None:
    DEFAULT_SCHEDULES.append(schedule)


def schedules_ensure() -> None:
    from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

    for default in DEFAULT_SCHEDULES:
        if PeriodicTask.objects.filter(name=default.name).exists():
            continue
        if default.crontab is not None:
            crontab, _ = CrontabSchedule.objects.get_or_create(**default.crontab)
            timing = {"crontab": crontab}
        else:
            interval, _ = IntervalSchedule.objects.get_or_create(
                every=default.every_seconds, period=IntervalSchedule.SECONDS
            )
            timing = {"interval": interval}
        PeriodicTask.objects.create(
            name=default.name,
            task=default.task,
            description=default.description,
            expire_seconds=default.expire_seconds,
            **timing,
        )
