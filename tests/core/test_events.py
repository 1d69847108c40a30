import csv
import io
import time
from datetime import timedelta

import pytest
from django.test import RequestFactory
from django.utils import timezone

from apps.core.audit import record
from apps.core.models import AppSettings, Event
from apps.core.services import events_purge
from apps.core.tasks import purge_events as purge_events_task
from apps.hosts.models import Host

pytestmark = pytest.mark.django_db


def make_event(action="containers.stop", when=None, **fields) -> Event:
    event = record(None, action, **fields)
    if when is not None:
        Event.objects.filter(pk=event.pk).update(timestamp=when)
    return event


def test_record_takes_actor_category_target_and_request_details(admin):
    request = RequestFactory().get("/", REMOTE_ADDR="192.0.2.7", HTTP_USER_AGENT="Firefox")
    web1 = Host.objects.create(name="web-1", kind=Host.Kind.SOCKET)
    event = record(admin, "users.update", admin, details={"role": "viewer"}, host=web1, request=request)
    event.refresh_from_db()
    assert (event.actor, event.actor_name, event.actor_kind) == (admin, "alice", "user")
    assert (event.category, event.action, event.severity) == ("users", "users.update", "info")
    assert (event.target_type, event.target_id, event.target_name) == ("user", str(admin.pk), "alice")
    assert (event.ip_address, event.user_agent, event.host_name, event.host) == ("192.0.2.7", "Firefox", "web-1", web1)


def test_automatic_actors_are_named_by_kind():
    event = record(Event.ActorKind.AUTO_RESTART, "containers.restart", severity="warning")
    assert (event.actor_kind, event.actor_name, event.actor) == ("auto_restart", "auto-restart", None)


@pytest.fixture
def trail(admin):
    now = timezone.now()
    make_event("containers.stop", host=Host.objects.create(name="web-1"), when=now - timedelta(days=3))
    make_event("hosts.offline", severity="error", host=Host.objects.create(name="db-1"), when=now - timedelta(days=1))
    record(admin, "users.create", message="created bob")


def texts(response) -> str:
    return response.content.decode()


def test_events_page_filters_by_each_field(client_for, admin, trail):
    client = client_for(admin)
    today = timezone.localdate()
    assert "Host went offline" in texts(client.get("/events/", {"severity": "error"}))
    assert "Container stopped" not in texts(client.get("/events/", {"severity": "error"}))
    assert "Container stopped" in texts(client.get("/events/", {"host": "web-1"}))
    assert "Host went offline" not in texts(client.get("/events/", {"host": "web-1"}))
    assert "created bob" in texts(client.get("/events/", {"actor": "alice"}))
    assert "Container stopped" not in texts(client.get("/events/", {"actor": "alice"}))
    assert "Created user" in texts(client.get("/events/", {"category": "users"}))
    assert "Host went offline" not in texts(client.get("/events/", {"category": "users"}))
    assert "created bob" in texts(client.get("/events/", {"q": "BOB"}))
    window = {"since": today - timedelta(days=2), "until": today - timedelta(days=1)}
    page = texts(client.get("/events/", window))
    assert "Host went offline" in page and "Container stopped" not in page and "created bob" not in page


def test_a_reversed_date_range_is_explained(client_for, admin, trail):
    page = texts(client_for(admin).get("/events/", {"since": "2026-05-02", "until": "2026-05-01"}))
    assert "“From” must be on or before “To”." in page


def test_htmx_filtering_returns_only_the_table_widget(client_for, admin, trail):
    response = client_for(admin).get(
        "/events/", {"severity": "error"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="event-table"
    )
    body = texts(response)
    assert body.lstrip().startswith('<section class="card table-card" id="event-table">')
    assert "<html" not in body and "Host went offline" in body
    assert "severity=error" in body  # the export link follows the filters


def test_events_are_paginated(client_for, admin):
    for n in range(55):
        record(None, "containers.start", message=f"event number {n}")
    client = client_for(admin)
    first, second = texts(client.get("/events/")), texts(client.get("/events/", {"page": 2}))
    assert "Page 1 of 2" in first and "event number 54" in first and "event number 0" not in first
    assert "event number 0" in second


def test_csv_export_holds_the_filtered_events(client_for, admin, trail):
    response = client_for(admin).get("/events/export.csv", {"severity": "error"})
    assert response["Content-Type"] == "text/csv"
    assert response["Content-Disposition"].startswith('attachment; filename="dockmon-events-')
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [(r["action"], r["host"], r["severity"]) for r in rows] == [("hosts.offline", "db-1", "error")]


def test_csv_export_needs_the_audit_capability(client_for, viewer):
    assert client_for(viewer).get("/events/export.csv").status_code == 403


def test_retention_deletes_only_events_older_than_the_setting(admin):
    settings_row = AppSettings.load()
    settings_row.event_retention_days = 30
    settings_row.save()
    now = timezone.now()
    make_event(when=now - timedelta(days=31))
    kept = make_event(when=now - timedelta(days=29))
    assert events_purge() == 1
    remaining = set(Event.objects.values_list("action", flat=True))
    assert Event.objects.filter(pk=kept.pk).exists()
    assert remaining == {"containers.stop", "events.purge"}
    assert Event.objects.get(action="events.purge").details == {"deleted": 1, "older_than_days": 30}


@pytest.mark.django_db(transaction=True)
def test_the_nightly_purge_runs_in_a_real_worker(celery_worker):
    old = make_event(when=timezone.now() - timedelta(days=91))
    purge_events_task.delay()
    deadline = time.monotonic() + 15
    while Event.objects.filter(pk=old.pk).exists():
        assert time.monotonic() < deadline, "the worker did not purge the old event"
        time.sleep(0.1)
    assert Event.objects.filter(action="events.purge").exists()


def test_settings_changes_are_recorded_with_old_and_new_values(client_for, admin):
    response = client_for(admin).post("/settings/", {"instance_name": "Ops", "event_retention_days": 30})
    assert response.status_code == 302
    change = Event.objects.get(action="settings.change")
    assert change.details == {
        "instance_name": {"from": "DockMon", "to": "Ops"},
        "event_retention_days": {"from": 90, "to": 30},
    }
    assert "<title>Dashboard · Ops</title>" in texts(client_for(admin).get("/"))


def test_settings_reject_a_retention_out_of_range(client_for, admin):
    response = client_for(admin).post("/settings/", {"instance_name": "Ops", "event_retention_days": 0})
    assert "greater than or equal to 1" in texts(response)
    assert AppSettings.load().event_retention_days == 90


def test_django_admin_changes_reach_the_trail(client_for, admin):
    client_for(admin).post(
        f"/admin/core/appsettings/{AppSettings.load().pk}/change/", {"instance_name": "Lab", "event_retention_days": 7}
    )
    event = Event.objects.get(action="admin.change")
    assert event.actor == admin and event.details["model"] == "core.appsettings"
