from __future__ import annotations

from django import forms

from apps.monitors import probe
from apps.monitors.models import HealthCheck

# field: (lowest, highest, how the error names it)
RANGES = {
    "interval_seconds": (10, 3600, "Check every 10 to 3600 seconds (10 s to 1 hour)."),
    "timeout_seconds": (1, 60, "The timeout is 1 to 60 seconds."),
    "failure_threshold": (1, 20, "The failure threshold is 1 to 20 checks in a row."),
    "success_threshold": (1, 20, "The success threshold is 1 to 20 checks in a row."),
    "restart_attempts": (1, 10, "Restart 1 to 10 times per unhealthy episode."),
    "restart_delay_seconds": (10, 3600, "Wait 10 to 3600 seconds between restarts."),
}


class HealthCheckForm(forms.ModelForm):
    """Add or change a check. The password or token is never shown back: left empty on an existing
    check, the stored one is kept. A label-made check takes its URL from the label."""

    secret = forms.CharField(
        required=False,
        label="Password or token",
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )

    class Meta:
        model = HealthCheck
        fields = [
            "url",
            "method",
            "expected_statuses",
            "keyword",
            "headers",
            "auth_kind",
            "auth_username",
            "timeout_seconds",
            "interval_seconds",
            "follow_redirects",
            "verify_tls",
            "failure_threshold",
            "success_threshold",
            "enabled",
            "restart_on_unhealthy",
            "restart_attempts",
            "restart_delay_seconds",
        ]
        labels = {
            "expected_statuses": "Expected status codes",
            "keyword": "Body must contain",
            "auth_kind": "Authentication",
            "auth_username": "User",
            "timeout_seconds": "Timeout (seconds)",
            "interval_seconds": "Interval (seconds)",
            "follow_redirects": "Follow redirects",
            "verify_tls": "Verify the TLS certificate",
            "restart_on_unhealthy": "Restart the container when the check turns unhealthy",
            "restart_attempts": "Restarts per unhealthy episode",
            "restart_delay_seconds": "Seconds between restarts",
        }
        help_texts = {
            "url": "http:// or https://, as DockMon's workers reach it.",
            "expected_statuses": "Codes and ranges, e.g. 200-299,301",
            "headers": "One “Name: value” per line.",
            "failure_threshold": "Failed checks in a row before it counts as unhealthy.",
            "success_threshold": "Passed checks in a row before it counts as healthy again.",
            "restart_attempts": "DockMon never restarts one container more than 12 times in 10 minutes.",
        }
        widgets = {
            "headers": forms.Textarea(attrs={"rows": 3, "spellcheck": "false", "class": "mono"}),
        }

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk and self.instance.auth_secret:
            self.fields["secret"].help_text = "Stored encrypted. Leave empty to keep the current one."
        if self.instance.from_label:
            self.fields["url"].disabled = True
            self.fields["url"].help_text = "Set by the container's dockmon.healthcheck.url label."
        for name, (low, high, _) in RANGES.items():
            # One clear sentence per range (from clean()) instead of Django's generic bound messages.
            self.fields[name].validators = []
            self.fields[name].widget.attrs.update(min=low, max=high)

    def clean_url(self) -> str:
        url = self.cleaned_data["url"].strip()
        if self.instance.from_label:
            return url
        try:
            probe.check_url(url)
        except probe.Refused as refused:
            raise forms.ValidationError(str(refused)) from None
        return url

    def clean_expected_statuses(self) -> str:
        try:
            return probe.parse_statuses(self.cleaned_data["expected_statuses"]).text
        except ValueError as error:
            raise forms.ValidationError(str(error)) from None

    def clean_headers(self) -> str:
        text = self.cleaned_data["headers"]
        try:
            headers = probe.parse_headers(text)
        except ValueError as error:
            raise forms.ValidationError(str(error)) from None
        return "\n".join(f"{name}: {value}" for name, value in headers.items())

    def clean(self) -> dict:
        data = super().clean()
        for name, (low, high, sentence) in RANGES.items():
            value = data.get(name)
            if value is not None and not low <= value <= high:
                self.add_error(name, sentence)
        if data.get("method") == HealthCheck.Method.HEAD and data.get("keyword"):
            self.add_error("keyword", "A HEAD response has no body to search: clear the keyword or use GET.")
        self._clean_auth(data)
        return data

    def _clean_auth(self, data: dict) -> None:
        kind = data.get("auth_kind")
        stored = self.instance.auth_secret if self.instance.auth_kind == kind else ""
        if kind == HealthCheck.AuthKind.NONE:
            data["auth_username"], data["secret"] = "", ""
            return
        if kind == HealthCheck.AuthKind.BASIC and not data.get("auth_username"):
            self.add_error("auth_username", "Basic authentication needs a user.")
        if kind == HealthCheck.AuthKind.BEARER:
            data["auth_username"] = ""
        if not data.get("secret") and not stored:
            word = "password" if kind == HealthCheck.AuthKind.BASIC else "token"
            self.add_error("secret", f"Give the {word}.")

    def save(self, commit: bool = True) -> HealthCheck:
        check = super().save(commit=False)
        if self.cleaned_data["auth_kind"] == HealthCheck.AuthKind.NONE:
            check.auth_secret = ""
        elif self.cleaned_data.get("secret"):
            check.auth_secret = self.cleaned_data["secret"]
        if commit:
            check.save()
        return check
