import re

import pytest

from apps.core.models import Event
from tests.fixtures import PASSWORD

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "A-brand-new-passw0rd"


def test_password_reset_by_email_end_to_end(client, user_with_password, email_to):
    user = user_with_password("pat")
    response = client.post("/accounts/password/reset/", {"email": user.email})
    assert response.status_code == 302
    [message] = email_to.messages
    assert message["To"] == user.email
    link = re.search(r"http://testserver(/accounts/password/reset/key/\S+)", message.get_content()).group(1)
    form_page = client.get(link, follow=True)
    client.post(form_page.redirect_chain[-1][0], {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    assert Event.objects.filter(action="auth.password_reset", actor=user).exists()


def test_without_email_the_reset_page_says_whom_to_ask(client, viewer):
    page = client.get("/accounts/password/reset/").content.decode()
    assert "cannot send e-mail yet" in page and "Settings → Users" in page
    assert 'name="email"' not in page


def test_a_user_changes_their_own_password(client, user_with_password):
    user = user_with_password("pat")
    client.post("/accounts/login/", {"login": "pat", "password": PASSWORD})
    response = client.post(
        "/accounts/password/change/",
        {"oldpassword": PASSWORD, "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    assert Event.objects.filter(action="auth.password_change", actor=user).exists()
    assert client.get("/").status_code == 200  # still signed in
