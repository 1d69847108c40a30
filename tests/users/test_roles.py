import pytest
from django.contrib.auth.models import Group

from apps.core.models import Event
from apps.users.access import has_capability
from apps.users.capabilities import ROLES, Capability, Role
from apps.users.models import User
from tests.fixtures import PASSWORD

pytestmark = pytest.mark.django_db


def test_each_role_is_a_group_holding_exactly_its_capabilities():
    for role, info in ROLES.items():
        codenames = set(Group.objects.get(name=role.group_name).permissions.values_list("codename", flat=True))
        assert codenames == {str(c) for c in info.capabilities}


@pytest.mark.parametrize(
    ("persona", "allowed"),
    [
        ("admin", set(Capability)),
        (
            "operator",
            {
                Capability.CONTAINERS_OPERATE,
                Capability.CONTAINERS_VIEW_ENV,
                Capability.DEPLOYMENTS_DEPLOY,
                Capability.AUDIT_VIEW,
            },
        ),
        ("viewer", set()),
        ("outsider", set()),
    ],
)
def test_capabilities_follow_the_role(request, persona, allowed):
    user = request.getfixturevalue(persona)
    assert {c for c in Capability if has_capability(user, c)} == allowed


def test_a_disabled_admin_holds_nothing(admin):
    admin.is_active = False
    assert not has_capability(admin, Capability.USERS_MANAGE)


ADMIN_ONLY_PAGES = ["/settings/", "/settings/users/", "/settings/users/new/", "/admin/", "/admin/core/event/"]


@pytest.mark.parametrize("path", ADMIN_ONLY_PAGES)
def test_a_viewer_gets_a_friendly_403_on_admin_pages(client_for, viewer, path):
    response = client_for(viewer).get(path)
    assert response.status_code == 403
    assert "Not allowed" in response.content.decode()


@pytest.mark.parametrize("path", ADMIN_ONLY_PAGES)
def test_an_admin_opens_admin_pages(client_for, admin, path):
    assert client_for(admin).get(path).status_code == 200


def test_the_audit_trail_is_for_operators_and_admins(client_for, admin, operator, viewer):
    assert client_for(admin).get("/events/").status_code == 200
    assert client_for(operator).get("/events/").status_code == 200
    assert client_for(viewer).get("/events/").status_code == 403


def test_a_viewer_posting_an_admin_action_changes_nothing(client_for, viewer):
    response = client_for(viewer).post(
        "/settings/users/new/",
        {"username": "sneaky", "role": "admin", "password1": "Sturdy-passw0rd", "password2": "Sturdy-passw0rd"},
    )
    assert response.status_code == 403
    assert not User.objects.filter(username="sneaky").exists()


def test_a_refusal_inside_htmx_is_a_short_message_for_a_toast(client_for, viewer):
    response = client_for(viewer).post("/settings/", HTTP_HX_REQUEST="true")
    assert response.status_code == 403
    assert response["Content-Type"].startswith("text/plain")
    assert "settings.manage" in response.content.decode()


def test_navigation_shows_only_what_the_role_may_open(client_for, admin, viewer):
    admin_page = client_for(admin).get("/").content.decode()
    viewer_page = client_for(viewer).get("/").content.decode()
    assert 'href="/settings/"' in admin_page and 'href="/events/"' in admin_page
    assert 'href="/settings/"' not in viewer_page and 'href="/events/"' not in viewer_page
    assert "Recent activity" in admin_page and "Recent activity" not in viewer_page


def test_an_admin_creates_a_user_who_can_then_sign_in(client_for, admin, client):
    response = client_for(admin).post(
        "/settings/users/new/",
        {
            "username": "nina",
            "email": "nina@example.test",
            "role": "operator",
            "password1": PASSWORD,
            "password2": PASSWORD,
        },
    )
    assert response["Location"] == "/settings/users/"
    nina = User.objects.get(username="nina")
    assert nina.role == Role.OPERATOR and not nina.is_staff
    created = Event.objects.get(action="users.create")
    assert created.actor == admin and created.target_name == "nina" and created.details["role"] == "operator"
    assert PASSWORD not in str(created.details)
    assert client.post("/accounts/login/", {"login": "nina", "password": PASSWORD}).status_code == 302


def test_changing_a_role_and_disabling_a_user_is_audited(client_for, admin, viewer):
    client = client_for(admin)
    client.post(f"/settings/users/{viewer.pk}/", {"email": viewer.email, "role": "operator", "is_active": ""})
    viewer.refresh_from_db()
    assert viewer.role == Role.OPERATOR and not viewer.is_active
    event = Event.objects.get(action="users.update")
    assert event.details == {"role": "operator", "is_active": False}


def test_the_last_admin_cannot_be_demoted_or_deleted(client_for, admin):
    client = client_for(admin)
    response = client.post(f"/settings/users/{admin.pk}/", {"email": "", "role": "viewer", "is_active": "on"})
    assert "last active admin" in response.content.decode()
    admin.refresh_from_db()
    assert admin.role == Role.ADMIN
    client.post(f"/settings/users/{admin.pk}/delete/")
    assert User.objects.filter(pk=admin.pk).exists()


def test_an_admin_sets_a_password_and_deletes_a_user(client_for, admin, viewer, client):
    manager = client_for(admin)
    manager.post(f"/settings/users/{viewer.pk}/password/", {"new_password1": PASSWORD, "new_password2": PASSWORD})
    assert client.post("/accounts/login/", {"login": viewer.username, "password": PASSWORD}).status_code == 302
    manager.post(f"/settings/users/{viewer.pk}/delete/")
    assert not User.objects.filter(pk=viewer.pk).exists()
    actions = list(Event.objects.filter(category="users").values_list("action", flat=True))
    assert "users.set_password" in actions and "users.delete" in actions
    # The trail keeps naming the deleted user.
    assert Event.objects.filter(actor_name=viewer.username, action="auth.login").exists()


def test_a_weak_password_for_a_new_user_is_refused(client_for, admin):
    response = client_for(admin).post(
        "/settings/users/new/", {"username": "weak", "role": "viewer", "password1": "weak", "password2": "weak"}
    )
    assert "too short" in response.content.decode()
    assert not User.objects.filter(username="weak").exists()
