import time

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret, hotp_value
from django.conf import settings
from django.test import Client

from apps.core.models import Event
from apps.users.capabilities import Role
from tests.fixtures import PASSWORD

pytestmark = pytest.mark.django_db

BROWSER = "Mozilla/5.0 (DockMon test)"


def sign_in(client: Client, login: str, password: str = PASSWORD, **extra):
    return client.post("/accounts/login/", {"login": login, "password": password}, HTTP_USER_AGENT=BROWSER, **extra)


def test_sign_in_lands_on_the_dashboard_and_is_audited(client, user_with_password):
    user = user_with_password("pat")
    response = sign_in(client, "pat")
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get("/").status_code == 200
    event = Event.objects.get(action="auth.login")
    assert (event.actor, event.ip_address, event.user_agent) == (user, "127.0.0.1", BROWSER)


def test_sign_in_by_email_works_too(client, user_with_password):
    user_with_password("pat")
    assert sign_in(client, "pat@example.test").status_code == 302


def test_a_wrong_password_is_refused_clearly_and_audited(client, user_with_password):
    user = user_with_password("pat")
    response = sign_in(client, "pat", "nope-nope")
    assert response.status_code == 200
    assert "The username and/or password you specified are not correct." in response.content.decode()
    failed = Event.objects.get(action="auth.login_failed")
    assert failed.severity == "warning" and failed.actor_kind == "anonymous"
    assert failed.target_id == str(user.pk) and failed.details == {"username": "pat"}
    assert "nope-nope" not in str(failed.details)


def test_the_eleventh_wrong_password_within_five_minutes_is_refused(client, user_with_password):
    user_with_password("pat")
    for _ in range(10):
        assert "not correct" in sign_in(client, "pat", "wrong-guess").content.decode()
    response = sign_in(client, "pat", PASSWORD)  # even the right password is refused now
    assert "Too many failed login attempts. Try again later." in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert Event.objects.filter(action="auth.login_failed").count() == 10
    assert Event.objects.filter(action="auth.login_blocked").exists()


def test_the_limit_also_counts_per_address_across_accounts(client, user_with_password):
    user_with_password("pat")
    for n in range(10):
        sign_in(client, f"nobody{n}", "wrong-guess")
    assert "Too many failed login attempts" in sign_in(client, "pat").content.decode()


def test_another_address_is_not_locked_out_by_a_different_account(client, user_with_password):
    user_with_password("pat")
    for _ in range(10):
        sign_in(client, "someone-else", "wrong-guess", REMOTE_ADDR="10.9.9.9")
    assert sign_in(client, "pat").status_code == 302


def test_sign_out_is_audited(client_for, viewer):
    client = client_for(viewer)
    client.post("/accounts/logout/")
    assert Event.objects.filter(action="auth.logout", actor=viewer).exists()
    assert client.get("/")["Location"].startswith("/accounts/login/")


def test_nobody_can_sign_themselves_up(client, admin):
    response = client.post(
        "/accounts/signup/", {"username": "mallory", "password1": "Sturdy-passw0rd", "password2": "Sturdy-passw0rd"}
    )
    assert "Sign Up Closed" in response.content.decode()
    assert not type(admin).objects.filter(username="mallory").exists()


def test_the_session_lasts_the_configured_hours(client, user_with_password):
    user_with_password("pat")
    sign_in(client, "pat")
    assert settings.SESSION_COOKIE_AGE == 24 * 3600
    assert client.cookies["sessionid"]["max-age"] == 24 * 3600


def test_an_expired_session_leads_back_to_sign_in(client_for, viewer):
    client = client_for(viewer)
    client.session.flush()
    client.cookies["sessionid"] = "expired-or-unknown"
    assert client.get("/events/?q=x")["Location"] == "/accounts/login/?next=/events/%3Fq%3Dx"
    htmx = client.get("/dashboard/system-status/", HTTP_HX_REQUEST="true", HTTP_HX_CURRENT_URL="http://testserver/")
    assert htmx["HX-Redirect"] == "/accounts/login/?next=%2F"


def test_totp_secret_is_stored_encrypted_and_sign_in_asks_for_the_code(client, user_with_password):
    user = user_with_password("pat", Role.ADMIN)
    secret = generate_totp_secret()
    TOTP.activate(user, secret)
    stored = Authenticator.objects.get(user=user, type=Authenticator.Type.TOTP)
    assert secret not in str(stored.data)
    response = sign_in(client, "pat")
    assert response["Location"] == "/accounts/2fa/authenticate/"
    code = f"{hotp_value(secret, int(time.time()) // 30):06d}"
    response = client.post("/accounts/2fa/authenticate/", {"code": code})
    assert response.status_code == 302
    assert client.get("/").status_code == 200
