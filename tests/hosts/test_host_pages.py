"""Adding, testing, changing and deleting hosts through the pages, with real daemons."""

import pytest
from django.core.management import call_command
from django.db import connection

from apps.core.models import Event
from apps.hosts.models import Host
from apps.tags.models import Tag
from tests.dockerenv.certs import generate_tls_certs

pytestmark = pytest.mark.django_db


def tls_form(daemon, certs, *, client=None, **overrides) -> dict:
    client = client or certs.client
    return {
        "name": "remote",
        "kind": "tls",
        "url": daemon.base_url,
        "tls_ca": certs.ca.cert,
        "tls_cert": client.cert,
        "tls_key": client.key,
        "description": "",
        "tags_text": "prod, eu",
        **overrides,
    }


def test_an_admin_adds_the_local_socket(client_for, admin, docker_client):
    response = client_for(admin).post(
        "/hosts/add/", {"name": "here", "kind": "socket", "url": "unix:///var/run/docker.sock", "tags_text": ""}
    )
    host = Host.objects.get(name="here")
    assert response["Location"] == f"/hosts/{host.pk}/"
    assert Event.objects.get(action="hosts.create").actor == admin


def test_an_admin_adds_a_tls_host_and_its_secrets_are_stored_encrypted(
    client_for, admin, running_tls_daemon, tls_certs
):
    client = client_for(admin)
    response = client.post("/hosts/add/", tls_form(running_tls_daemon, tls_certs))
    assert response.status_code == 302, response.content.decode()[:2000]
    host = Host.objects.get(name="remote")
    assert host.tls_key == tls_certs.client.key.strip()  # readable through the model
    with connection.cursor() as cursor:
        cursor.execute("SELECT tls_key, tls_cert FROM hosts_host WHERE id = %s", [host.pk])
        raw_key, raw_cert = cursor.fetchone()
    assert "PRIVATE KEY" not in raw_key and "CERTIFICATE" not in raw_cert
    assert host.client_cert_subject and len(host.client_cert_fingerprint) == 95 and host.client_cert_not_after
    assert sorted(t.name for t in host.tags.all()) == ["eu", "prod"]
    page = client.get(f"/hosts/{host.pk}/").content.decode()
    assert host.client_cert_fingerprint in page
    assert "PRIVATE KEY" not in page and tls_certs.client.key.splitlines()[1] not in page
    edit_page = client.get(f"/hosts/{host.pk}/edit/").content.decode()
    assert "BEGIN" not in edit_page


def test_test_connection_shows_the_daemon_before_saving(client_for, admin, running_tls_daemon, tls_certs):
    response = client_for(admin).post("/hosts/test/", tls_form(running_tls_daemon, tls_certs), HTTP_HX_REQUEST="true")
    page = response.content.decode()
    assert "Connected." in page and "Docker 20.10" in page
    assert not Host.objects.exists()


def test_a_client_certificate_from_another_ca_is_refused_clearly_and_nothing_is_saved(
    client_for, admin, running_tls_daemon, tls_certs
):
    form = tls_form(running_tls_daemon, tls_certs, client=tls_certs.rogue_client)
    page = client_for(admin).post("/hosts/test/", form, HTTP_HX_REQUEST="true").content.decode()
    assert "Could not connect." in page and "certificate" in page.lower()
    assert not Host.objects.exists()


@pytest.mark.parametrize(
    ("change", "field_error"),
    [
        ({"tls_cert": "not a certificate"}, "not a PEM certificate"),
        ({"url": "http://127.0.0.1:2376"}, "starts with tcp://"),
        ({"tls_key": ""}, "needs its client key"),
    ],
)
def test_bad_tls_input_gets_a_clear_message_and_nothing_is_saved(
    client_for, admin, running_tls_daemon, tls_certs, change, field_error
):
    response = client_for(admin).post("/hosts/add/", tls_form(running_tls_daemon, tls_certs, **change))
    assert response.status_code == 200
    assert field_error in response.content.decode()
    assert not Host.objects.exists()


def test_a_key_that_does_not_match_the_certificate_is_refused(client_for, admin, running_tls_daemon, tls_certs):
    form = tls_form(running_tls_daemon, tls_certs, tls_key=tls_certs.rogue_client.key)
    page = client_for(admin).post("/hosts/add/", form).content.decode()
    assert "The key does not belong to this certificate." in page
    assert not Host.objects.exists()


