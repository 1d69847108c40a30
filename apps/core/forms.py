from __future__ import annotations

from django import forms

from apps.core.models import AppSettings, Event


class EventFilterForm(forms.Form):
    """The Events page filters; the drop-downs offer the values present in the trail."""

    q = forms.CharField(required=False, label="Search", widget=forms.TextInput(attrs={"type": "search"}))
    category = forms.ChoiceField(required=False)
    severity = forms.ChoiceField(required=False, choices=[("", "Any severity"), *Event.Severity.choices])
    actor = forms.ChoiceField(required=False)
    host = forms.ChoiceField(required=False)
    since = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, data: dict | None, *, seen: dict[str, list[str]]) -> None:
        super().__init__(data)
        for name, values, anything in (
            ("category", seen["categories"], "Any category"),
            ("actor", seen["actors"], "Anyone"),
            ("host", seen["hosts"], "Any host"),
        ):
            self.fields[name].choices = [("", anything), *((value, value) for value in values)]
        self.fields["q"].widget.attrs["placeholder"] = "action, target, user…"

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
