"""The auto-restart card on the container page, its permissions, and the settings page."""

from __future__ import annotations

import html
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.autorestart.models import AutoRestartSettings, RestartPolicy
from apps.autorestart.restarter import policy_for
from apps.containers.inventory import SyncResult
from apps.containers.models import Container
from apps.containers.signals import Happening, container_events, containers_synced
from apps.core.models import Event
from apps.core.signals import announce
from apps.hosts.models import Host

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def host(db) -> Host:
    return Host.objects.create(name="alpha", kind="socket", url="unix:///alpha.sock", status="online")


def container(host: Host, name: str = "shop-web", **fields) -> Container:
    values = {"docker_id": name.encode().hex().ljust(64, "0"), "image": "shop/web:2", "state": "running"}
    return Container.objects.create(host=host, name=name, **{**values, **fields})


def card(client, row: Container) -> str:
    response = client.get(f"/auto-restart/containers/{row.pk}/", **HTMX)
    assert response.status_code == 200
    return html.unescape(response.content.decode())


def test_the_container_page_loads_the_card_after_the_page(client_for, viewer, host):
    row = container(host)
    page = client_for(viewer).get(f"/containers/{row.pk}/").content.decode()
    assert f'hx-get="/auto-restart/containers/{row.pk}/"' in page


def test_a_viewer_sees_the_policy_but_cannot_change_it(client_for, viewer, host):
    row = container(host)
    client = client_for(viewer)
    text = card(client, row)
    assert "Off: DockMon does not start this container again when it exits." in text
    assert 'name="max_attempts"' not in text
    change = {"enabled": "on", "max_attempts": 5}
    assert client.post(f"/auto-restart/containers/{row.pk}/policy/", change).status_code == 403
    assert client.post(f"/auto-restart/containers/{row.pk}/reset/").status_code == 403
    assert not RestartPolicy.objects.get(container=row).enabled
    assert not Event.objects.filter(category="autorestart").exists()


def test_an_operator_turns_it_on_with_five_attempts(client_for, operator, host):
    row = container(host)
    client = client_for(operator)
    assert 'name="max_attempts"' in card(client, row)
    response = client.post(f"/auto-restart/containers/{row.pk}/policy/", {"enabled": "on", "max_attempts": 5}, **HTMX)
    text = response.content.decode()
    assert response.status_code == 200
    assert "If it exits, DockMon starts it again up to 5 times: first after 30 s, then doubling up to 10 min." in text
    policy = RestartPolicy.objects.get(container=row)
    assert (policy.enabled, policy.max_attempts) == (True, 5)
    audit = Event.objects.get(action="autorestart.policy")
    assert audit.actor == operator and audit.target_name == row.name
    assert audit.details == {"enabled": {"from": False, "to": True}, "max_attempts": {"from": 3, "to": 5}}


@pytest.mark.parametrize("attempts", ["11", "-1", "three", ""])
def test_attempts_outside_zero_to_ten_are_refused(client_for, operator, host, attempts):
    row = container(host)
    response = client_for(operator).post(
        f"/auto-restart/containers/{row.pk}/policy/", {"enabled": "on", "max_attempts": attempts}, **HTMX
    )
    assert "Enter between 0 and 10 attempts." in response.content.decode()
    assert not RestartPolicy.objects.get(container=row).enabled


def test_the_card_tells_how_far_an_episode_went(client_for, viewer, host):
    row = container(host, state="exited", exit_code=1)
    policy = policy_for(row)
    policy.enabled, policy.attempts, policy.exit_codes = True, 2, [1, 1]
    policy.next_attempt_at = timezone.now() + timedelta(seconds=40.4)
    policy.save()
    text = card(client_for(viewer), row)
    assert "2 of 3 attempts used, next attempt in 40 s." in text
    assert 'hx-trigger="every 5s"' in text  # it counts down by itself

    policy.next_attempt_at, policy.attempts, policy.exit_codes = None, 3, [1, 1, 1, 1]
    policy.gave_up_at = timezone.make_aware(timezone.datetime(2026, 3, 1, 12, 30, 5))
    policy.save()
    text = card(client_for(viewer), row)
    assert "Gave up at 2026-03-01 12:30:05 after 3 attempts (exit codes 1, 1, 1, 1)." in text
    assert "every 5s" not in text


