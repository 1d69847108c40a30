"""The rule form in a real browser: choosing a kind redraws the form for it; the list's switch flips a rule."""

from collections.abc import Iterator

import pytest
from django.conf import settings
from playwright.sync_api import Page, sync_playwright

from apps.alerts.models import AlertRule
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def admin_page(live_server, admin, client_for, monkeypatch) -> Iterator[Page]:
    # Playwright's sync API runs an event loop in this thread; the test's own ORM calls are still synchronous.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    cookie = client_for(admin).cookies[settings.SESSION_COOKIE_NAME].value
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 860})
        context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": live_server.url}])
        yield context.new_page()
        browser.close()


def test_choosing_a_kind_shows_its_fields_and_keeps_what_was_typed(admin_page: Page, live_server):
    page = admin_page
    page.goto(f"{live_server.url}/alerts/rules/new/")
    page.fill("#id_name", "Busy web")
    assert page.locator("#id_threshold").count() == 0
    page.select_option("#id_kind", AlertRule.Kind.CONTAINER_CPU)
    page.wait_for_selector("#id_threshold")
    assert page.input_value("#id_name") == "Busy web"
    assert page.input_value("#id_threshold") == "90"
    page.fill("#id_threshold", "150")
    page.click("#rule-form button[type=submit]")
    page.wait_for_selector("#rule-conditions")
    assert "Fires above 150 %, resolves below 145 %." in page.inner_text("#rule-conditions")
    assert "When held for 5 min." in page.inner_text("#rule-conditions")


def test_the_list_switch_disables_a_rule_in_place(admin_page: Page, live_server):
    rule = AlertRule.objects.create(name="Disk", kind=AlertRule.Kind.HOST_DISK, threshold=90, clear_threshold=85)
    page = admin_page
    page.goto(f"{live_server.url}/alerts/rules/")
    page.click(f"#rule-{rule.pk} .rule-toggle")
    page.wait_for_selector(f"#rule-{rule.pk}.rule-off")
    assert page.inner_text(f"#rule-{rule.pk} .rule-toggle") == "Off"
    rule.refresh_from_db()
    assert rule.enabled is False
