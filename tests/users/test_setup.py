import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from apps.core.models import Event
from apps.users.capabilities import Role
from apps.users.models import User

pytestmark = pytest.mark.django_db

GOOD = {
    "username": "root-admin",
    "email": "admin@example.test",
    "password1": "Sturdy-passw0rd",
    "password2": "Sturdy-passw0rd",
}


@pytest.mark.parametrize("path", ["/", "/events/", "/settings/users/", "/admin/", "/accounts/login/"])
def test_every_page_leads_to_setup_while_no_user_exists(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"] == "/setup/"


def test_htmx_requests_are_sent_to_setup_as_a_whole_page(client):
    response = client.get("/", HTTP_HX_REQUEST="true")
    assert response["HX-Redirect"] == "/setup/"


def test_healthz_answers_before_setup(client):
    assert client.get("/healthz").status_code in (200, 503)


def test_setup_creates_an_admin_signs_in_and_lands_on_the_dashboard(client):
    response = client.post("/setup/", GOOD, follow=True)
    assert response.redirect_chain[-1][0] == "/"
    assert b"Get started" in response.content
    user = User.objects.get()
    assert user.role == Role.ADMIN and user.is_staff
    assert user.password.startswith("bcrypt_sha256$")
    assert response.context["user"] == user
    created = Event.objects.get(action="users.create_first_admin")
    assert created.actor == user and created.details == {"via": "setup page"}


def test_setup_is_closed_once_a_user_exists(client, admin):
    assert client.get("/setup/")["Location"] == "/accounts/login/"
    client.post("/setup/", GOOD)
    assert not User.objects.filter(username="root-admin").exists()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"password2": "different-passw0rd"}, "The two passwords differ."),
        ({"password1": "12345678", "password2": "12345678"}, "This password is too common."),
        ({"username": ""}, "This field is required."),
    ],
)
def test_setup_rejects_bad_input_and_keeps_what_was_typed(client, change, message):
    response = client.post("/setup/", {**GOOD, **change})
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not User.objects.exists()
    if change.get("username") != "":
        assert b'value="root-admin"' in response.content


def test_bootstrap_creates_the_admin_from_the_environment(settings):
    settings.ADMIN_USER, settings.ADMIN_PASSWORD = "ops", "Another-sturdy-1"
    call_command("bootstrap")
    user = User.objects.get(username="ops")
    assert user.role == Role.ADMIN and user.check_password("Another-sturdy-1")
    assert Event.objects.get(action="users.create_first_admin").actor_name == "system"
    call_command("bootstrap")  # a second start changes nothing
    assert User.objects.count() == 1


def test_bootstrap_refuses_a_weak_password(settings):
    settings.ADMIN_USER, settings.ADMIN_PASSWORD = "ops", "password"
    with pytest.raises(CommandError, match="too weak"):
        call_command("bootstrap")
    assert not User.objects.exists()


def test_bootstrap_needs_a_password_with_the_user(settings):
    settings.ADMIN_USER, settings.ADMIN_PASSWORD = "ops", ""
    with pytest.raises(CommandError, match="DOCKMON_ADMIN_PASSWORD"):
        call_command("bootstrap")
