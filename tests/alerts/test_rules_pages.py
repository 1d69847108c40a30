"""The alert rule pages: list, new, detail, edit, toggle, delete, and who may do what."""

import pytest
from django.urls import reverse

from apps.alerts.models import Alert, AlertRule
from apps.containers.models import Container
from apps.core.models import Event
from apps.hosts.models import Host
from apps.notifications.models import Channel

pytestmark = pytest.mark.django_db
Kind = AlertRule.Kind


@pytest.fixture
def channel() -> Channel:
    return Channel.objects.create(name="ops-mail", kind="email", config="{}")


@pytest.fixture
def rule(channel) -> AlertRule:
    rule = AlertRule.objects.create(name="Web died", kind=Kind.CONTAINER_STOPPED, name_pattern="web-*")
    rule.channels.add(channel)
    return rule


@pytest.fixture
def containers() -> list[Container]:
    host = Host.objects.create(name="prod", kind=Host.Kind.SOCKET, url="unix:///a.sock")
    return [
        Container.objects.create(host=host, name=name, docker_id=name.ljust(64, "0"), state=state)
        for name, state in (("web-1", "running"), ("web-2", "exited"), ("db", "running"), ("web-old", "removed"))
    ]


def test_admin_creates_a_rule_and_the_audit_trail_shows_it(admin, client_for, channel):
    client = client_for(admin)
    page = client.get(reverse("alerts:rule_new") + "?kind=restart_loop")
    assert page.status_code == 200
    assert 'name="occurrences"' in page.text and 'name="threshold"' not in page.text
    response = client.post(
        reverse("alerts:rule_new"),
        {
            "name": "Looping",
            "kind": Kind.RESTART_LOOP,
            "severity": "error",
            "occurrences": "5",
            "window_minutes": "10",
            "channels": [channel.pk],
            "cooldown_seconds": "300",
            "enabled": "on",
            "notify_on_resolve": "on",
        },
        follow=True,
    )
    rule = AlertRule.objects.get(name="Looping")
    assert response.redirect_chain[-1][0] == reverse("alerts:rule_detail", args=[rule.pk])
    assert "Rule Looping created." in response.text
    assert "5 restarts within 10 min." in response.text
    assert (rule.window_seconds, rule.created_by) == (600, admin)
    event = Event.objects.get(action="alerts.rule_create")
    assert (event.actor, event.target_name, event.details["kind"]) == (admin, "Looping", "restart_loop")


def test_invalid_input_is_refused_on_the_page(admin, client_for):
    response = client_for(admin).post(
        reverse("alerts:rule_new"),
        {
            "name": "Bad",
            "kind": Kind.CONTAINER_STOPPED,
            "severity": "warning",
            "name_pattern": "web-[",
            "name_match": "regex",
            "cooldown_seconds": "300",
            "title_template": "{container.__init__}",
        },
    )
    assert response.status_code == 200
    assert "The regular expression “web-[” does not compile" in response.text
    assert "is not a plain variable name" in response.text
    assert not AlertRule.objects.exists()


def test_kind_change_redraws_the_fields_keeping_what_was_typed(admin, client_for):
    response = client_for(admin).get(
        reverse("alerts:rule_new"),
        {"name": "Disk", "kind": Kind.HOST_DISK, "severity": "critical"},
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="rule-fields",
    )
    assert response.text.startswith('<div id="rule-fields"')
    assert 'name="threshold"' in response.text and 'name="name_pattern"' not in response.text
    assert 'value="Disk"' in response.text
    assert '<option value="critical" selected>' in response.text


def test_admin_edits_toggles_and_deletes(admin, client_for, rule):
    client = client_for(admin)
    edit = client.get(reverse("alerts:rule_edit", args=[rule.pk]))
    assert 'value="web-*"' in edit.text
    response = client.post(
        reverse("alerts:rule_edit", args=[rule.pk]),
        {
            "name": "Web died",
            "kind": Kind.CONTAINER_STOPPED,
            "severity": "critical",
            "name_pattern": "web-*",
            "cooldown_seconds": "60",
            "enabled": "on",
        },
    )
    assert response.status_code == 302
    rule.refresh_from_db()
    assert (rule.severity, rule.cooldown_seconds, rule.notify_on_resolve) == ("critical", 60, False)
    assert set(Event.objects.get(action="alerts.rule_update").details["changed"]) >= {"severity", "cooldown_seconds"}

    row = client.post(reverse("alerts:rule_toggle", args=[rule.pk]), HTTP_HX_REQUEST="true")
    assert row.text.startswith(f'<tr id="rule-{rule.pk}" class="rule-off">')
    assert ">Off</button>" in row.text
    rule.refresh_from_db()
    assert rule.enabled is False
    assert Event.objects.get(action="alerts.rule_toggle").message == "Disabled"

    gone = client.post(reverse("alerts:rule_delete", args=[rule.pk]), HTTP_HX_REQUEST="true")
    assert gone["HX-Redirect"] == reverse("alerts:rules")
    assert not AlertRule.objects.exists()
    assert Event.objects.get(action="alerts.rule_delete").target_name == "Web died"
    trail = client.get(reverse("core:events")).text
    assert trail.count("Web died") >= 3  # updated, toggled, deleted


