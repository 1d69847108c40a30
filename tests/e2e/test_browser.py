"""The first-run journey and live updates in a real Chromium against DockMon started by scripts/run."""

from __future__ import annotations

import asyncio
import re
from concurrent.futures import ThreadPoolExecutor

import pytest
from channels_redis.core import RedisChannelLayer
from playwright.sync_api import Browser, Page, expect

from tests.live import LiveDockMon

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ADMIN, PASSWORD = "admin", "Sturdy-e2e-passw0rd"


def sign_in(page: Page, live: LiveDockMon, password: str = PASSWORD) -> None:
    page.goto(f"{live.url}/accounts/login/")
    page.fill("#id_login", ADMIN)
    page.fill("#id_password", password)
    page.click("#login-form button[type=submit]")


def ensure_admin(page: Page, live: LiveDockMon) -> None:
    page.goto(live.url)
    if page.url.endswith("/setup/"):
        fill_setup(page)
    elif "/accounts/login/" in page.url:
        sign_in(page, live)
    expect(page.locator("h1")).to_have_text("Dashboard")


def fill_setup(page: Page) -> None:
    page.fill("#id_username", ADMIN)
    page.fill("#id_password1", PASSWORD)
    page.fill("#id_password2", PASSWORD)
    page.click("#setup-form button[type=submit]")


def test_first_run_setup_sign_in_dashboard_and_theme(page: Page, live_dockmon: LiveDockMon) -> None:
    page.goto(live_dockmon.url)
    expect(page).to_have_url(f"{live_dockmon.url}/setup/")
    expect(page.locator("h1")).to_have_text("Welcome to DockMon")
    fill_setup(page)

    expect(page).to_have_url(f"{live_dockmon.url}/")
    expect(page.locator("#getting-started")).to_contain_text("DockMon has no Docker hosts to watch yet")
    expect(page.locator(".toast")).to_contain_text("Welcome, admin")
    # make run started web, worker and beat: the dashboard's system card shows all four green.
    expect(page.locator("#system-status li.ok")).to_have_count(4, timeout=15000)

    page.click("#user-menu summary")
    page.click("#sign-out")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))

    sign_in(page, live_dockmon, password="not-the-password")
    expect(page.locator("#login-form")).to_contain_text("not correct")
    sign_in(page, live_dockmon)
    expect(page).to_have_url(f"{live_dockmon.url}/")
    expect(page.locator("h1")).to_have_text("Dashboard")

    html = page.locator("html")
    expect(html).to_have_attribute("data-theme", "auto")
    page.click("#theme-toggle")
    expect(html).to_have_attribute("data-theme", "dark")
    page.reload()
    expect(html).to_have_attribute("data-theme", "dark")
    page.click("#theme-toggle")
    expect(html).to_have_attribute("data-theme", "light")
    page.reload()
    expect(html).to_have_attribute("data-theme", "light")


def test_a_server_side_push_reaches_an_open_page(page: Page, browser: Browser, live_dockmon: LiveDockMon) -> None:
    ensure_admin(page, live_dockmon)
    expect(page.locator("main#main")).to_have_attribute("hx-ext", "ws")
    expect(page.locator("body")).to_have_attribute("data-live", "on")

    # 1. Straight through the channel layer, as a Celery task does.
    layer = RedisChannelLayer(hosts=[live_dockmon.redis_url], prefix=f"{live_dockmon.redis_prefix}:asgi")
    pushed = '<section class="card" id="getting-started"><p>Pushed from the server</p></section>'
    send = layer.group_send("dashboard", {"type": "widget.html", "html": pushed})
    # Playwright's sync API owns this thread's event loop; the push runs on its own.
    ThreadPoolExecutor(1).submit(asyncio.run, send).result(timeout=10)
    expect(page.locator("#getting-started")).to_have_text("Pushed from the server")

    # 2. Through the audit trail: a sign-in elsewhere appears in Recent activity without a reload.
    before = page.locator("#recent-events li").count()
    other = browser.new_context()
    sign_in(other.new_page(), live_dockmon)
    expect(page.locator("#recent-events li").first).to_contain_text("Signed in")
    assert page.locator("#recent-events li").count() >= min(before + 1, 8)
    other.close()


def test_the_layout_works_at_phone_width(page: Page, live_dockmon: LiveDockMon) -> None:
    ensure_admin(page, live_dockmon)
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    sidebar = page.locator("nav.sidebar")
    expect(sidebar.get_by_role("link", name="Events")).not_to_be_in_viewport()
    page.click("label.nav-toggle")
    expect(sidebar.get_by_role("link", name="Events")).to_be_in_viewport()
    sidebar.get_by_role("link", name="Events").click()
    expect(page.locator("h1")).to_have_text("Events")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
