import pytest

from apps.alerts.forms import AlertRuleForm, fields_for
from apps.alerts.models import AlertRule
from apps.hosts.models import Host
from apps.notifications.models import Channel
from apps.tags.models import Tag

pytestmark = pytest.mark.django_db
Kind = AlertRule.Kind

BASE = {"name": "r", "severity": "warning", "cooldown_seconds": "300", "enabled": "on", "notify_on_resolve": "on"}


def form(**data) -> AlertRuleForm:
    return AlertRuleForm(data=BASE | {"kind": Kind.CONTAINER_STOPPED} | data)


def errors(**data) -> dict[str, list[str]]:
    bound = form(**data)
    assert not bound.is_valid()
    return bound.errors


def test_a_container_rule_saves_its_scope():
    tag = Tag.objects.create(name="critical")
    host = Host.objects.create(name="prod", kind=Host.Kind.SOCKET, url="unix:///a.sock")
    bound = form(
        name_pattern="^web-\\d+$",
        name_match="regex",
        labels="app=web\nbackup",
        exclude_names="web-test",
        container_tags=[tag.pk],
        hosts=[host.pk],
        desired_state="should_run",
        include_intended_stops="on",
        quiet_hours="Mon-Fri 22:00-07:00",
        title_template="{container} died ({exit_code})",
    )
    assert bound.is_valid(), bound.errors
    rule = bound.save()
    assert rule.include_intended_stops and rule.quiet_hours == "Mon-Fri 22:00-07:00"
    assert list(rule.container_tags.all()) == [tag] and list(rule.hosts.all()) == [host]


def test_fields_depend_on_the_kind():
    assert "threshold" not in fields_for(Kind.CONTAINER_STOPPED)
    assert "include_intended_stops" in fields_for(Kind.CONTAINER_STOPPED)
    assert {"threshold", "clear_threshold", "duration_seconds"} <= set(fields_for(Kind.HOST_DISK))
    assert "name_pattern" not in fields_for(Kind.HOST_CPU) and "hosts" in fields_for(Kind.HOST_CPU)
    assert {"occurrences", "window_minutes"} <= set(fields_for(Kind.RESTART_LOOP))
    assert "threshold" not in AlertRuleForm(initial={"kind": Kind.RESTART_LOOP}).fields
    # A new CPU rule starts with sensible values.
    assert AlertRuleForm(initial={"kind": Kind.CONTAINER_CPU}).initial["threshold"] == 90


def test_bad_regex_gets_the_regex_error():
    problem = errors(name_pattern="web-(", name_match="regex")["name_pattern"][0]
    assert problem.startswith("The regular expression “web-(” does not compile: missing ), unterminated subpattern")


def test_a_glob_is_not_checked_as_a_regex():
    assert form(name_pattern="web-(", name_match="glob").is_valid()


def test_label_lines_must_be_well_formed():
    assert "Label line 2 “=web” is not “key=value” or “key”" in errors(labels="app=web\n=web")["labels"][0]


def test_threshold_is_required_and_in_range():
    cpu = {"kind": Kind.HOST_CPU, "duration_seconds": "60"}
    assert errors(**cpu)["threshold"] == ["Enter the threshold that makes this rule fire."]
    assert errors(**cpu, threshold="0")["threshold"] == ["The threshold must be above 0 and at most 100 %."]
    assert errors(**cpu, threshold="101")["threshold"] == ["The threshold must be above 0 and at most 100 %."]
    # A container's CPU is a percentage of one CPU, so it may pass 100.
    assert form(**cpu | {"kind": Kind.CONTAINER_CPU}, threshold="250").is_valid()


def test_clear_threshold_below_threshold_with_a_default():
    disk = {"kind": Kind.HOST_DISK, "duration_seconds": "0", "threshold": "90"}
    assert "must be below the threshold (90 %)" in errors(**disk, clear_threshold="90")["clear_threshold"][0]
    bound = form(**disk)
    assert bound.is_valid(), bound.errors
    assert bound.save().clear_threshold == 85
    low = form(**disk | {"threshold": "6", "name": "low"})
    assert low.is_valid() and low.save().clear_threshold == 3


