from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from django.urls import reverse

from apps.core.models import AppSettings
from apps.core.navigation import NAVIGATION
from apps.users.access import has_capability
from apps.users.capabilities import Capability


def _nav_for(request: HttpRequest) -> list[dict]:
    current = request.path
    items = []
    for item in NAVIGATION:
        if item.capability and not has_capability(request.user, item.capability):
            continue
        url = reverse(item.url_name, args=item.url_args)
        active = current == url if url == "/" else current.startswith(url)
        items.append({"label": item.label, "url": url, "icon": item.icon, "active": active, "key": item.key})
    return items


def shell(request: HttpRequest) -> dict:
    """What the base layout needs on every page: navigation, theme and instance name."""
    user = getattr(request, "user", None)
    signed_in = bool(user and user.is_authenticated)
    return {
        "nav_items": _nav_for(request) if signed_in else [],
        # Body classes such as `can-containers-operate`: controls a role may not use are hidden by CSS,
        # so one rendering of a widget serves every viewer (the server still checks every request).
        "capability_classes": " ".join(
            f"can-{str(c).replace('.', '-').replace('_', '-')}" for c in Capability if has_capability(user, c)
        )
        if signed_in
        else "",
        "theme": user.theme if signed_in else "auto",
        "instance_name": AppSettings.load().instance_name if signed_in else "DockMon",
        "email_configured": settings.EMAIL_CONFIGURED,
    }
