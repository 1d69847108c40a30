"""How metric values read on the pages: one place for the table cells, the cards and the pushes."""

from __future__ import annotations

UNITS = ("B", "KiB", "MiB", "GiB", "TiB")


def size(value: float | None) -> str:
    if value is None:
        return "—"
    for unit in UNITS:
        if abs(value) < 1024 or unit == UNITS[-1]:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return "—"  # unreachable: the loop returns at the last unit


def rate(value: float | None) -> str:
    return "—" if value is None else f"{size(value)}/s"


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} %"


def metric_cells(container_pk: int, values: dict | None) -> tuple[str, str]:
    """The CPU and memory cells of a container's table row (also pushed alone on every sweep)."""
    values = values or {}
    cpu = f'<td class="num metric" id="ctr-cpu-{container_pk}">{percent(values.get("cpu"))}</td>'
    memory = size(values.get("mem"))
    if values.get("memp") is not None and values.get("limit"):
        memory += f' <span class="muted">{values["memp"]:.0f} %</span>'
    mem = f'<td class="num metric" id="ctr-mem-{container_pk}">{memory}</td>'
    return cpu, mem