def test_an_operator_resets_a_policy_that_gave_up(client_for, operator, host):
    row = container(host)
    policy = policy_for(row)
    policy.enabled, policy.attempts, policy.exit_codes, policy.gave_up_at = True, 3, [1, 1, 1, 1], timezone.now()
    policy.save()
    client = client_for(operator)
    assert "Reset</button>" in card(client, row)
    text = client.post(f"/auto-restart/containers/{row.pk}/reset/", **HTMX).content.decode()
    assert "Gave up" not in text
    policy.refresh_from_db()
    assert (policy.attempts, policy.exit_codes, policy.gave_up_at) == (0, [], None)
    reset = Event.objects.get(action="autorestart.reset")
    assert reset.actor == operator and reset.details == {"attempts": 3, "gave_up": True}


@pytest.mark.parametrize(
    ("fields", "sentence"),
    [
        ({"restart_policy": "on-failure:5"}, "Docker's own restart policy (“on-failure:5”) restarts this container"),
        ({"desired_state": "on_demand"}, "It runs on demand: a stop is normal, so it is not restarted."),
        ({"stopped_by_user": True, "state": "exited"}, "A user stopped it through DockMon"),
    ],
)
def test_the_card_says_why_auto_restart_stays_out_of_the_way(client_for, viewer, host, fields, sentence):
    row = container(host, **fields)
    policy = policy_for(row)
    policy.enabled = True
    policy.save()
    assert sentence in card(client_for(viewer), row)


def test_the_settings_page_is_for_those_who_manage_settings(client_for, viewer, operator, admin):
    assert client_for(viewer).get("/settings/auto-restart/").status_code == 403
    assert client_for(operator).get("/settings/auto-restart/").status_code == 403
    assert client_for(operator).post("/settings/auto-restart/", {"first_delay_seconds": 1}).status_code == 403
    page = client_for(admin).get("/settings/auto-restart/").content.decode()
    assert 'name="first_delay_seconds" value="30"' in page and 'name="max_delay_seconds" value="600"' in page


VALID = {
    "default_max_attempts": "3",
    "first_delay_seconds": "30",
    "max_delay_seconds": "600",
    "stable_after_seconds": "300",
}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"default_max_attempts": "11"}, "Enter between 0 and 10 attempts."),
        ({"first_delay_seconds": "0"}, "Enter between 1 and 3600 seconds."),
        ({"max_delay_seconds": "100000"}, "Enter between 1 and 86400 seconds."),
        ({"stable_after_seconds": "5"}, "Enter between 10 and 86400 seconds."),
        (
            {"first_delay_seconds": "120", "max_delay_seconds": "60"},
            "The longest delay cannot be shorter than the first delay (120 seconds).",
        ),
    ],
)
def test_the_settings_page_refuses_values_out_of_range(client_for, admin, changes, message):
    response = client_for(admin).post("/settings/auto-restart/", {**VALID, **changes})
    assert response.status_code == 200
    assert message in response.content.decode()
    assert AutoRestartSettings.load().first_delay_seconds == 30
    assert not Event.objects.filter(action="settings.change").exists()


def test_the_default_for_new_containers_applies_only_to_containers_seen_afterwards(client_for, admin, host):
    old = container(host, "old")
    announce(containers_synced, host, result=SyncResult(created=[old]))
    response = client_for(admin).post(
        "/settings/auto-restart/", {**VALID, "enabled_for_new": "on", "default_max_attempts": "5"}
    )
    assert response.status_code == 302
    audit = Event.objects.get(action="settings.change")
    assert audit.actor == admin and audit.details["enabled_for_new"] == {"from": False, "to": True}

    synced_new, evented_new, unseen_old = container(host, "new"), container(host, "newer"), container(host, "older")
    Container.objects.filter(pk=unseen_old.pk).update(first_seen=timezone.now() - timedelta(days=1))
    unseen_old.refresh_from_db()
    announce(containers_synced, host, result=SyncResult(created=[synced_new]))
    created = Happening(container=evented_new, action="create", time=timezone.now())
    announce(container_events, host, happenings=[created])

    def policy(row: Container) -> tuple[bool, int]:
        found = RestartPolicy.objects.get(container=row)
        return found.enabled, found.max_attempts

    assert policy(old) == (False, 3)
    assert policy(synced_new) == (True, 5)
    assert policy(evented_new) == (True, 5)
    # A row without a policy that was first seen before the change (it predates auto-restart) stays off.
    assert (policy_for(unseen_old).enabled, policy_for(unseen_old).max_attempts) == (False, 5)
