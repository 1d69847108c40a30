from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.html import format_html_join

from apps.alerts import messages, quiet, scope
from apps.alerts.models import CLEAR_MARGIN, AlertRule, default_clear_threshold
from apps.notifications.models import Channel

Kind = AlertRule.Kind

THRESHOLD_KINDS = frozenset(
    {Kind.CONTAINER_CPU, Kind.CONTAINER_MEMORY, Kind.HOST_CPU, Kind.HOST_MEMORY, Kind.HOST_DISK}
)
# Container CPU is a percentage of one CPU, like `docker stats`: a busy container on many cores passes 100.
MAX_THRESHOLD = {Kind.CONTAINER_CPU: 10_000.0}

MAX_SECONDS = 86_400
OCCURRENCES_RANGE = (2, 100)
WINDOW_MINUTES_RANGE = (1, 1440)

COMMON_FIELDS = ("name", "kind", "enabled", "severity", "description")
NOTIFY_FIELDS = ("channels", "cooldown_seconds", "notify_on_resolve", "quiet_hours", "title_template", "body_template")
HOST_SCOPE = ("hosts", "host_tags")
CONTAINER_SCOPE = (
    *HOST_SCOPE,
    "container_tags",
    "name_pattern",
    "name_match",
    "labels",
    "exclude_names",
    "desired_state",
)
THRESHOLD_CONDITIONS = ("threshold", "clear_threshold", "duration_seconds", "occurrences", "window_minutes")
CONDITIONS: dict[str, tuple[str, ...]] = {
    Kind.CONTAINER_STOPPED: ("include_intended_stops",),
    Kind.RESTART_LOOP: ("occurrences", "window_minutes"),
    **dict.fromkeys(THRESHOLD_KINDS, THRESHOLD_CONDITIONS),
}
# What a new rule of each kind starts with.
KIND_DEFAULTS: dict[str, dict[str, Any]] = {
    Kind.RESTART_LOOP: {"occurrences": 5, "window_minutes": 10},
    Kind.CONTAINER_CPU: {"threshold": 90, "duration_seconds": 300},
    Kind.CONTAINER_MEMORY: {"threshold": 90, "duration_seconds": 300},
    Kind.HOST_CPU: {"threshold": 90, "duration_seconds": 300},
    Kind.HOST_MEMORY: {"threshold": 90, "duration_seconds": 300},
    Kind.HOST_DISK: {"threshold": 90},
}
THRESHOLD_HELP = {
    Kind.CONTAINER_CPU: "Percent of one CPU, as <code>docker stats</code> shows it: 150 is one and a half cores.",
    Kind.CONTAINER_MEMORY: "Percent of the container's memory limit (of the host's memory when it has none).",
    Kind.HOST_CPU: "Percent of all the host's CPUs.",
    Kind.HOST_MEMORY: "Percent of the host's memory.",
    Kind.HOST_DISK: "Percent used of the host's fullest file system.",
}


def fields_for(kind: str) -> tuple[str, ...]:
    """The form fields a rule of this kind uses, in display order."""
    scope_fields = HOST_SCOPE if kind in scope.HOST_KINDS else CONTAINER_SCOPE
    return COMMON_FIELDS + scope_fields + CONDITIONS.get(kind, ()) + NOTIFY_FIELDS


class ChannelChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, channel: Channel) -> str:
        if not channel.enabled:
            return f"{channel.name} (disabled: nothing is sent)"
        if channel.is_failing:
            return f"{channel.name} (failing: {channel.last_error or 'recent deliveries failed'})"
        return channel.name


