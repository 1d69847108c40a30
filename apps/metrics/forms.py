from __future__ import annotations

import math
from datetime import datetime

from django import forms
from django.utils import timezone

from apps.metrics.models import MetricsSettings
from apps.metrics.tiers import RANGES


class MetricsSettingsForm(forms.ModelForm):
    interval_seconds = forms.IntegerField(min_value=2, max_value=600, label="Collect every (seconds)")
    retention_days = forms.IntegerField(min_value=1, max_value=365, label="Keep history for (days)")

    class Meta:
        model = MetricsSettings
        fields = ["interval_seconds", "history_enabled", "retention_days"]
        labels = {"history_enabled": "Keep history (charts beyond the live values)"}


class RangeForm(forms.Form):
    """A chart's range: one of RANGES, or `from` and `to` (seconds since the epoch, or ISO 8601)."""

    range = forms.ChoiceField(required=False, choices=[(key, key) for key in RANGES])
    start = forms.CharField(required=False)
    end = forms.CharField(required=False)

    def __init__(self, data) -> None:
        super().__init__({"range": data.get("range", ""), "start": data.get("from", ""), "end": data.get("to", "")})

    @staticmethod
    def _moment(raw: str) -> float:
        try:
            seconds = float(raw)
        except ValueError:
            pass
        else:
            if not math.isfinite(seconds):  # float() takes "nan" and "inf"
                raise forms.ValidationError(f"“{raw}” is not a time (seconds since 1970, or ISO 8601).")
            return seconds
        try:
            moment = datetime.fromisoformat(raw)
        except ValueError:
            raise forms.ValidationError(f"“{raw}” is not a time (seconds since 1970, or ISO 8601).") from None
        if timezone.is_naive(moment):
            moment = timezone.make_aware(moment)
        return moment.timestamp()

    def clean(self) -> dict:
        data = super().clean()
        now = timezone.now().timestamp()
        if data.get("start") or data.get("end"):
            start = self._moment(data["start"]) if data.get("start") else now - RANGES["1h"].total_seconds()
            end = self._moment(data["end"]) if data.get("end") else now
        else:
            start, end = now - RANGES[data.get("range") or "1h"].total_seconds(), now
        end = min(end, now)  # nothing is recorded ahead of now
        if start >= end:
            raise forms.ValidationError("The start of the range must come before its end (and before now).")
        data["start_at"], data["end_at"] = start, end
        data["reach_seconds"] = now - start  # how far back the chart reaches, which picks the tier
        return data
