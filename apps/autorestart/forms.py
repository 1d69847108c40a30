from __future__ import annotations

from django import forms

from apps.autorestart.models import MAX_ATTEMPTS_LIMIT, AutoRestartSettings


def _whole_number(label: str, low: int, high: int, unit: str, **kwargs) -> forms.IntegerField:
    """An integer field whose range error names the range, not just the bound that was crossed."""
    message = f"Enter between {low} and {high} {unit}."
    return forms.IntegerField(
        min_value=low,
        max_value=high,
        label=label,
        error_messages={"min_value": message, "max_value": message, "invalid": message, "required": message},
        **kwargs,
    )


def _attempts_field(label: str) -> forms.IntegerField:
    help_text = "0 to 10; with 0 DockMon only reports the exit."
    return _whole_number(label, 0, MAX_ATTEMPTS_LIMIT, "attempts", help_text=help_text)


class PolicyForm(forms.Form):
    enabled = forms.BooleanField(required=False, label="Restart it when it exits unexpectedly")
    max_attempts = _attempts_field("Attempts")


class SettingsForm(forms.ModelForm):
    default_max_attempts = _attempts_field("Attempts for new containers")
    first_delay_seconds = _whole_number(
        "First delay (seconds)", 1, 3600, "seconds", help_text="Before the first attempt; doubled for each next one."
    )
    max_delay_seconds = _whole_number(
        "Longest delay (seconds)", 1, 86400, "seconds", help_text="The doubling stops here (up to a day)."
    )
    stable_after_seconds = _whole_number(
        "Stable after (seconds)",
        10,
        86400,
        "seconds",
        help_text="A container that stays up this long gets all its attempts back.",
    )

    class Meta:
        model = AutoRestartSettings
        fields = [
            "enabled_for_new", "default_max_attempts", "first_delay_seconds", "max_delay_seconds",
            "stable_after_seconds",
        ]  # fmt: skip
        labels = {"enabled_for_new": "Turn auto-restart on for containers seen from now on"}

    def clean(self) -> dict:
        data = super().clean()
        first, longest = data.get("first_delay_seconds"), data.get("max_delay_seconds")
        if first is not None and longest is not None and longest < first:
            self.add_error(
                "max_delay_seconds", f"The longest delay cannot be shorter than the first delay ({first} seconds)."
            )
        return data
