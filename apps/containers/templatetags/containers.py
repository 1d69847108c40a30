from __future__ import annotations

from django import template

from apps.containers.models import Container
from apps.hosts.models import Host

register = template.Library()

UNREACHABLE = (Host.Status.OFFLINE, Host.Status.ERROR)
WILDCARD_ADDRESSES = {"", "0.0.0.0", "::"}  # noqa: S104 - Docker's "all interfaces", not a bind


@register.filter
def shown_state(container: Container) -> str:
    """What to show: Docker's last known state, or "unknown" while its host cannot be reached."""
    if not container.is_removed and container.host.status in UNREACHABLE:
        return "unknown"
    return container.state


@register.filter
def published_ports(container: Container) -> list[dict]:
    """Published ports with a link for TCP ones: [{"label": "8080→80/tcp", "url": "http://…"}]."""
    ports = []
    seen = set()
    for port in container.ports:
        if not port.get("host_port"):
            continue
        address = port["host_ip"] if port["host_ip"] not in WILDCARD_ADDRESSES else container.host.published_address
        key = (address, port["host_port"], port["protocol"])
        if key in seen:  # Docker lists IPv4 and IPv6 bindings separately
            continue
        seen.add(key)
        label = f"{port['host_port']}→{port['container_port']}/{port['protocol']}"
        url = f"http://{address}:{port['host_port']}/" if port["protocol"] == "tcp" and address else ""
        ports.append({"label": label, "url": url})
    return ports


@register.filter
def image_parts(image: str) -> tuple[str, str]:
    """("nginx", "1.27") from "nginx:1.27"; digests and registry ports stay with the name."""
    name, _, tag = image.rpartition(":")
    if not name or "/" in tag:
        return image, "latest" if "@" not in image else ""
    return name, tag
