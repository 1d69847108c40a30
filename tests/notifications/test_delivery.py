"""Notifications really arrive at local receivers; failures are retried with back-off, given up after a
day, and never sent twice; secrets stay out of errors and logs."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.notifications import services, tasks
from apps.notifications.models import Channel, Delivery
from apps.notifications.transport import APPRISE_LOGGER, HIDDEN
from tests.notifications.conftest import answer

pytestmark = pytest.mark.django_db

SECRET_PATH = "hook-Secret-Path-7f3a9c"
SECRET_HEADER = "s3cr3t-header-value"


def fresh(obj):
    obj.refresh_from_db()
    return obj


def dockmon_log(caplog) -> str:
    """DockMon's own log lines. (pytest also listens to apprise's logger, which in DockMon does not
    propagate to any handler; see test_apprise_logs_stay_inside.)"""
    return "\n".join(record.getMessage() for record in caplog.records if not record.name.startswith("apprise"))


def test_json_webhook_gets_title_body_and_headers(webhook_channel, receiver):
    delivery = services.notify(
        webhook_channel,
        title="web-1 stopped",
        body="Exit code 1 on local.",
        alert_id=7,
        rule_name="Stopped containers",
        severity="error",
    )
    assert delivery.status == Delivery.Status.PENDING
    assert receiver.requests == []  # nothing goes out before the transaction commits and the task runs

    services.deliver(delivery.pk)

    [request] = receiver.requests
    assert (request.method, request.path) == ("POST", "/hook?source=dockmon")
    assert request.json()["title"] == "web-1 stopped"
    assert request.json()["message"] == "Exit code 1 on local."
    assert request.json()["type"] == "failure"
    assert request.headers["X-Token"] == SECRET_HEADER
    delivery = fresh(delivery)
    assert (delivery.status, delivery.attempts, delivery.error) == (Delivery.Status.SENT, 1, "")
    assert delivery.sent_at is not None
    channel = fresh(webhook_channel)
    assert channel.last_success_at == delivery.sent_at
    assert channel.consecutive_failures == 0


def test_the_message_type_follows_severity_and_a_resolve_is_good_news(webhook_channel, receiver):
    for kind, severity in [("fire", "warning"), ("fire", "info"), ("resolve", "critical")]:
        services.deliver(services.notify(webhook_channel, title=kind, body=severity, kind=kind, severity=severity).pk)
    assert [request.json()["type"] for request in receiver.requests] == ["warning", "info", "success"]


def test_notify_queues_the_task_on_commit(webhook_channel, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        services.notify(webhook_channel, title="t", body="b")
    assert len(callbacks) == 1


def test_ntfy_to_a_local_server(make_channel, receiver):
    channel = make_channel("ntfy", server_url=receiver.url, topic="dockmon-alerts", auth="none", priority="high")
    delivery = services.notify(channel, title="Disk almost full", body="/ is 93 % used on local.")
    services.deliver(delivery.pk)

    [request] = receiver.requests
    # apprise publishes with ntfy's JSON API: a POST to the server's root naming the topic.
    assert (request.method, request.path) == ("POST", "/")
    assert request.json()["topic"] == "dockmon-alerts"
    assert request.json()["title"] == "Disk almost full"
    assert request.json()["message"] == "/ is 93 % used on local."
    assert request.headers["X-Priority"] == "high"
    assert fresh(delivery).status == Delivery.Status.SENT


def test_email_through_the_channels_own_smtp_server(make_channel, smtp_server):
    channel = make_channel(
        "email",
        smtp_host="127.0.0.1",
        smtp_port=smtp_server.port,
        security="none",
        from_address="dockmon@example.org",
        to_addresses="ops@example.org, boss@example.org",
    )
    delivery = services.notify(channel, title="web-1 died (exit 137)", body="Last lines:\nKilled")
    services.deliver(delivery.pk)

    # apprise sends one message per recipient.
    assert sorted(message["To"] for message in smtp_server.messages) == ["boss@example.org", "ops@example.org"]
    for message in smtp_server.messages:
        assert "dockmon@example.org" in message["From"]
        assert message["Subject"] == "web-1 died (exit 137)"
        assert "Last lines:" in message.get_body(("plain", "html")).get_content()
    assert fresh(delivery).status == Delivery.Status.SENT


def test_send_test_reports_a_refused_smtp_login(make_channel, refusing_smtp, caplog):
    port, authenticator = refusing_smtp
    channel = make_channel(
        "email",
        smtp_host="127.0.0.1",
        smtp_port=port,
        security="none",
        username="mailer",
        password="Very-Secret-pw-42",
        from_address="dockmon@example.org",
        to_addresses="ops@example.org",
    )

    sent, error = services.send_test(channel)

    assert sent is False
    assert set(authenticator.attempts) == {"mailer"}  # DockMon really tried to sign in
    assert error == (
        'Connection error while submitting email to "127.0.0.1"; '
        "Socket Exception: (535, b'5.7.8 Authentication credentials invalid')"
    )
    test_delivery = Delivery.objects.get(kind="test")
    assert (test_delivery.status, test_delivery.error) == (Delivery.Status.FAILED, error)
    assert fresh(channel).last_error == error
    assert "Very-Secret-pw-42" not in dockmon_log(caplog)


def test_send_test_success(webhook_channel, receiver):
    assert services.send_test(webhook_channel) == (True, "")
    assert receiver.requests[0].json()["title"] == "DockMon test notification"
    assert Delivery.objects.get(kind="test").status == Delivery.Status.SENT


def test_failing_receiver_is_retried_with_back_off_then_recovers(webhook_channel, receiver):
    receiver.default = answer(500)
    delivery = services.notify(webhook_channel, title="t", body="b")
    start = timezone.now()

    services.deliver(delivery.pk, now=start)
    delivery = fresh(delivery)
    assert delivery.status == Delivery.Status.RETRYING
    assert delivery.attempts == 1
    assert delivery.next_attempt_at == start + timedelta(seconds=services.FIRST_RETRY_SECONDS)
    assert delivery.error == (
        "Failed to send JSON POST notification: Internal server error., error=500.; "
        """Response Details: b'{"error": "receiver is down"}'"""
    )

    services.deliver(delivery.pk, now=start + timedelta(seconds=3))  # not due yet: nothing happens
    assert len(receiver.requests) == 1

    second = start + timedelta(seconds=5)
    services.deliver(delivery.pk, now=second)
    delivery = fresh(delivery)
    assert (delivery.status, delivery.attempts) == (Delivery.Status.RETRYING, 2)
    assert delivery.next_attempt_at == second + timedelta(seconds=10)
    assert not fresh(webhook_channel).is_failing

    services.deliver(delivery.pk, now=second + timedelta(seconds=10))
    channel = fresh(webhook_channel)
    assert channel.consecutive_failures == 3
    assert channel.is_failing
    assert channel.last_error == fresh(delivery).error
    assert fresh(delivery).next_attempt_at == second + timedelta(seconds=30)

    receiver.default = answer()
    services.deliver(delivery.pk, now=second + timedelta(seconds=30))
    delivery = fresh(delivery)
    assert (delivery.status, delivery.attempts, delivery.error) == (Delivery.Status.SENT, 4, "")
    channel = fresh(webhook_channel)
    assert (channel.consecutive_failures, channel.is_failing) == (0, False)
    assert len(receiver.requests) == 4


def test_a_webhook_that_times_out_is_retried_with_the_reason(make_channel, receiver):
    receiver.default = answer(delay=1.5)
    # The "any apprise URL" kind takes apprise's own options, here a short read timeout.
    channel = make_channel("apprise", url=f"json://127.0.0.1:{receiver.port}/slow?rto=0.3")
    delivery = services.notify(channel, title="t", body="b")

    services.deliver(delivery.pk)

    delivery = fresh(delivery)
    assert delivery.status == Delivery.Status.RETRYING
    assert delivery.error.startswith("A Connection error occurred sending JSON notification to 127.0.0.1.")
    assert "Read timed out. (read timeout=0.3)" in delivery.error


def test_back_off_doubles_up_to_an_hour():
    delays = [services.retry_delay(attempt).total_seconds() for attempt in range(1, 13)]
    assert delays[:5] == [5, 10, 20, 40, 80]
    assert delays[-1] == services.MAX_RETRY_SECONDS == 3600
    assert max(delays) == 3600


def test_gives_up_after_a_day(webhook_channel, receiver):
    receiver.default = answer(503)
    delivery = services.notify(webhook_channel, title="t", body="b")
    Delivery.objects.filter(pk=delivery.pk).update(created_at=timezone.now() - services.GIVE_UP_AFTER)

    services.deliver(delivery.pk)

    delivery = fresh(delivery)
    assert delivery.status == Delivery.Status.FAILED
    assert delivery.next_attempt_at is None
    assert "error=503" in delivery.error


def test_deferred_then_released_and_sent(webhook_channel, receiver, django_capture_on_commit_callbacks):
    delivery = services.notify(
        webhook_channel, title="quiet", body="b", defer_until=timezone.now() + timedelta(hours=8)
    )
    assert delivery.status == Delivery.Status.DEFERRED
    services.deliver(delivery.pk)
    assert receiver.requests == []

    with django_capture_on_commit_callbacks() as callbacks:
        services.release(delivery)
    assert len(callbacks) == 1
    assert fresh(delivery).status == Delivery.Status.PENDING
    services.deliver(delivery.pk)

    assert [r.json()["title"] for r in receiver.requests] == ["quiet"]
    assert fresh(delivery).status == Delivery.Status.SENT


def test_cancelled_deferred_delivery_is_never_sent(webhook_channel, receiver):
    delivery = services.notify(
        webhook_channel, title="quiet", body="b", defer_until=timezone.now() + timedelta(hours=1)
    )
    services.cancel(delivery, "The alert resolved during quiet hours.")
    services.release(delivery)
    services.deliver(delivery.pk)

    assert receiver.requests == []
    delivery = fresh(delivery)
    assert (delivery.status, delivery.error) == (Delivery.Status.CANCELLED, "The alert resolved during quiet hours.")


def test_disabled_channel_sends_nothing(make_channel, receiver):
    channel = make_channel("webhook", url=f"{receiver.url}/x", enabled=False)
    delivery = services.notify(channel, title="t", body="b")
    services.deliver(delivery.pk)
    assert receiver.requests == []
    assert (delivery.status, delivery.error) == (Delivery.Status.CANCELLED, "The channel is disabled.")


def test_the_task_run_twice_sends_once(webhook_channel, receiver):
    delivery = services.notify(webhook_channel, title="once", body="b")
    assert tasks.deliver(delivery.pk) == "sent"
    assert tasks.deliver(delivery.pk) == "sent"
    assert len(receiver.requests) == 1


def test_two_workers_holding_the_same_row_claim_it_once(webhook_channel):
    delivery = services.notify(webhook_channel, title="once", body="b")
    seen_by_one, seen_by_other = Delivery.objects.get(pk=delivery.pk), Delivery.objects.get(pk=delivery.pk)
    now = timezone.now()
    assert services._claim(seen_by_one, now) is True
    assert services._claim(seen_by_other, now) is False


def test_sweep_finds_due_retries_and_stuck_pending(webhook_channel):
    now = timezone.now()
    fresh_pending = services.notify(webhook_channel, title="new", body="b")
    stuck = services.notify(webhook_channel, title="stuck", body="b")
    due_retry = services.notify(webhook_channel, title="due", body="b")
    later_retry = services.notify(webhook_channel, title="later", body="b")
    services.notify(webhook_channel, title="deferred", body="b", defer_until=now + timedelta(hours=1))
    Delivery.objects.filter(pk=stuck.pk).update(next_attempt_at=now - services.STUCK_AFTER)
    Delivery.objects.filter(pk=due_retry.pk).update(status="retrying", next_attempt_at=now - timedelta(seconds=1))
    Delivery.objects.filter(pk=later_retry.pk).update(status="retrying", next_attempt_at=now + timedelta(seconds=9))

    due = services.due_deliveries(now)

    assert sorted(due) == sorted([stuck.pk, due_retry.pk])
    assert fresh_pending.pk not in due


def test_secrets_stay_out_of_errors_and_logs(make_channel, caplog):
    caplog.set_level(logging.DEBUG)
    closed_port = 9  # discard: nothing listens on 127.0.0.1:9
    channel = make_channel(
        "webhook",
        url=f"http://127.0.0.1:{closed_port}/{SECRET_PATH}?key=Query-Secret-991",
        headers=f"Authorization: Bearer {SECRET_HEADER}",
    )
    delivery = services.notify(channel, title="t", body="b")

    services.deliver(delivery.pk)
    sent, error = services.send_test(channel)

    assert sent is False
    delivery = fresh(delivery)
    assert delivery.status == Delivery.Status.RETRYING
    assert "Connection error" in delivery.error
    texts = [delivery.error, error, fresh(channel).last_error, dockmon_log(caplog)]
    for secret in (SECRET_PATH, SECRET_HEADER, "Query-Secret-991"):
        assert not any(secret in text for text in texts), secret
    assert "Notification" in dockmon_log(caplog)  # the failure was logged, redacted


def test_redaction_covers_encoded_forms_and_url_parts():
    from apps.notifications.transport import redact

    secrets = ["https://discord.com/api/webhooks/123456789/Tok_abcdefgh", "p@ss word"]
    text = "url: /api/webhooks/123456789/Tok_abcdefgh failed; login p%40ss%20word; host discord.com"
    assert redact(text, secrets) == f"url: /api/{HIDDEN}/{HIDDEN}/{HIDDEN} failed; login {HIDDEN}; host discord.com"


def test_apprise_logs_stay_inside():
    # apprise's debug lines can quote webhook paths: in DockMon they reach no log handler.
    assert APPRISE_LOGGER.propagate is False


def test_deleting_a_channel_cancels_what_it_still_had_to_send(webhook_channel, receiver):
    waiting = services.notify(webhook_channel, title="t", body="b", defer_until=timezone.now() + timedelta(hours=1))
    services.channel_delete(actor=None, channel=webhook_channel)
    waiting = fresh(waiting)
    assert (waiting.status, waiting.error, waiting.channel) == (
        Delivery.Status.CANCELLED,
        "The channel was deleted.",
        None,
    )
    assert waiting.channel_name == "hook"
    assert not Channel.objects.exists()
