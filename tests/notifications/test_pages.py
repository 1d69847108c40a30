"""The channel and delivery pages: who may do what, secrets never shown, test sends inline."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from django.utils.html import escape

from apps.core.models import Event
from apps.notifications import services
from apps.notifications.kinds import KINDS
from apps.notifications.models import Channel, Delivery
from tests.notifications.conftest import answer

pytestmark = pytest.mark.django_db

HEADER_SECRET = "s3cr3t-header-value"
PATH_SECRET = "Path-Secret-8d2e41"


@pytest.fixture
def secret_channel(make_channel, receiver) -> Channel:
    return make_channel(
        "webhook", name="hook", url=f"{receiver.url}/{PATH_SECRET}", headers=f"X-Token: {HEADER_SECRET}"
    )


def html(response) -> str:
    return response.content.decode()


@pytest.mark.parametrize("persona", ["viewer", "operator"])
def test_viewers_and_operators_see_but_cannot_change(request, persona, client_for, secret_channel, receiver):
    client = client_for(request.getfixturevalue(persona))

    page = client.get("/notifications/")
    assert page.status_code == 200
    assert "hook" in html(page)
    assert "Webhook · 127.0.0.1 … · 1 header" in html(page)
    assert "Send test" not in html(page) and "Add channel" not in html(page)
    assert client.get("/notifications/deliveries/").status_code == 200

    assert client.get("/notifications/new/").status_code == 403
    assert client.get("/notifications/new/discord/").status_code == 403
    assert client.post("/notifications/new/webhook/", {"name": "x", "url": receiver.url}).status_code == 403
    assert client.get(f"/notifications/{secret_channel.pk}/edit/").status_code == 403
    assert client.post(f"/notifications/{secret_channel.pk}/edit/", {"name": "renamed"}).status_code == 403
    assert client.post(f"/notifications/{secret_channel.pk}/test/").status_code == 403
    assert client.post(f"/notifications/{secret_channel.pk}/delete/").status_code == 403
    assert list(Channel.objects.values_list("name", flat=True)) == ["hook"]
    assert receiver.requests == []


def test_admin_adds_a_channel_stored_encrypted(client_for, admin, receiver):
    client = client_for(admin)
    picker = client.get("/notifications/new/")
    for kind in KINDS.values():
        assert f'href="/notifications/new/{kind.key}/"' in html(picker)
        assert escape(kind.hint) in html(picker)

    response = client.post(
        "/notifications/new/webhook/",
        {
            "name": "Ops hook",
            "enabled": "on",
            "url": f"{receiver.url}/{PATH_SECRET}",
            "headers": f"X-Token: {HEADER_SECRET}",
        },
    )

    assert response.status_code == 302
    channel = Channel.objects.get(name="Ops hook")
    assert services.channel_config(channel)["headers"] == f"X-Token: {HEADER_SECRET}"
    with connection.cursor() as cursor:
        cursor.execute("SELECT config FROM notifications_channel WHERE id = %s", [channel.pk])
        [stored] = cursor.fetchone()
    assert HEADER_SECRET not in stored and PATH_SECRET not in stored
    event = Event.objects.get(action="notifications.channel_create")
    assert (event.actor, event.target_name, event.details) == (admin, "Ops hook", {"kind": "webhook"})


def test_invalid_input_is_shown_on_the_form(client_for, admin):
    response = client_for(admin).post("/notifications/new/apprise/", {"name": "x", "url": "bogus://Secret-Token-77"})
    assert response.status_code == 200
    assert "apprise does not accept this URL: Unparseable URL bogus://S...7" in html(response)
    assert "Secret-Token-77" not in html(response)
    assert not Channel.objects.exists()


def test_secrets_never_appear_in_pages(client_for, admin, secret_channel, receiver):
    client = client_for(admin)
    receiver.default = answer(500)
    services.deliver(services.notify(secret_channel, title="t", body="b").pk)
    pages = [
        client.get("/notifications/"),
        client.get(f"/notifications/{secret_channel.pk}/edit/"),
        client.get("/notifications/deliveries/"),
        client.get(f"/admin/notifications/channel/{secret_channel.pk}/change/"),
        client.get("/admin/notifications/channel/"),
    ]
    for page in pages:
        assert page.status_code == 200
        assert HEADER_SECRET not in html(page)
        assert PATH_SECRET not in html(page)
    assert "Leave blank to keep the current one." in html(pages[1])


def test_editing_without_retyping_secrets_keeps_them(client_for, admin, secret_channel, receiver):
    response = client_for(admin).post(
        f"/notifications/{secret_channel.pk}/edit/", {"name": "renamed", "url": "", "headers": ""}
    )
    assert response.status_code == 302
    channel = Channel.objects.get(pk=secret_channel.pk)
    assert channel.name == "renamed"
    assert channel.enabled is False  # the box was not ticked
    config = services.channel_config(channel)
    assert config["url"] == f"{receiver.url}/{PATH_SECRET}"
    assert config["headers"] == f"X-Token: {HEADER_SECRET}"
    event = Event.objects.get(action="notifications.channel_update")
    assert event.details == {"changed": ["enabled", "name"]}


def test_send_test_shows_sent_or_the_exact_error_inline(client_for, admin, secret_channel, receiver):
    client = client_for(admin)
    ok = client.post(f"/notifications/{secret_channel.pk}/test/", HTTP_HX_REQUEST="true")
    assert "Sent." in html(ok)
    assert receiver.requests[0].json()["title"] == "DockMon test notification"

    receiver.default = answer(500)
    failed = client.post(f"/notifications/{secret_channel.pk}/test/", HTTP_HX_REQUEST="true")
    assert "Not sent." in html(failed)
    assert "Failed to send JSON POST notification: Internal server error., error=500." in html(failed)
    assert Event.objects.filter(action="notifications.channel_test").count() == 2


def test_a_failing_channel_is_flagged(client_for, viewer, secret_channel, receiver):
    receiver.default = answer(500)
    delivery = services.notify(secret_channel, title="t", body="b")
    now = timezone.now()
    for attempt in range(3):
        services.deliver(delivery.pk, now=now + timedelta(hours=attempt))
    page = html(client_for(viewer).get("/notifications/"))
    assert "Failing" in page
    assert "error=500" in page


def test_delete_with_htmx_redirects_to_the_list(client_for, admin, secret_channel):
    response = client_for(admin).post(f"/notifications/{secret_channel.pk}/delete/", HTTP_HX_REQUEST="true")
    assert response.headers["HX-Redirect"] == "/notifications/"
    assert not Channel.objects.exists()
    assert Event.objects.filter(action="notifications.channel_delete", target_name="hook").exists()


def test_delivery_log_filters_and_pages(client_for, viewer, make_channel, secret_channel, receiver):
    other = make_channel("webhook", name="other", url=f"{receiver.url}/other")
    later = timezone.now() + timedelta(hours=8)
    services.notify(
        secret_channel, title="Deferred one", body="b", alert_id=42, rule_name="CPU high", defer_until=later
    )
    retrying = services.notify(secret_channel, title="Retrying one", body="b")
    Delivery.objects.filter(pk=retrying.pk).update(
        status="retrying", attempts=2, error="boom: receiver said no", next_attempt_at=later
    )
    for number in range(55):
        services.notify(other, title=f"bulk {number}", body="b", defer_until=later)
    client = client_for(viewer)

    page = html(client.get("/notifications/deliveries/", {"channel": "hook"}))
    assert "2 deliveries" in page
    assert 'href="/alerts/42/"' in page and "CPU high" in page
    assert "Deferred (quiet hours)" in page and "Waiting to retry" in page
    assert "boom: receiver said no" in page
    assert "bulk" not in page

    retry_only = html(client.get("/notifications/deliveries/", {"status": "retrying"}))
    assert "1 delivery" in retry_only and "Retrying one" in retry_only and "Deferred one" not in retry_only

    first = client.get(
        "/notifications/deliveries/", {"channel": "other"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="delivery-table"
    )
    assert html(first).startswith('<section class="card table-card" id="delivery-table">')
    assert "Page 1 of 2" in html(first)
    second = html(client.get("/notifications/deliveries/", {"channel": "other", "page": 2}))
    assert "Page 2 of 2" in second and "bulk 0" in second