class AlertRuleForm(forms.ModelForm):
    """A rule; the fields shown and checked depend on its kind (see `fields_for`).

    Fields a kind does not use are reset when it is saved, so a rule switched from CPU to "stopped" keeps no
    stale threshold.
    """

    channels = ChannelChoiceField(
        queryset=Channel.objects.all(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Without a channel, alerts are recorded in DockMon but nobody is notified.",
    )
    window_minutes = forms.IntegerField(
        required=False,
        label="Within (minutes)",
        min_value=WINDOW_MINUTES_RANGE[0],
        max_value=WINDOW_MINUTES_RANGE[1],
        error_messages={
            "min_value": "The window must be from 1 to 1440 minutes (a day).",
            "max_value": "The window must be from 1 to 1440 minutes (a day).",
        },
    )

    class Meta:
        model = AlertRule
        # The model's fields (the window is typed in minutes by a field of the form's own).
        fields = [
            *COMMON_FIELDS,
            *CONTAINER_SCOPE,
            "threshold",
            "clear_threshold",
            "duration_seconds",
            "occurrences",
            "include_intended_stops",
            *NOTIFY_FIELDS,
        ]
        labels = {
            "name_pattern": "Container name",
            "name_match": "Name matching",
            "labels": "Container labels",
            "exclude_names": "Leave out containers named",
            "container_tags": "Container tags",
            "host_tags": "Host tags",
            "hosts": "Hosts",
            "threshold": "Threshold (%)",
            "clear_threshold": "Clears below (%)",
            "duration_seconds": "Held for (seconds)",
            "occurrences": "Times",
            "include_intended_stops": "Also count stops made through DockMon and exits of on-demand containers",
            "cooldown_seconds": "Cooldown between repeats (seconds)",
            "notify_on_resolve": "Notify when it resolves",
            "title_template": "Title",
            "body_template": "Message",
        }
        help_texts = {
            "hosts": "None chosen: every host.",
            "host_tags": "Hosts carrying any of these tags. None chosen: no filter.",
            "container_tags": "Containers carrying any of these tags. None chosen: no filter.",
            "name_pattern": "Empty: every name. Names are case-sensitive, like Docker's.",
            "name_match": (
                "Wildcards: <code>web-*</code>, <code>db-?</code>. A regular expression matches anywhere in the "
                "name (it is searched for): anchor it with <code>^…$</code> to match the whole name."
            ),
            "exclude_names": "One per line, wildcards allowed. These are never watched.",
            "clear_threshold": (
                f"The alert resolves once the value is back below this. Empty: {CLEAR_MARGIN:g} points below "
                "the threshold (half the threshold when that is under 10)."
            ),
            "duration_seconds": "0 fires at the first sample above. At most 86400 (a day).",
            "cooldown_seconds": "A repeat of a firing alert is not notified again within this time. 0 to 86400.",
            "quiet_hours": (
                "Notifications wait during these windows and go out when they end, if the alert still fires. "
                "One per line, e.g. <code>Mon-Fri 22:00-07:00</code>, <code>Sat,Sun 00:00-24:00</code>, "
                "<code>daily 23:00-06:30</code>; times in DockMon's time zone."
            ),
        }
        widgets = {
            "description": forms.TextInput,
            "labels": forms.Textarea(attrs={"rows": 2, "class": "mono", "placeholder": "com.example.team=web"}),
            "exclude_names": forms.Textarea(attrs={"rows": 2, "class": "mono"}),
            "quiet_hours": forms.Textarea(attrs={"rows": 2, "class": "mono"}),
            "body_template": forms.Textarea(attrs={"rows": 6, "class": "mono"}),
            "name_match": forms.RadioSelect,
            "hosts": forms.CheckboxSelectMultiple,
            "host_tags": forms.CheckboxSelectMultiple,
            "container_tags": forms.CheckboxSelectMultiple,
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.kind = self._chosen_kind()
        self.fields["kind"].choices = Kind.choices  # no empty choice: the kind decides the rest of the form
        self.initial.setdefault("kind", self.kind)
        for name in set(self.fields) - set(fields_for(self.kind)):
            del self.fields[name]
        self.order_fields(fields_for(self.kind))
        if not self.is_bound and not self.instance.pk:
            for name, value in KIND_DEFAULTS.get(self.kind, {}).items():
                self.initial.setdefault(name, value)
        if self.instance.window_seconds:
            self.initial.setdefault("window_minutes", self.instance.window_seconds // 60)
        if "name_match" in self.fields:
            self.fields["name_match"].required = False  # only matters with a name pattern; wildcards by default
        self._describe_kind_fields()

    def clean_name_match(self) -> str:
        return self.cleaned_data["name_match"] or AlertRule.NameMatch.GLOB

    def _chosen_kind(self) -> str:
        source = self.data if self.is_bound else self.initial
        kind = source.get("kind") or self.instance.kind
        return kind if kind in Kind.values else Kind.CONTAINER_STOPPED

    def _describe_kind_fields(self) -> None:
        if "threshold" in self.fields:
            self.fields["threshold"].help_text = THRESHOLD_HELP[self.kind]
            self.fields["occurrences"].help_text = (
                "Or fire when the value is above the threshold this many times (2 to 100) within the window "
                "below, instead of continuously."
            )
        if self.kind == Kind.RESTART_LOOP:
            self.fields["occurrences"].label = "Restarts"
            self.fields["occurrences"].help_text = "How many restarts (2 to 100)…"
            self.fields["window_minutes"].help_text = "…within how many minutes (1 to 1440) make a loop."
        variables = messages.KIND_VARIABLES[self.kind] + ("rule", "severity", "host", "url", "time")
        listed = format_html_join(", ", "<code>{{{}}}</code>", ((name,) for name in dict.fromkeys(variables)))
        self.fields["title_template"].widget.attrs["placeholder"] = messages.DEFAULT_TITLES[self.kind]
        self.fields["body_template"].widget.attrs["placeholder"] = messages.DEFAULT_BODIES[self.kind]
        self.fields["title_template"].help_text = "Empty: the default shown. Variables: " + listed
        # Help texts are rendered as HTML (core/form_field.html).
        self.fields["body_template"].help_text = (
            "Empty: the default shown. Missing values show as “—”. Write <code>{{</code> and <code>}}</code> "
            "for literal braces."
        )

    @classmethod
    def redrawn(cls, data: Mapping[str, Any], *, instance: AlertRule | None = None) -> AlertRuleForm:
        """An unbound form showing what the user has typed so far, for another kind: the kind selector
        redraws the form with it, without reporting errors on fields the user has not reached yet."""
        form = cls(instance=instance, initial={"kind": data.get("kind")})
        for name, field in form.fields.items():
            if name in data or isinstance(field.widget, forms.CheckboxInput | forms.CheckboxSelectMultiple):
                form.initial[name] = field.widget.value_from_datadict(data, {}, name)
        return form

    # Checks of single fields (only those the kind shows are run).

    def clean_labels(self) -> str:
        return self._text("labels", scope.parse_label_lines)

    def clean_quiet_hours(self) -> str:
        return self._text("quiet_hours", quiet.parse_quiet_hours)

    def clean_title_template(self) -> str:
        return self._text("title_template", messages.validate_template)

    def clean_body_template(self) -> str:
        return self._text("body_template", messages.validate_template)

    def _text(self, name: str, check: Callable[[str], object]) -> str:
        """The field's text as typed, once `check` (raising ValidationError) accepts it."""
        check(self.cleaned_data[name])
        return self.cleaned_data[name]

    def clean_cooldown_seconds(self) -> int:
        return self._seconds("cooldown_seconds", "The cooldown")

    def clean_duration_seconds(self) -> int:
        return self._seconds("duration_seconds", "The duration")

    def _seconds(self, name: str, what: str) -> int:
        value = self.cleaned_data[name]
        if not 0 <= value <= MAX_SECONDS:
            raise ValidationError(f"{what} must be between 0 and {MAX_SECONDS} seconds (a day).")
        return value

    def clean_occurrences(self) -> int | None:
        value = self.cleaned_data["occurrences"]
        low, high = OCCURRENCES_RANGE
        if value is not None and not low <= value <= high:
            raise ValidationError(f"Enter a number of times from {low} to {high}.")
        return value

    # Checks across fields.

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if "name_pattern" in self.fields and data.get("name_match") == AlertRule.NameMatch.REGEX:
            try:
                scope.compile_name_regex(data.get("name_pattern", ""))
            except ValidationError as error:
                self.add_error("name_pattern", error)
        if self.kind == Kind.RESTART_LOOP:
            self._clean_restart_loop(data)
        if self.kind in THRESHOLD_KINDS:
            self._clean_threshold(data)
        return data

    def _clean_restart_loop(self, data: dict[str, Any]) -> None:
        if data.get("occurrences") is None and "occurrences" not in self.errors:
            self.add_error("occurrences", "Say how many restarts make a loop (2 to 100).")
        if data.get("window_minutes") is None and "window_minutes" not in self.errors:
            self.add_error("window_minutes", "Say within how many minutes they count (1 to 1440).")

    def _clean_threshold(self, data: dict[str, Any]) -> None:
        threshold = data.get("threshold")
        top = MAX_THRESHOLD.get(self.kind, 100.0)
        if threshold is None:
            if "threshold" not in self.errors:
                self.add_error("threshold", "Enter the threshold that makes this rule fire.")
            return
        if not 0 < threshold <= top:
            self.add_error("threshold", f"The threshold must be above 0 and at most {top:g} %.")
            return
        clear = data.get("clear_threshold")
        if clear is None:
            data["clear_threshold"] = default_clear_threshold(threshold)
        elif not 0 <= clear < threshold:
            self.add_error(
                "clear_threshold",
                f"The clear threshold must be below the threshold ({threshold:g} %) and not negative, "
                "or the alert could never resolve.",
            )
        occurrences, window = data.get("occurrences"), data.get("window_minutes")
        if (occurrences is None) != (window is None):
            missing = "window_minutes" if window is None else "occurrences"
            self.add_error(missing, "Fill both: how many times, and within how many minutes.")
        elif occurrences is not None and data.get("duration_seconds"):
            self.add_error(
                "duration_seconds",
                "Choose one: held for a duration, or a number of times within a window. Set the duration to 0.",
            )

    def save(self, commit: bool = True) -> AlertRule:
        rule = super().save(commit=False)
        used = set(fields_for(self.kind))
        window = self.cleaned_data.get("window_minutes")
        rule.window_seconds = window * 60 if "window_minutes" in used and window else None
        for field in AlertRule._meta.concrete_fields:
            if field.name in set(self._meta.fields) - used:
                setattr(rule, field.attname, field.get_default())
        if commit:
            rule.save()
            self.save_m2m()
            for name in {"hosts", "host_tags", "container_tags"} - used:
                getattr(rule, name).clear()
        return rule
