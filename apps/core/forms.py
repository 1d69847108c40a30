from __future__ import annotations

from django import forms

from apps.core.models import AppSettings, Event


class EventFilterForm(forms.Form):
    q = forms.CharField(required=False, label="Search")
    category = forms.CharField(required=False)
    severity = forms.ChoiceField(required=False, choices=[("", "Any severity"), *Event.Severity.choices])
    actor = forms.CharField(required=False)
    host = forms.CharField(required=False)
    since = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self) -> dict:
        data = super().clean()
        if data.get("since") and data.get("until") and data["since"] > data["until"]:
            raise forms.ValidationError("“From” must be on or before “To”.")
        return data


class AppSettingsForm(forms.ModelForm):
    event_retention_days = forms.IntegerField(min_value=1, max_value=3650, label="Keep audit events for (days)")

    class Meta:
        model = AppSettings
        fields = ["instance_name", "event_retention_days"]
