"""Bulk operations: one action on many containers, across hosts, as a background job.

Hosts are worked on in parallel, at most five containers at a time per host, and every item's
progress is pushed live to the job's page.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor

from django.core.exceptions import PermissionDenied
from django.db import close_old_connections, connection, transaction
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.utils import timezone

from apps.containers import services
from apps.containers.models import BulkJob, BulkJobItem, Container
from apps.core.audit import record
from apps.core.live import group_name, push_html
from apps.tags.models import Tag
from apps.users.access import has_capability
from apps.users.capabilities import Capability
from dockmon_agent.engine.base import Action, EngineError

logger = logging.getLogger(__name__)

PER_HOST_CONCURRENCY = 5
DOCKER_ACTIONS = {
    "start": Action.START,
    "stop": Action.STOP,
    "restart": Action.RESTART,
    "kill": Action.KILL,
    "remove": Action.REMOVE,
}


def required_capability(action: str) -> Capability:
    if action in DOCKER_ACTIONS:
        return services.ACTION_CAPABILITY[DOCKER_ACTIONS[action]]
    return Capability.CONTAINERS_OPERATE


def job_create(
    *, actor, containers: list[Container], action: str, params: dict, request: HttpRequest | None = None
) -> BulkJob:
    """Queue a bulk job; it starts once this transaction commits."""
    from apps.containers.tasks import run_bulk_job

    if action not in BulkJob.Action.values:
        raise ValueError(f"Unknown bulk action “{action}”.")
    if not has_capability(actor, required_capability(action)):
        raise PermissionDenied(f"You need the “{required_capability(action)}” permission for this.")
    with transaction.atomic():
        job = BulkJob.objects.create(user=actor, action=action, params=params)
        BulkJobItem.objects.bulk_create(
            BulkJobItem(job=job, container=c, container_name=c.name, host_name=c.host.name) for c in containers
        )
        record(
            actor,
            "containers.bulk",
            job,
            details={"action": action, "containers": len(containers), **params},
            request=request,
        )
        transaction.on_commit(lambda: run_bulk_job.delay(job.pk))
    return job


def run_job(job_pk: int) -> None:
    job = BulkJob.objects.select_related("user").get(pk=job_pk)
    job.status = BulkJob.Status.RUNNING
    job.save(update_fields=["status"])
    _push_job(job)
    by_host: dict[str, list[BulkJobItem]] = defaultdict(list)
    for item in job.items.select_related("container__host"):
        by_host[item.host_name].append(item)
    with ThreadPoolExecutor(max_workers=max(1, len(by_host)), thread_name_prefix="bulk-host") as hosts:
        for items in by_host.values():
            hosts.submit(_run_host, job, items)
    failed = job.items.filter(status=BulkJobItem.Status.FAILED).exists()
    job.status = BulkJob.Status.FAILED if failed else BulkJob.Status.DONE
    job.finished_at = timezone.now()
    job.save(update_fields=["status", "finished_at"])
    _push_job(job)


def _run_host(job: BulkJob, items: list[BulkJobItem]) -> None:
    try:
        with ThreadPoolExecutor(max_workers=PER_HOST_CONCURRENCY, thread_name_prefix="bulk-item") as pool:
            for item in items:
                pool.submit(_run_item, job, item)
    finally:
        connection.close()


def _run_item(job: BulkJob, item: BulkJobItem) -> None:
    close_old_connections()
    try:
        item.status = BulkJobItem.Status.RUNNING
        item.save(update_fields=["status"])
        _push_item(item)
        try:
            item.message = _perform(job, item)
            item.status = BulkJobItem.Status.OK
        except (EngineError, PermissionDenied, ValueError) as problem:
            item.message, item.status = str(problem)[:500], BulkJobItem.Status.FAILED
        except Exception as problem:
            logger.exception("Bulk job %s item %s failed", job.pk, item.pk)
            item.message, item.status = f"Unexpected error: {problem}"[:500], BulkJobItem.Status.FAILED
        item.finished_at = timezone.now()
        item.save(update_fields=["status", "message", "finished_at"])
        _push_item(item)
    finally:
        connection.close()


def _perform(job: BulkJob, item: BulkJobItem) -> str:
    container = item.container
    if container is None:
        raise ValueError("This container was deleted from DockMon.")
    if job.action in DOCKER_ACTIONS:
        action = DOCKER_ACTIONS[job.action]
        services.container_act(
            actor=job.user, container=container, action=action, remove_volumes=bool(job.params.get("remove_volumes"))
        )
        return services.DONE_WORDS[action].capitalize()
    if job.action == "tag_add":
        services.container_tag_add(actor=job.user, container=container, name=job.params["tag"])
        return f"Tagged {job.params['tag']}"
    if job.action == "tag_remove":
        tag = Tag.objects.filter(name=job.params["tag"]).first()
        if tag is not None:
            services.container_tag_remove(actor=job.user, container=container, tag=tag)
        return f"Untagged {job.params['tag']}"
    services.container_desired_state_set(actor=job.user, container=container, desired_state=job.params["desired_state"])
    return Container.DesiredState(job.params["desired_state"]).label


def _push_item(item: BulkJobItem) -> None:
    push_html(group_name("job", item.job_id), render_to_string("containers/widgets/job_item.html", {"item": item}))


def _push_job(job: BulkJob) -> None:
    push_html(group_name("job", job.pk), render_to_string("containers/widgets/job_header.html", {"job": job}))
