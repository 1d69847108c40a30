import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib import messages
from django.http import HttpResponse
from django.test import Client, RequestFactory

from apps.core.errors import server_error
from apps.core.middleware import HtmxMessagesMiddleware

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]


def test_the_empty_dashboard_guides_to_adding_a_host(client_for, admin):
    page = client_for(admin).get("/").content.decode()
    assert "DockMon has no Docker hosts to watch yet" in page
    assert 'href="/hosts/add/"' in page and "Add a host" in page
    assert 'ws-connect="/ws/live/?watch=dashboard,events,hosts,alert-count"' in page and 'hx-ext="ws"' in page


def test_the_page_sends_csrf_through_htmx_headers(client_for, viewer):
    page = client_for(viewer).get("/").content.decode()
    assert 'hx-headers=\'{"X-CSRFToken": "' in page


def test_htmx_and_its_websocket_extension_are_served_locally(client_for, viewer):
    page = client_for(viewer).get("/").content.decode()
    assert "/static/django_htmx/htmx-2.min.js" in page and "/static/django_htmx/ext/hx-ws-2.min.js" in page
    assert "https://" not in page.split("</head>")[0]


def test_the_theme_is_saved_per_user(client_for, viewer):
    client = client_for(viewer)
    response = client.post("/account/theme/", {"theme": "dark"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 204
    assert json.loads(response["HX-Trigger"]) == {"dockmon:theme": "dark"}
    viewer.refresh_from_db()
    assert viewer.theme == "dark"
    assert '<html lang="en" data-theme="dark">' in client.get("/").content.decode()
    assert client.post("/account/theme/", {"theme": "purple"}).status_code == 400


def test_sections_not_built_yet_say_so(client_for, viewer):
    page = client_for(viewer).get("/soon/deployments/").content.decode()
    assert "not available in this version yet" in page
    assert client_for(viewer).get("/soon/nothing/").status_code == 404


def test_a_missing_page_is_friendly(client_for, viewer):
    response = client_for(viewer).get("/no/such/page/")
    assert response.status_code == 404 and "There is nothing at this address." in response.content.decode()
    htmx = client_for(viewer).get("/no/such/page/", HTTP_HX_REQUEST="true")
    assert htmx["Content-Type"].startswith("text/plain")


def test_a_post_without_csrf_token_is_refused_with_a_clear_message(viewer):
    client = Client(enforce_csrf_checks=True)
    client.force_login(viewer)
    response = client.post("/account/theme/", {"theme": "dark"})
    assert response.status_code == 403
    assert "The form was stale or your session expired" in response.content.decode()
    viewer.refresh_from_db()
    assert viewer.theme == "auto"


def test_server_errors_render_without_context_or_database():
    response = server_error(RequestFactory().get("/"))
    assert response.status_code == 500 and "Something went wrong" in response.content.decode()


def test_messages_reach_htmx_requests_as_toasts(viewer):
    request = RequestFactory().get("/", HTTP_HX_REQUEST="true")
    request.user = viewer
    request.session = {}
    from django.contrib.messages.storage.fallback import FallbackStorage
    from django_htmx.middleware import HtmxDetails

    request._messages = FallbackStorage(request)
    request.htmx = HtmxDetails(request)

    def view(req):
        messages.success(req, "Saved.")
        return HttpResponse("<p>fragment</p>")

    body = HtmxMessagesMiddleware(view)(request).content.decode()
    assert body.startswith("<p>fragment</p>")
    assert 'hx-swap-oob="beforeend:#toasts"' in body and "Saved." in body


def test_production_settings_pass_the_deploy_check(tmp_path):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "dockmon.settings",
        "DEBUG": "false",
        "DOCKMON_HTTPS": "true",
        "DOCKMON_DATA_DIR": str(tmp_path),
        "ALLOWED_HOSTS": "dockmon.example.com",
        "DOCKMON_EXTERNAL_URL": "https://dockmon.example.com",
    }
    env.pop("DATABASE_URL", None)
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
