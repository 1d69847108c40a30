from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import Browser, Page, sync_playwright
from playwright.sync_api import Error as PlaywrightError

from tests.live import LiveDockMon, ScratchPostgres

CHROMIUM = os.environ.get("DOCKMON_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture(scope="session")
def live_dockmon(tmp_path_factory) -> Iterator[LiveDockMon]:
    """DockMon as `make run` starts it, on the same kind of database as the rest of the run."""
    database_url = os.environ.get("DATABASE_URL")
    data_dir = tmp_path_factory.mktemp("live-data")
    if database_url:
        with ScratchPostgres(database_url) as scratch_url:
            yield from _run(LiveDockMon(data_dir, scratch_url, settings.REDIS_URL))
    else:
        yield from _run(LiveDockMon(data_dir, None, settings.REDIS_URL))


def _run(live: LiveDockMon) -> Iterator[LiveDockMon]:
    try:
        live.start()
        yield live
    finally:
        live.stop()
        live.forget()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: install Debian's chromium (.ci/run does).")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser, request) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    yield page
    ARTIFACTS.mkdir(exist_ok=True)
    try:
        page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True, timeout=10000)
    except PlaywrightError as error:  # a picture for debugging; the test's outcome does not depend on it
        print(f"No screenshot of {request.node.name}: {error}")
    context.close()