def test_duration_and_cooldown_limits():
    cpu = {"kind": Kind.HOST_CPU, "threshold": "90"}
    assert errors(**cpu, duration_seconds="86401")["duration_seconds"] == [
        "The duration must be between 0 and 86400 seconds (a day)."
    ]
    assert errors(cooldown_seconds="90000")["cooldown_seconds"] == [
        "The cooldown must be between 0 and 86400 seconds (a day)."
    ]


def test_n_times_within_a_window_for_thresholds():
    cpu = {"kind": Kind.HOST_MEMORY, "threshold": "90"}
    assert errors(**cpu, duration_seconds="0", occurrences="3")["window_minutes"] == [
        "Fill both: how many times, and within how many minutes."
    ]
    assert (
        "Choose one" in errors(**cpu, duration_seconds="60", occurrences="3", window_minutes="5")["duration_seconds"][0]
    )
    bound = form(**cpu, duration_seconds="0", occurrences="3", window_minutes="5")
    assert bound.is_valid(), bound.errors
    rule = bound.save()
    assert (rule.occurrences, rule.window_seconds) == (3, 300)


def test_restart_loop_pair():
    loop = {"kind": Kind.RESTART_LOOP}
    problems = errors(**loop)
    assert problems["occurrences"] == ["Say how many restarts make a loop (2 to 100)."]
    assert problems["window_minutes"] == ["Say within how many minutes they count (1 to 1440)."]
    assert errors(**loop, occurrences="1", window_minutes="10")["occurrences"] == [
        "Enter a number of times from 2 to 100."
    ]
    assert errors(**loop, occurrences="101", window_minutes="10")["occurrences"] == [
        "Enter a number of times from 2 to 100."
    ]
    assert errors(**loop, occurrences="5", window_minutes="1441")["window_minutes"] == [
        "The window must be from 1 to 1440 minutes (a day)."
    ]
    rule = form(**loop, occurrences="5", window_minutes="10").save()
    assert (rule.occurrences, rule.window_seconds, rule.threshold) == (5, 600, None)


def test_bad_quiet_hours_and_templates():
    assert (
        "Quiet hours line 1 “weekdays 22-07” is not understood"
        in errors(quiet_hours="weekdays 22-07")["quiet_hours"][0]
    )
    assert errors(title_template="{container} {colour}")["title_template"][0].startswith("Unknown variable {colour}.")
    assert "is not a plain variable name" in errors(body_template="{container.__class__}")["body_template"][0]


def test_changing_the_kind_drops_what_the_old_kind_used():
    tag = Tag.objects.create(name="web")
    rule = form(**{"kind": Kind.CONTAINER_CPU, "threshold": "90", "duration_seconds": "60"}, container_tags=[tag.pk])
    rule = rule.save()
    changed = AlertRuleForm(instance=rule, data=BASE | {"kind": Kind.HOST_OFFLINE})
    assert changed.is_valid(), changed.errors
    rule = changed.save()
    assert (rule.threshold, rule.clear_threshold, rule.duration_seconds) == (None, None, 0)
    assert not rule.container_tags.exists()


def test_channels_show_disabled_and_failing_ones():
    Channel.objects.create(name="ops", kind="json", config="{}")
    Channel.objects.create(name="old", kind="json", config="{}", enabled=False)
    Channel.objects.create(name="pager", kind="json", config="{}", consecutive_failures=5, last_error="HTTP 500")
    labels = [label for _, label in AlertRuleForm().fields["channels"].choices]
    assert labels == ["old (disabled: nothing is sent)", "ops", "pager (failing: HTTP 500)"]


def test_redrawn_form_keeps_what_was_typed_for_the_new_kind():
    host = Host.objects.create(name="prod", kind=Host.Kind.SOCKET, url="unix:///a.sock")
    typed = {"name": "disk", "kind": Kind.HOST_DISK, "hosts": [str(host.pk)], "severity": "error"}
    from django.http import QueryDict

    data = QueryDict(mutable=True)
    for key, value in typed.items():
        data.setlist(key, value if isinstance(value, list) else [value])
    redrawn = AlertRuleForm.redrawn(data)
    assert not redrawn.is_bound
    assert redrawn["name"].value() == "disk" and redrawn["severity"].value() == "error"
    assert redrawn["hosts"].value() == [str(host.pk)]
    assert "threshold" in redrawn.fields and "name_pattern" not in redrawn.fields
    assert redrawn["enabled"].value() is False  # an unticked box stays unticked
