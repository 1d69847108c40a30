from celery import shared_task

from apps.core.services import events_purge


@shared_task(name="core.purge_events")
def purge_events() -> int:
    return events_purge()
