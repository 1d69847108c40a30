"""The live WebSocket: `/ws/live/` forwards pushed widget HTML to signed-in users."""

from __future__ import annotations

from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from apps.core.live import groups_for

# Close code for "not signed in"; the page's ws extension will keep retrying, which
# is harmless, and the next page load sends the user to the sign-in page.
CLOSE_UNAUTHENTICATED = 4401


class LiveConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        watch = parse_qs(self.scope.get("query_string", b"").decode()).get("watch", [""])[0].split(",")
        self.groups_joined = await database_sync_to_async(groups_for)(user, [w for w in watch if w])
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        for group in getattr(self, "groups_joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        # The page only listens; htmx may send form data if a form sits inside the
        # ws-connect element, which we ignore.
        return

    async def widget_html(self, event: dict) -> None:
        await self.send(text_data=event["html"])
