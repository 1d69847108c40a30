"""WebSocket routes; each app's consumers are listed here."""

from django.urls import path

from apps.containers.consumers import LogsConsumer
from apps.core.consumers import LiveConsumer

websocket_urlpatterns = [
    path("ws/live/", LiveConsumer.as_asgi()),
    path("ws/containers/<int:pk>/logs/", LogsConsumer.as_asgi()),
]
