"""The live WebSocket through the real ASGI router, auth stack and Redis channel layer."""

import asyncio
import re

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from apps.core.audit import record
from apps.core.live import push_html, push_widget
from dockmon.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)


def socket_for(
    cookie: bytes | None, origin: bytes = b"http://127.0.0.1", watch: str = "dashboard,events"
) -> WebsocketCommunicator:
    headers = [(b"origin", origin), (b"host", b"127.0.0.1")]
    if cookie is not None:
        headers.append((b"cookie", cookie))
    return WebsocketCommunicator(application, f"/ws/live/?watch={watch}", headers=headers)


async def test_anonymous_sockets_are_rejected():
    socket = socket_for(None)
    connected, _ = await socket.connect()
    assert not connected


async def test_a_foreign_origin_is_rejected(admin_cookie):
    connected, _ = await socket_for(admin_cookie, origin=b"http://evil.example").connect()
    assert not connected


async def test_a_pushed_widget_arrives_verbatim(admin_cookie):
    socket = socket_for(admin_cookie)
    connected, _ = await socket.connect()
    assert connected
    html = '<div id="getting-started">pushed from the server</div>'
    await _push(push_html, "dashboard", html)
    assert await socket.receive_from(timeout=5) == html
    await socket.disconnect()


async def test_groups_follow_capabilities(admin_cookie, viewer_cookie):
    admin_socket, viewer_socket = socket_for(admin_cookie), socket_for(viewer_cookie)
    assert (await admin_socket.connect())[0] and (await viewer_socket.connect())[0]
    await _push(push_widget, "events", "core/widgets/recent_events.html", {"events": []})
    assert 'id="recent-events"' in await admin_socket.receive_from(timeout=5)
    assert await viewer_socket.receive_nothing(timeout=0.5)
    await admin_socket.disconnect()
    await viewer_socket.disconnect()


async def test_a_new_audit_event_updates_the_recent_activity_widget(admin_cookie):
    socket = socket_for(admin_cookie)
    assert (await socket.connect())[0]
    await _push(record, None, "hosts.offline", message="db-1 stopped answering")
    received = await socket.receive_from(timeout=5)
    assert re.match(r'\s*<section class="[^"]*" id="recent-events">', received)
    assert "Host went offline" in received
    await socket.disconnect()


async def _push(function, *args, **kwargs):
    """Call a sync server-side function the way a view or Celery task would."""
    await sync_to_async(function, thread_sensitive=False)(*args, **kwargs)


async def test_an_idle_socket_stays_open_and_still_receives(admin_cookie):
    # redis-py's default 5 s read timeout once closed every WebSocket idle for 5 s.
    socket = socket_for(admin_cookie)
    assert (await socket.connect())[0]
    await asyncio.sleep(6.5)
    await _push(push_html, "dashboard", '<div id="getting-started">still here</div>')
    assert await socket.receive_from(timeout=5) == '<div id="getting-started">still here</div>'
    await socket.disconnect()


async def test_a_page_without_live_widgets_watches_only_the_alert_count(admin_cookie, client_for, admin):
    page = await sync_to_async(lambda: client_for(admin).get("/settings/").content.decode())()
    watch = re.search(r'ws-connect="/ws/live/\?watch=([^"]*)"', page).group(1)
    assert watch == ",alert-count"  # the navigation's badge is on every page
    socket = socket_for(admin_cookie, watch=watch)
    assert (await socket.connect())[0]  # still connected, for messages to this user
    await _push(push_html, "dashboard", '<div id="getting-started">not for this page</div>')
    assert await socket.receive_nothing(timeout=1)
    await socket.disconnect()
