import time

import pytest
from django.conf import settings
from django.test import Client

from apps.core.beat import HeartbeatScheduler, beat_tick_key
from dockmon.celery import app as celery_app
from tests.fixtures import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)

DEAD_REDIS = "redis://127.0.0.1:1/0"  # nothing listens on port 1: refused at once


@pytest.fixture
def beat_ticked(redis_client):
    redis_client.set(beat_tick_key(), time.time())
    yield
    redis_client.delete(beat_tick_key())


def test_healthz_is_green_when_every_part_answers(client, celery_worker, beat_ticked):
    response = client.get("/healthz")
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ok" and body["failing"] == []
    assert set(body["checks"]) == {"database", "redis", "worker", "beat"}


def test_healthz_names_a_missing_worker(client, beat_ticked):
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["failing"] == ["worker"]
    assert response.json()["checks"]["worker"]["detail"] == "no Celery worker answered a ping"


def test_healthz_names_a_stale_beat(client, celery_worker, redis_client):
    redis_client.set(beat_tick_key(), time.time() - settings.HEALTH_BEAT_MAX_AGE.total_seconds() - 5)
    body = client.get("/healthz").json()
    assert body["failing"] == ["beat"]
    assert "last beat tick" in body["checks"]["beat"]["detail"]
    redis_client.delete(beat_tick_key())


def test_the_scheduler_stamps_each_tick(redis_client):
    redis_client.delete(beat_tick_key())
    scheduler = HeartbeatScheduler(app=celery_app, lazy=True)
    scheduler.setup_schedule()
    scheduler.tick()
    assert time.time() - float(redis_client.get(beat_tick_key())) < 5
    redis_client.delete(beat_tick_key())


def test_with_redis_down_healthz_says_so_and_pages_still_render(client_for, admin, user_with_password, settings):
    settings.REDIS_URL = DEAD_REDIS
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": DEAD_REDIS}}
    settings.CHANNEL_LAYERS = {"default": {**settings.CHANNEL_LAYERS["default"], "CONFIG": {"hosts": [DEAD_REDIS]}}}
    celery_app.conf.broker_url = DEAD_REDIS
    try:
        client = client_for(admin)
        body = client.get("/healthz").json()
        assert {"redis", "worker", "beat"} <= set(body["failing"])
        assert "database" not in body["failing"]
        assert client.get("/").status_code == 200
        # Writing still works: the audit event is saved even though its live push cannot be sent.
        response = client.post("/settings/", {"instance_name": "Still here", "event_retention_days": 90})
        assert response.status_code == 302
        status = client.get("/dashboard/system-status/").content.decode()
        assert 'data-check="redis"' in status and "no answer at REDIS_URL" in status
        # Signing in still works: the rate limiter's cache fails open instead of failing the page.
        user_with_password("pat")
        assert Client().post("/accounts/login/", {"login": "pat", "password": PASSWORD}).status_code == 302
    finally:
        celery_app.conf.broker_url = settings.CELERY_BROKER_URL