def test_editing_without_new_certificates_keeps_the_stored_ones(client_for, admin, tls_host, running_tls_daemon):
    response = client_for(admin).post(
        f"/hosts/{tls_host.pk}/edit/",
        {
            "name": "renamed",
            "kind": "tls",
            "url": tls_host.url,
            "description": "",
            "tags_text": "",
            "tls_ca": "",
            "tls_cert": "",
            "tls_key": "",
        },
    )
    assert response.status_code == 302
    host = Host.objects.get(pk=tls_host.pk)
    assert host.name == "renamed" and host.tls_key == tls_host.tls_key and host.client_cert_fingerprint
    assert Event.objects.get(action="hosts.update").details == {"changed": ["name"]}


def test_a_certificate_expiring_soon_is_flagged(client_for, admin, running_tls_daemon, tls_certs):
    client = client_for(admin)
    client.post("/hosts/add/", tls_form(running_tls_daemon, tls_certs, client=tls_certs.expiring_client))
    host = Host.objects.get()
    assert host.cert_expires_soon and not host.cert_expired
    assert "expires soon" in client.get(f"/hosts/{host.pk}/").content.decode()


def test_an_expired_client_certificate_is_refused(client_for, admin, running_tls_daemon, tls_certs):
    page = (
        client_for(admin)
        .post("/hosts/add/", tls_form(running_tls_daemon, tls_certs, client=tls_certs.expired_client))
        .content.decode()
    )
    assert "expired" in page
    assert not Host.objects.exists()


def test_viewers_and_operators_cannot_add_or_delete_hosts(client_for, viewer, operator, local_host):
    for user in (viewer, operator):
        client = client_for(user)
        assert client.get("/hosts/add/").status_code == 403
        assert client.post("/hosts/add/", {"name": "x", "kind": "socket", "url": "unix:///x"}).status_code == 403
        assert client.post(f"/hosts/{local_host.pk}/delete/").status_code == 403
        assert client.get(f"/hosts/{local_host.pk}/").status_code == 200
    assert list(Host.objects.values_list("name", flat=True)) == ["local"]


def test_deleting_a_host_is_audited(client_for, admin, local_host):
    client_for(admin).post(f"/hosts/{local_host.pk}/delete/")
    assert not Host.objects.exists()
    assert Event.objects.get(action="hosts.delete").host_name == "local"


def test_the_local_socket_is_offered_once_at_first_start(settings, docker_client):
    call_command("bootstrap")
    host = Host.objects.get()
    assert host.kind == "socket" and host.url == "unix:///var/run/docker.sock"
    host.delete()
    call_command("bootstrap")
    assert not Host.objects.exists()


def test_the_local_socket_offer_can_be_turned_off(settings, docker_client):
    settings.AUTO_LOCAL_HOST = False
    call_command("bootstrap")
    assert not Host.objects.exists()


def test_adding_a_host_with_a_rejected_certificate_saves_nothing(client_for, admin, running_tls_daemon, tls_certs):
    form = tls_form(running_tls_daemon, tls_certs, client=tls_certs.rogue_client, save_unreachable="on")
    page = client_for(admin).post("/hosts/add/", form).content.decode()
    assert "Not saved: DockMon could not connect." in page and "certificate" in page.lower()
    assert not Host.objects.exists()


def test_an_unreachable_host_is_saved_only_when_asked(client_for, admin):
    client = client_for(admin)
    form = {"name": "later", "kind": "tls", "url": "tcp://127.0.0.1:1", "tags_text": ""}
    certs = generate_tls_certs()
    form.update(tls_ca=certs.ca.cert, tls_cert=certs.client.cert, tls_key=certs.client.key)
    page = client.post("/hosts/add/", form).content.decode()
    assert "Nothing answers" in page and "Save even if it does not answer now" in page
    assert not Host.objects.exists()
    assert client.post("/hosts/add/", {**form, "save_unreachable": "on"}).status_code == 302
    assert Host.objects.get().status == "pending"


def test_a_saved_host_is_online_with_its_facts_at_once(client_for, admin, running_tls_daemon, tls_certs):
    client_for(admin).post("/hosts/add/", tls_form(running_tls_daemon, tls_certs))
    host = Host.objects.get()
    assert host.status == "online" and host.facts["docker_version"].startswith("20.10")


def test_hosts_can_be_filtered_by_tag(client_for, viewer, db):
    tagged = Host.objects.create(name="tagged-host", kind="socket", url="unix:///a.sock")
    Host.objects.create(name="plain-host", kind="socket", url="unix:///b.sock")
    tagged.tags.add(Tag.objects.create(name="prod"))
    page = client_for(viewer).get("/hosts/", {"tag": "prod"}).content.decode()
    assert "tagged-host" in page and "plain-host" not in page
    assert 'href="/hosts/?tag=prod"' in page
