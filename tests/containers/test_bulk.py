"""Bulk jobs across hosts, run by a real Celery worker against real daemons."""

import time

import pytest

from apps.containers.inventory import sync_host
from apps.containers.models import BulkJob, BulkJobItem, Container
from apps.core.models import Event
from apps.hosts.engines import engine_for

pytestmark = pytest.mark.django_db(transaction=True)


def sync(*hosts) -> None:
    for host in hosts:
        with engine_for(host) as engine:
            sync_host(host, engine)


def wait_for_job(job_pk: int, timeout: float = 30) -> BulkJob:
    deadline = time.monotonic() + timeout
    while (job := BulkJob.objects.get(pk=job_pk)).status not in (BulkJob.Status.DONE, BulkJob.Status.FAILED):
        assert time.monotonic() < deadline, "the bulk job did not finish"
        time.sleep(0.1)
    return job


def test_a_bulk_stop_across_both_hosts_reports_each_container(
    client_for, operator, local_host, tls_host, run_container, tls_run_container, celery_worker
):
    local = [run_container(name=f"l{n}") for n in range(3)]
    remote = [tls_run_container(name=f"r{n}") for n in range(2)]
    sync(local_host, tls_host)
    rows = Container.objects.filter(name__in=[c.name for c in local + remote])
    gone = rows.get(name=local[0].name)
    local[0].remove(force=True)  # removed behind DockMon's back: that item fails, the others go on
    response = client_for(operator).post("/containers/bulk/", {"containers": [r.pk for r in rows], "action": "stop"})
    job = BulkJob.objects.get()
    assert response["Location"] == f"/containers/jobs/{job.pk}/"
    job = wait_for_job(job.pk)
    results = {item.container_name: (item.status, item.message) for item in job.items.all()}
    assert results[gone.name] == ("failed", f"{gone.name} no longer exists on local.")
    assert all(
        status == "ok" and message == "Stopped" for name, (status, message) in results.items() if name != gone.name
    )
    assert job.status == BulkJob.Status.FAILED  # finished, with one error
    for c in local[1:] + remote:
        c.reload()
        assert c.status == "exited"
    assert Event.objects.filter(action="containers.stop", actor=operator, details={}).count() == 4
    page = client_for(operator).get(f"/containers/jobs/{job.pk}/").content.decode()
    assert "no longer exists" in page and "Finished with errors" in page


def test_bulk_tags_and_desired_state(client_for, operator, local_host, run_container, celery_worker):
    names = [run_container(name=f"t{n}").name for n in range(2)]
    sync(local_host)
    pks = list(Container.objects.filter(name__in=names).values_list("pk", flat=True))
    client = client_for(operator)
    client.post("/containers/bulk/", {"containers": pks, "action": "tag_add", "tag": "batch"})
    client.post("/containers/bulk/", {"containers": pks, "action": "desired_state", "desired_state": "on_demand"})
    for job in BulkJob.objects.all():
        assert wait_for_job(job.pk).status == BulkJob.Status.DONE
    for row in Container.objects.filter(pk__in=pks):
        assert [t.name for t in row.tags.all()] == ["batch"] and row.desired_state == "on_demand"


def test_a_viewer_cannot_start_a_bulk_job_and_bad_input_is_explained(
    client_for, viewer, operator, local_host, run_container
):
    sync_names = [run_container(name="v").name]
    sync(local_host)
    pk = Container.objects.get(name=sync_names[0]).pk
    assert client_for(viewer).post("/containers/bulk/", {"containers": [pk], "action": "stop"}).status_code == 403
    response = client_for(operator).post(
        "/containers/bulk/", {"containers": [pk], "action": "tag_add"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 400 and "Name the tag" in response.content.decode()
    operator_removes = client_for(operator).post("/containers/bulk/", {"containers": [pk], "action": "remove"})
    assert operator_removes.status_code == 403
    assert not BulkJob.objects.exists() and not BulkJobItem.objects.exists()
