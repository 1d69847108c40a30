"""The container page's card and the check forms, for viewers and operators."""

from __future__ import annotations

import pytest

from apps.core.models import Event
from apps.monitors import services
from apps.monitors.models import HealthCheck
from tests.fixtures import Route

pytestmark = pytest.mark.django_db

METADATA = " is a cloud metadata address: DockMon does not check it."

GOOD = {
    "url": "http://127.0.0.1:8080/health",
    "method": "GET",
    "expected_statuses": "200-299,301",
    "keyword": "",
    "headers": "X-Env: test",
    "auth_kind": "none",
    "auth_username": "",
    "secret": "",
    "timeout_seconds": "10",
    "interval_seconds": "60",
    "follow_redirects": "on",
    "verify_tls": "on",
    "failure_threshold": "3",
    "success_threshold": "1",
    "enabled": "on",
    "restart_attempts": "3",
    "restart_delay_seconds": "120",
}


def errors_of(response) -> list[str]:
    return [str(e) for errs in response.context["form"].errors.values() for e in errs]


def test_viewers_see_the_card_with_results_but_cannot_change_anything(client_for, viewer, make_check, http_server):
    http_server.routes["/h"] = Route(503)
    check = make_check(f"{http_server.url}/h", failure_threshold=1)
    services.run_check(check)
    client = client_for(viewer)
    page = client.get(f"/containers/{check.container_id}/").content.decode()
    assert 'id="health-checks"' in page and f"/containers/{check.container_id}/checks/card/" in page
    card = client.get(f"/containers/{check.container_id}/checks/card/").content.decode()
    assert "Unhealthy" in card and f"{http_server.url}/h" in card
    assert "status 503" in card and "Status 503, expected 200-299." in card and "ms" in card
    assert card.count('class="hc-bar fail"') == 1
    assert "Test now" not in card and "Add check" not in card
    for response in (
        client.get(f"/containers/{check.container_id}/checks/add/"),
        client.post(f"/containers/{check.container_id}/checks/add/", GOOD),
        client.get(f"/checks/{check.pk}/edit/"),
        client.post(f"/checks/{check.pk}/edit/", GOOD),
        client.post(f"/checks/{check.pk}/delete/"),
        client.post(f"/checks/{check.pk}/test/"),
    ):
        assert response.status_code == 403
    assert HealthCheck.objects.get(pk=check.pk).url == f"{http_server.url}/h"
    assert HealthCheck.objects.get(pk=check.pk).results.count() == 1


def test_an_operator_adds_tests_edits_and_deletes_a_check(client_for, operator, container_row, http_server):
    http_server.routes["/health"] = Route(200, b"all good")
    client = client_for(operator)
    response = client.post(f"/containers/{container_row.pk}/checks/add/", {**GOOD, "url": f"{http_server.url}/health"})
    assert response.status_code == 302 and response["Location"] == f"/containers/{container_row.pk}/"
    check = HealthCheck.objects.get(container=container_row)
    assert (check.expected_statuses, check.headers, check.from_label) == ("200-299,301", "X-Env: test", False)

    card = client.post(f"/checks/{check.pk}/test/", HTTP_HX_REQUEST="true").content.decode()
    assert card.startswith('<section class="card span-3 checks-card" id="health-checks"')
    assert "Healthy" in card and "status 200" in card and 'class="hc-bar ok"' in card
    assert "Test now" in card and "hx-confirm" in card
    assert http_server.requests[-1].headers["X-Env"] == "test"

    edited = client.post(f"/checks/{check.pk}/edit/", {**GOOD, "url": f"{http_server.url}/health", "keyword": "good"})
    assert edited.status_code == 302
    assert HealthCheck.objects.get(pk=check.pk).keyword == "good"

    card = client.post(f"/checks/{check.pk}/delete/", HTTP_HX_REQUEST="true").content.decode()
    assert "No health checks." in card
    assert not HealthCheck.objects.exists()
    audit = list(Event.objects.filter(category="monitors").order_by("id").values_list("action", "actor", "details"))
    assert [(a, u) for a, u, _ in audit] == [
        ("monitors.check_create", operator.pk),
        ("monitors.check_update", operator.pk),
        ("monitors.check_delete", operator.pk),
    ]
    assert audit[1][2]["changed"] == ["keyword"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"url": "ftp://127.0.0.1/"}, "Only http:// and https:// URLs can be checked."),
        ({"url": "http://169.254.169.254/latest/"}, "169.254.169.254" + METADATA),
        ({"url": "http://metadata.google.internal/"}, "metadata.google.internal" + METADATA),
        ({"expected_statuses": "abc"}, "“abc” is not a status code or a range such as 200-299."),
        ({"expected_statuses": "600"}, "600 is not an HTTP status code (they run from 100 to 599)."),
        ({"expected_statuses": "300-200"}, "The range 300-200 runs backwards: write 200-300."),
        ({"interval_seconds": "5"}, "Check every 10 to 3600 seconds (10 s to 1 hour)."),
        ({"interval_seconds": "3601"}, "Check every 10 to 3600 seconds (10 s to 1 hour)."),
        ({"timeout_seconds": "0"}, "The timeout is 1 to 60 seconds."),
        ({"timeout_seconds": "61"}, "The timeout is 1 to 60 seconds."),
        ({"failure_threshold": "0"}, "The failure threshold is 1 to 20 checks in a row."),
        ({"success_threshold": "21"}, "The success threshold is 1 to 20 checks in a row."),
        ({"headers": "X-Ok: 1\nBroken header"}, "Header line 2 is not “Name: value”: Broken header"),
        ({"method": "HEAD", "keyword": "ok"}, "A HEAD response has no body to search: clear the keyword or use GET."),
        ({"auth_kind": "basic"}, "Basic authentication needs a user."),
        ({"auth_kind": "bearer"}, "Give the token."),
    ],
)  # fmt: skip
def test_bad_input_is_refused_with_a_clear_message(client_for, operator, container_row, change, message):
    response = client_for(operator).post(f"/containers/{container_row.pk}/checks/add/", {**GOOD, **change})
    assert response.status_code == 200
    assert message in errors_of(response)
    assert message in response.content.decode()
    assert not HealthCheck.objects.exists()


def test_the_secret_is_never_shown_back_and_kept_when_left_empty(client_for, operator, container_row, http_server):
    http_server.routes["/p"] = Route(200)
    client = client_for(operator)
    data = {**GOOD, "url": f"{http_server.url}/p", "auth_kind": "bearer", "secret": "tok-very-secret"}
    client.post(f"/containers/{container_row.pk}/checks/add/", data)
    check = HealthCheck.objects.get()
    assert check.auth_secret == "tok-very-secret"
    form_page = client.get(f"/checks/{check.pk}/edit/").content.decode()
    assert "tok-very-secret" not in form_page and "Leave empty to keep the current one." in form_page
    client.post(f"/checks/{check.pk}/edit/", {**data, "secret": "", "interval_seconds": "30"})
    check.refresh_from_db()
    assert (check.auth_secret, check.interval_seconds) == ("tok-very-secret", 30)
    client.post(f"/checks/{check.pk}/test/")
    assert http_server.requests[-1].headers["Authorization"] == "Bearer tok-very-secret"
    audit = Event.objects.filter(category="monitors").values_list("details", flat=True)
    assert all("tok-very-secret" not in str(details) for details in audit)
