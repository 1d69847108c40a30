"""The main navigation. Sections whose app has not landed yet point to an honest
"not available yet" page; each app's issue swaps in its own URL name."""

from __future__ import annotations

from dataclasses import dataclass

from apps.users.capabilities import Capability


@dataclass(frozen=True)
class NavItem:
    label: str
    url_name: str
    key: str
    icon: str
    url_args: tuple = ()
    capability: Capability | None = None


NAVIGATION = [
    NavItem("Dashboard", "core:dashboard", "dashboard", "grid"),
    NavItem("Hosts", "hosts:list", "hosts", "server"),
    NavItem("Containers", "containers:list", "containers", "box"),
    NavItem("Alerts", "alerts:list", "alerts", "bell"),
    NavItem("Deployments", "core:upcoming", "deployments", "layers", ("deployments",)),
    NavItem("Events", "core:events", "events", "list", capability=Capability.AUDIT_VIEW),
    NavItem("Settings", "core:settings", "settings", "gear", capability=Capability.SETTINGS_MANAGE),
]

# What each not-yet-built section will do, shown on its page so nobody hunts for a button.
UPCOMING_SECTIONS = {
    "deployments": (
        "Deployments",
        "Deploy from docker run-style forms or Compose files, with reusable templates.",
    ),
}
