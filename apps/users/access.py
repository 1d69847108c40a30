"""The one place where DockMon decides who may do what.

Views use `capability_required`, templates use the `can` filter, consumers and
services call `has_capability`; all three end here.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

from apps.users.capabilities import Capability


def has_capability(user: Any, capability: Capability | str) -> bool:
    """True when an active, signed-in user holds the capability through their role."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    return user.has_perm(f"users.{Capability(capability)}")


def capability_required(capability: Capability) -> Callable:
    """View decorator: 403 (the friendly page, or a toast for htmx) without the capability."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not has_capability(request.user, capability):
                raise PermissionDenied(f"You need the “{capability}” permission for this.")
            return view(request, *args, **kwargs)

        wrapper.required_capability = capability
        return wrapper

    return decorator