@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_viewers_and_operators_read_but_cannot_change(request, role, client_for, rule):
    client = client_for(request.getfixturevalue(role))
    listing = client.get(reverse("alerts:rules"))
    assert listing.status_code == 200
    assert "Web died" in listing.text and "New rule" not in listing.text
    assert reverse("alerts:rule_toggle", args=[rule.pk]) not in listing.text
    page = client.get(reverse("alerts:rule_detail", args=[rule.pk]))
    assert page.status_code == 200 and "Edit</a>" not in page.text
    forbidden = [
        client.get(reverse("alerts:rule_new")),
        client.post(reverse("alerts:rule_new"), {"name": "x", "kind": Kind.HOST_OFFLINE}),
        client.get(reverse("alerts:rule_edit", args=[rule.pk])),
        client.post(reverse("alerts:rule_edit", args=[rule.pk]), {"name": "x", "kind": Kind.HOST_OFFLINE}),
        client.post(reverse("alerts:rule_toggle", args=[rule.pk])),
        client.post(reverse("alerts:rule_delete", args=[rule.pk])),
    ]
    assert [response.status_code for response in forbidden] == [403] * 6
    rule.refresh_from_db()
    assert (rule.name, rule.enabled) == ("Web died", True)
    assert not Event.objects.filter(category="alerts").exists()


def test_rule_page_says_what_it_watches_and_previews_messages(viewer, client_for, rule, containers, settings):
    settings.EXTERNAL_URL = "https://dockmon.example"
    page = client_for(viewer).get(reverse("alerts:rule_detail", args=[rule.pk])).text
    assert "Containers with names matching “web-*”." in page
    assert "Matches 2 containers now." in page  # web-1 and web-2; the removed one does not count
    assert "Stops made by users through DockMon and exits of on-demand containers do not count." in page
    assert "<strong>web-1 on prod-1 exited with code 137</strong>" in page
    assert "https://dockmon.example/containers/1/" in page
    assert "This rule has not fired yet." in page
    assert "nobody is notified" not in page


def test_rule_list_shows_open_alerts_and_last_fired(viewer, client_for, rule):
    Alert.objects.create(rule=rule, rule_name=rule.name, kind=rule.kind, target_key="container:1", title="web-1 died")
    Alert.objects.create(
        rule=rule, rule_name=rule.name, kind=rule.kind, target_key="container:2", title="web-2 died", state="resolved"
    )
    listing = client_for(viewer).get(reverse("alerts:rules")).text
    assert "<strong>1</strong>" in listing and "never" not in listing
    page = client_for(viewer).get(reverse("alerts:rule_detail", args=[rule.pk])).text
    assert "web-1 died" in page and "web-2 died" in page


def test_rule_page_warns_when_its_channel_was_deleted(viewer, client_for, rule, channel):
    channel.delete()
    page = client_for(viewer).get(reverse("alerts:rule_detail", args=[rule.pk])).text
    assert "its alerts are recorded in DockMon but nobody is notified" in page
    assert "A channel it had may have been deleted." in page


def test_rule_page_warns_about_failing_and_disabled_channels(viewer, client_for, rule, channel):
    channel.consecutive_failures = 4
    channel.last_error = "SMTP AUTH failed: 535 bad credentials"
    channel.save()
    rule.channels.add(Channel.objects.create(name="old-hook", kind="json", config="{}", enabled=False))
    page = client_for(viewer).get(reverse("alerts:rule_detail", args=[rule.pk])).text
    assert (
        "Channel ops-mail is failing: its last 4 deliveries failed. Last error: SMTP AUTH failed: 535 bad credentials"
        in page
    )
    assert "Channel old-hook is disabled: nothing is sent through it." in page


def test_rule_list_is_friendly_when_empty(admin, client_for):
    page = client_for(admin).get(reverse("alerts:rules")).text
    assert "No alert rules yet" in page and "?kind=restart_loop" in page


def test_rule_saved_outside_the_form_still_has_a_readable_page(viewer, client_for):
    rule = AlertRule.objects.create(
        name="Hot", kind=Kind.HOST_CPU, threshold=80, title_template="{host.__class__}", labels="=x", quiet_hours="x"
    )
    page = client_for(viewer).get(reverse("alerts:rule_detail", args=[rule.pk])).text
    assert "Fires above 80 %, resolves below 75 %." in page
    assert "The title template is not valid, so the default is used: {host.__class__} is not a plain" in page
    assert "<strong>prod-1: CPU 93.4% (above 80%)</strong>" in page
    assert "Quiet hours line 1 “x” is not understood" in page


def test_rule_list_costs_the_same_queries_for_many_rules(viewer, client_for, channel, django_assert_max_num_queries):
    client = client_for(viewer)
    client.get(reverse("alerts:rules"))  # warm up the session and permission caches
    for n in range(30):
        rule = AlertRule.objects.create(name=f"rule {n}", kind=Kind.CONTAINER_STOPPED, labels="app=web")
        rule.channels.add(channel)
    with django_assert_max_num_queries(12):
        page = client.get(reverse("alerts:rules"))
    assert page.text.count("With label app=web.") == 30
