"""The Alerts pages as each role sees them, the navigation's live count, and the container's alerts."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.utils import timezone

from apps.alerts import services
from apps.alerts.models import Alert, AlertSettings
from apps.alerts.services import Target
from apps.containers.models import Container
from apps.core.models import Event
from dockmon.asgi import application
from tests.fixtures import session_cookie

CONTEXT = {"exit_code": 1, "exit_codes": [1, 0], "log_tail": ["starting", "panic: <boom> & out"], "notes": []}


@pytest.fixture
def crashed(local_host) -> Container:
    return Container.objects.create(host=local_host, name="dm-t-api", docker_id="c0ffee", state="exited", exit_code=1)


@pytest.fixture
def alert(make_rule, crashed) -> Alert:
    return services.fire(make_rule("container_stopped", channels=[]), Target.of_container(crashed), context=CONTEXT)


def text(response) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode()))


@pytest.mark.django_db
def test_a_viewer_sees_the_list_and_the_detail_with_its_context(client_for, viewer, alert):
    client = client_for(viewer)
    page = client.get("/alerts/")
    assert page.status_code == 200 and alert.title in text(page)
    detail = client.get(f"/alerts/{alert.pk}/").content.decode()
    assert '<pre class="alert-log" id="alert-log-tail">starting\npanic: &lt;boom&gt; &amp; out</pre>' in detail
    assert re.search(r'id="alert-exit-code"><strong>1</strong>', detail)
    assert "Nobody was notified: the rule has no enabled channel." in text(client.get(f"/alerts/{alert.pk}/"))
    assert 'id="acknowledge"' not in detail and 'id="comment-form"' not in detail


@pytest.mark.django_db
@pytest.mark.parametrize("action", ["acknowledge", "snooze", "resolve", "comment"])
def test_a_viewer_may_not_act_on_alerts(client_for, viewer, alert, action):
    response = client_for(viewer).post(f"/alerts/{alert.pk}/{action}/", {"duration": "1h", "text": "hi"})
    assert response.status_code == 403
    assert Alert.objects.get(pk=alert.pk).state == "firing" and not alert.comments.exists()


@pytest.mark.django_db
def test_an_admin_acknowledges_comments_snoozes_and_resolves(client_for, admin, alert):
    client = client_for(admin)
    client.post(f"/alerts/{alert.pk}/acknowledge/")
    assert Alert.objects.get(pk=alert.pk).acknowledged_by == admin
    client.post(f"/alerts/{alert.pk}/comment/", {"text": "Disk full again, cleaning up."})
    response = client.post(f"/alerts/{alert.pk}/snooze/", {"duration": "4h"}, follow=True)
    snoozed = Alert.objects.get(pk=alert.pk)
    assert snoozed.state == "snoozed"
    assert timedelta(hours=3, minutes=59) < snoozed.snoozed_until - timezone.now() <= timedelta(hours=4)
    assert "Snoozed until" in text(response)
    until = (timezone.localtime() + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    client.post(f"/alerts/{alert.pk}/snooze/", {"duration": "until", "until": until})
    assert timezone.localtime(Alert.objects.get(pk=alert.pk).snoozed_until).strftime("%Y-%m-%dT%H:%M") == until
    page = client.post(f"/alerts/{alert.pk}/resolve/", {"reason": "cleaned up"}, follow=True)
    resolved = Alert.objects.get(pk=alert.pk)
    assert resolved.state == "resolved" and resolved.resolution == "Resolved by alice: cleaned up"
    timeline = text(page)
    for moment in (
        "Fired",
        "Acknowledged by alice",
        "Comment by alice — Disk full again",
        "Snoozed by alice",
        "Resolved by alice",
    ):
        assert moment in timeline
    actions = set(Event.objects.filter(target_type="alert").values_list("action", flat=True))
    assert actions == {"alerts.fire", "alerts.acknowledge", "alerts.comment", "alerts.snooze", "alerts.resolve"}


@pytest.mark.django_db
def test_a_snooze_in_the_past_is_refused_with_a_clear_message(client_for, admin, alert):
    past = (timezone.localtime() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    page = client_for(admin).post(f"/alerts/{alert.pk}/snooze/", {"duration": "until", "until": past}, follow=True)
    assert "The snooze must end in the future." in text(page)
    assert Alert.objects.get(pk=alert.pk).state == "firing"


@pytest.mark.django_db
def test_the_list_filters_by_state_severity_and_text(client_for, viewer, alert, make_rule, crashed):
    other = services.fire(
        make_rule("oom_killed", name="memory", severity="critical", channels=[]),
        Target.of_container(crashed),
        context={"memory_limit": 2**24},
    )
    services.resolve(other, reason="ok")
    client = client_for(viewer)
    assert other.title not in text(client.get("/alerts/"))  # open ones by default
    resolved = text(client.get("/alerts/?state=resolved"))
    assert other.title in resolved and alert.title not in resolved
    assert alert.title not in text(client.get("/alerts/?state=all&severity=critical"))
    assert "No alerts match" in text(client.get("/alerts/?q=nothing-like-this"))
    fragment = client.get("/alerts/?state=all", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="alert-table").content.decode()
    assert fragment.startswith('<section class="card table-card" id="alert-table">') and "2 alerts" in fragment


@pytest.mark.django_db
def test_every_page_shows_the_open_count_in_the_navigation(client_for, viewer, alert, make_rule, crashed):
    page = client_for(viewer).get("/hosts/").content.decode()
    assert re.search(r'<span id="nav-alert-count" class="nav-count"[^>]*>1</span>', page)
    assert 'ws-connect="/ws/live/?watch=hosts,alert-count"' in page
    assert re.search(
        r'id="fleet-alerts" href="/alerts/"><strong>1</strong>', client_for(viewer).get("/").content.decode()
    )


@pytest.mark.django_db
def test_the_container_page_lists_its_alerts(client_for, viewer, alert, crashed):
    page = client_for(viewer).get(f"/containers/{crashed.pk}/").content.decode()
    assert 'id="container-alerts"' in page and f'href="/alerts/{alert.pk}/"' in page


@pytest.mark.django_db
def test_retention_is_set_by_admins_only(client_for, admin, operator):
    assert client_for(operator).get("/settings/alerts/").status_code == 403
    client_for(admin).post("/settings/alerts/", {"retention_days": "30"})
    assert AlertSettings.load().retention_days == 30
    page = client_for(admin).post("/settings/alerts/", {"retention_days": "0"})
    assert "Ensure this value is greater than or equal to 1." in text(page)


@pytest.mark.django_db(transaction=True)
async def test_the_count_is_pushed_to_every_signed_in_page(client_for, viewer, make_rule, crashed):
    cookie = await sync_to_async(lambda: session_cookie(client_for(viewer)))()
    headers = [(b"origin", b"http://127.0.0.1"), (b"host", b"127.0.0.1"), (b"cookie", cookie)]
    socket = WebsocketCommunicator(application, "/ws/live/?watch=,alert-count", headers=headers)
    listing = WebsocketCommunicator(application, "/ws/live/?watch=alerts,alert-count", headers=headers)
    for page in (socket, listing):
        assert (await page.connect())[0]
    rule = await sync_to_async(make_rule)("container_stopped", channels=[])
    alert = await sync_to_async(services.fire)(rule, Target.of_container(crashed), context=CONTEXT)
    pushed = await socket.receive_from(timeout=5)
    assert re.fullmatch(r'\s*<span id="nav-alert-count" class="nav-count"[^>]*>1</span>\s*', pushed)
    assert await socket.receive_nothing(timeout=0.5)  # the list's nudge goes to the list only
    on_list = [await listing.receive_from(timeout=5) for _ in range(2)]
    nudge = next(html for html in on_list if "alerts-stamp" in html)
    assert 'hx-get="/alerts/"' in nudge and 'hx-trigger="load"' in nudge and 'hx-target="#alert-table"' in nudge

    detail = WebsocketCommunicator(application, f"/ws/live/?watch=alert:{alert.pk},alert-count", headers=headers)
    assert (await detail.connect())[0]
    await sync_to_async(services.resolve)(alert, reason="ok")
    pushed = await socket.receive_from(timeout=5)
    assert 'id="nav-alert-count"' in pushed and "hidden" in pushed and ">0<" in pushed
    seen = [await detail.receive_from(timeout=5) for _ in range(2)]
    assert any(f'hx-get="/alerts/{alert.pk}/"' in html and 'hx-target="#alert-body"' in html for html in seen)
    for page in (socket, listing, detail):
        await page.disconnect()


@pytest.mark.django_db
def test_an_alerts_page_refetches_only_its_body(client_for, viewer, alert):
    body = client_for(viewer).get(f"/alerts/{alert.pk}/", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="alert-body")
    assert body.content.decode().strip().startswith('<div class="grid" id="alert-body">')
