"""Forms of the Alerts pages: the list's filters, snoozing, comments and retention."""

from __future__ import annotations

from datetime import datetime, timedelta

from django import forms
from django.utils import timezone

from apps.alerts.models import Alert, AlertRule, AlertSettings, Severity
from apps.hosts.models import Host

OPEN = "open"
STATE_CHOICES = [
    (OPEN, "Open"),
    (Alert.State.FIRING, "Firing"),
    (Alert.State.ACKNOWLEDGED, "Acknowledged"),
    (Alert.State.SNOOZED, "Snoozed"),
    (Alert.State.RESOLVED, "Resolved"),
    ("all", "All"),
]
SNOOZE_FOR = {"15m": timedelta(minutes=15), "1h": timedelta(hours=1), "4h": timedelta(hours=4), "1d": timedelta(days=1)}
SNOOZE_CHOICES = [("15m", "15 minutes"), ("1h", "1 hour"), ("4h", "4 hours"), ("1d", "1 day"), ("until", "Until…")]
LONGEST_SNOOZE = timedelta(days=90)


class AlertFilterForm(forms.Form):
    state = forms.ChoiceField(required=False, choices=STATE_CHOICES, initial=OPEN)
    severity = forms.ChoiceField(required=False, choices=[("", "Any severity"), *Severity.choices])
    kind = forms.ChoiceField(required=False, choices=[("", "Any kind"), *AlertRule.Kind.choices])
    host = forms.ChoiceField(required=False)
    q = forms.CharField(
        required=False, label="Search", max_length=200, widget=forms.TextInput(attrs={"type": "search"})
    )

    def __init__(self, data: dict | None) -> None:
        super().__init__(data)
        self.fields["host"].choices = [
            ("", "Any host"),
            *((str(pk), name) for pk, name in Host.objects.values_list("pk", "name")),
        ]
        self.fields["q"].widget.attrs["placeholder"] = "title, container, rule…"

    def params(self) -> dict:
        """The valid filters (the state defaults to open alerts)."""
        data = self.cleaned_data if self.is_bound and self.is_valid() else {}
        return {**data, "state": data.get("state") or OPEN}


class SnoozeForm(forms.Form):
    duration = forms.ChoiceField(choices=SNOOZE_CHOICES, initial="1h", label="Snooze for")
    until = forms.DateTimeField(
        required=False,
        label="Until",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )

    def clean(self) -> dict:
        data = super().clean()
        now = timezone.now()
        if data.get("duration") == "until":
            until = data.get("until")
            if until is None:
                raise forms.ValidationError("Choose the date and time the snooze ends.")
            if until <= now:
                raise forms.ValidationError("The snooze must end in the future.")
            if until - now > LONGEST_SNOOZE:
                raise forms.ValidationError("Snooze for at most 90 days; resolve the alert if it no longer matters.")
        return data

    def snooze_until(self) -> datetime:
        data = self.cleaned_data
        if data["duration"] == "until":
            return data["until"]
        return timezone.now() + SNOOZE_FOR[data["duration"]]


class CommentForm(forms.Form):
    text = forms.CharField(label="Comment", max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))


class AlertSettingsForm(forms.ModelForm):
    retention_days = forms.IntegerField(min_value=1, max_value=3650, label="Keep resolved alerts for (days)")

    class Meta:
        model = AlertSettings
        fields = ["retention_days"]
