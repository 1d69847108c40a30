"""Fixtures of the metrics tests."""

from __future__ import annotations

import pytest

from apps.containers.inventory import sync_host
from apps.hosts.engines import engine_for


def sync_inventory(host):
    with engine_for(host) as engine:
        sync_host(host, engine)


@pytest.fixture
def online_host(local_host):
    sync_inventory(local_host)
    local_host.status = "online"
    local_host.save()
    return local_host
