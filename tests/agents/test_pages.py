"""Adding an agent host, its registration tokens and credential, through the pages."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.agents import services
from apps.agents.models import AgentCredential, RegistrationToken
from apps.agents.tasks import mark_silent_offline
from apps.core.models import Event
from apps.hosts.models import Host

pytestmark = pytest.mark.django_db


def test_adding_an_agent_host_shows_the_command_with_a_one_time_token(client_for, admin):
    response = client_for(admin).post("/hosts/add/", {"name": "branch-office", "kind": "agent", "url": "ignored",
                                                      "tags_text": ""})  # fmt: skip
    page = response.content.decode()
    host = Host.objects.get()
    assert (host.kind, host.url) == ("agent", "")
    token = re.search(r"DOCKMON_TOKEN=([\w-]+)", page).group(1)
    assert "docker run -d --name dockmon-agent" in page and "/var/run/docker.sock" in page
    stored = RegistrationToken.objects.get(host=host)
    assert token not in stored.token_hash and len(stored.token_hash) == 64
    assert stored.usable and not stored.multi_use
    assert stored.expires_at - timezone.now() <= timedelta(minutes=15)
    assert token not in client_for(admin).get(f"/hosts/{host.pk}/").content.decode()


def test_a_new_multi_use_token_and_revoking_the_credential(client_for, admin, viewer):
    host = Host.objects.create(name="edge", kind="agent")
    AgentCredential.objects.create(host=host, secret_hash="0" * 64, agent_name="edge-01")
    client = client_for(admin)
    page = client.post(f"/hosts/{host.pk}/agent/token/", {"multi_use": "on"}).content.decode()
    assert "may register several agents" in page and RegistrationToken.objects.get(host=host).multi_use
    assert client_for(viewer).post(f"/hosts/{host.pk}/agent/revoke/").status_code == 403
    assert client.post(f"/hosts/{host.pk}/agent/revoke/")["Location"] == f"/hosts/{host.pk}/"
    assert not AgentCredential.objects.exists()
    assert Event.objects.filter(action="agents.revoke", actor=admin).exists()


def test_agent_hosts_that_missed_two_heartbeats_go_offline(db):
    quiet = Host.objects.create(name="quiet", kind="agent", status="online",
                                last_seen=timezone.now() - timedelta(seconds=120))  # fmt: skip
    fresh = Host.objects.create(name="fresh", kind="agent", status="online", last_seen=timezone.now())
    assert mark_silent_offline() == 1
    quiet.refresh_from_db()
    fresh.refresh_from_db()
    assert quiet.status == "offline" and "No heartbeat" in quiet.last_error
    assert fresh.status == "online"
    assert Event.objects.filter(action="hosts.offline", host=quiet).exists()


def test_tokens_are_random_and_stored_hashed(admin):
    host = Host.objects.create(name="h", kind="agent")
    first, second = services.token_create(actor=admin, host=host), services.token_create(actor=admin, host=host)
    assert first != second and len(first) >= 40
    assert not RegistrationToken.objects.filter(token_hash__in=[first, second]).exists()
