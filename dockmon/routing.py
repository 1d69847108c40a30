"""WebSocket routes. Browser sockets sign in with the session cookie and must come from our own origin;
the agent's socket carries no cookie and no Origin, and authenticates with its first message instead."""

from django.urls import path, re_path

from apps.agents.consumers import AgentConsumer
from apps.containers.consumers import LogsConsumer
from apps.core.consumers import LiveConsumer

browser_websocket_urlpatterns = [
    path("ws/live/", LiveConsumer.as_asgi()),
    path("ws/containers/<int:pk>/logs/", LogsConsumer.as_asgi()),
]

agent_websocket_urlpatterns = [
    re_path(r"^ws/agent/$", AgentConsumer.as_asgi()),
]
