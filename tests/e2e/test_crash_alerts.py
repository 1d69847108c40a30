"""An alert from end to end in a real browser against DockMon as `make run` starts it: a channel and a rule made
through the pages, a real container crashing, the e-mail arriving, the count in the navigation and the
acknowledgement."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.test_browser import ensure_admin
from tests.e2e.test_containers import add_local_host
from tests.fixtures import Mailbox, wait_until
from tests.live import LiveDockMon

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def add_email_channel(page: Page, live: LiveDockMon, smtp_server: Mailbox) -> None:
    page.goto(f"{live.url}/notifications/new/email/")
    page.fill("#id_name", "e2e mail")
    page.fill("#id_smtp_host", "127.0.0.1")
    page.fill("#id_smtp_port", str(smtp_server.port))
    page.check("input[name=security][value=none]")
    page.fill("#id_from_address", "dockmon@example.com")
    page.fill("#id_to_addresses", "ops@example.com")
    page.locator("form button[type=submit]").last.click()
    expect(page.locator("body")).to_contain_text("e2e mail")

    page.goto(f"{live.url}/notifications/")
    row = page.locator("tr", has_text="e2e mail")
    row.get_by_role("button", name="Send test").click()
    expect(row).to_contain_text("Sent", timeout=15000)
    wait_until(lambda: any("test" in m["Subject"].lower() for m in smtp_server.messages), timeout=15)


def add_stopped_rule(page: Page, live: LiveDockMon, name_pattern: str) -> None:
    page.goto(f"{live.url}/alerts/rules/new/?kind=container_stopped")
    page.fill("#id_name", "e2e crashes")
    page.fill("#id_name_pattern", name_pattern)
    page.get_by_label("e2e mail").check()
    page.click("#rule-form button[type=submit]")
    expect(page).to_have_url(re.compile(r"/alerts/rules/\d+/$"))
    expect(page.locator("main")).not_to_contain_text("nobody is notified")


def test_a_crash_alerts_by_mail_counts_live_and_is_acknowledged(
    page: Page, live_dockmon: LiveDockMon, run_container, smtp_server: Mailbox
):
    ensure_admin(page, live_dockmon)
    add_local_host(page, live_dockmon)
    add_email_channel(page, live_dockmon, smtp_server)
    add_stopped_rule(page, live_dockmon, "*e2e-crash*")

    page.goto(f"{live_dockmon.url}/")
    expect(page.locator("body")).to_have_attribute("data-live", "on")
    badge = page.locator("nav .nav-count")
    expect(badge).to_be_hidden()

    # Created while DockMon follows the host: meant to run; it exits with code 1 two seconds after starting.
    crashing = run_container("exit", "1", "2", name="e2e-crash")
    expect(badge).to_have_text("1", timeout=30000)  # pushed to the open page, no reload

    wait_until(lambda: any(crashing.name in m["Subject"] for m in smtp_server.messages), timeout=30)
    mail = next(m for m in smtp_server.messages if crashing.name in m["Subject"])
    text = mail.get_body(preferencelist=("plain", "html")).get_content()
    assert "code 1" in mail["Subject"] + text
    assert "testapp: exiting with 1" in text  # the log tail came along

    page.locator("nav a", has_text="Alerts").click()
    page.locator("a", has_text=crashing.name).first.click()
    expect(page.locator("main")).to_contain_text("testapp: exiting with 1")
    page.get_by_role("button", name="Acknowledge").click()
    expect(page.locator("main")).to_contain_text("Acknowledged")
