"""Helpers of the monitors tests (the HTTP server checks talk to is tests.fixtures' `http_server`)."""

from __future__ import annotations

import pytest

from apps.containers.models import Container
from apps.monitors.models import HealthCheck


@pytest.fixture
def container_row(local_host) -> Container:
    """A container row that needs no real container (for pages and services that do not touch Docker)."""
    return Container.objects.create(host=local_host, name="web", docker_id="f" * 64, state="running")


@pytest.fixture
def make_check(container_row):
    def make(url: str, **fields) -> HealthCheck:
        return HealthCheck.objects.create(container=fields.pop("container", container_row), url=url, **fields)

    return make
