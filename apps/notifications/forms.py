"""The guided forms, one per kind of channel, and the delivery log's filters.

Secrets (tokens, passwords, webhook URLs) are never sent back to the browser: their inputs render
empty, and on an existing channel an empty secret keeps the stored one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from apps.notifications.models import Channel, Delivery

if TYPE_CHECKING:
    from apps.notifications.kinds import Kind

KEEP_SECRET_HELP = "Stored encrypted. Leave blank to keep the current one."  # noqa: S105 - a help text
PORT_RANGE = {"min_value": 1, "max_value": 65535}


class SecretInput(forms.TextInput):
    """A text input that never renders its value (a password input would hide long webhook URLs)."""

    def format_value(self, value: Any) -> None:
        return None


class SecretTextarea(forms.Textarea):
    def format_value(self, value: Any) -> None:
        return None


def secret_field(
    label: str, *, help_text: str = "", required: bool = True, lines: int = 0, masked: bool = False
) -> forms.CharField:
    """`masked`: typed as dots (passwords, tokens); otherwise visible while typing (long URLs)."""
    if masked:
        widget: forms.Widget = forms.PasswordInput(render_value=False)
    else:
        widget = SecretTextarea(attrs={"rows": lines}) if lines else SecretInput()
    # "new-password": browsers must not fill in the DockMon sign-in password they saved.
    widget.attrs.update({"autocomplete": "new-password" if masked else "off", "spellcheck": "false", "class": "mono"})
    return forms.CharField(label=label, help_text=help_text, required=required, widget=widget, strip=True)


def server_url_field(label: str = "Server URL", **kwargs: Any) -> forms.URLField:
    return forms.URLField(label=label, assume_scheme="https", **kwargs)


def email_list(value: str) -> list[str]:
    """Addresses separated by commas, semicolons or new lines; each must be a valid address."""
    addresses = [part.strip() for part in value.replace(";", ",").replace("\n", ",").split(",") if part.strip()]
    for address in addresses:
        try:
            validate_email(address)
        except ValidationError:
            raise ValidationError(f"“{address}” is not a valid e-mail address.") from None
    return addresses


class ChannelForm(forms.Form):
    """Name and on/off switch shared by every kind; subclasses add the kind's own fields."""

    name = forms.CharField(max_length=100, help_text="Shown in rules and in the delivery log.")
    enabled = forms.BooleanField(
        required=False,
        initial=True,
        help_text="A disabled channel sends nothing; its notifications are logged as not sent.",
    )

    COMMON_FIELDS = ("name", "enabled")

    def __init__(self, data: Any = None, *, kind: Kind, channel: Channel | None = None, stored: dict | None = None):
        self.kind = kind
        self.channel = channel
        # The stored configuration, only when the channel already is of this kind.
        self.stored = stored or {}
        initial = {key: value for key, value in self.stored.items() if key not in kind.secret_fields}
        if channel is not None:
            initial.update(name=channel.name, enabled=channel.enabled)
        super().__init__(data, initial=initial)
        for name in kind.secret_fields:
            if self.stored.get(name):
                self.fields[name].required = False
                self.fields[name].help_text = " ".join(filter(None, [self.fields[name].help_text, KEEP_SECRET_HELP]))
        self.config: dict[str, Any] = {}

    @property
    def config_fields(self) -> list[str]:
        return [name for name in self.fields if name not in self.COMMON_FIELDS]

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        others = Channel.objects.filter(name__iexact=name)
        if self.channel is not None:
            others = others.exclude(pk=self.channel.pk)
        if others.exists():
            raise ValidationError("Another channel already has this name.")
        return name

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        for name in self.kind.secret_fields:
            if not data.get(name) and self.stored.get(name):
                data[name] = self.stored[name]
        if self.errors:
            return data
        config = {name: data.get(name) for name in self.config_fields}
        try:
            problem = self.kind.refusal(config)
        except ValidationError as error:
            self.add_error(getattr(error, "field", None), error)
            return data
        if problem:
            self.add_error(self.kind.url_field, problem)
            return data
        self.config = config
        return data


class DeliveryFilterForm(forms.Form):
    channel = forms.ChoiceField(required=False)
    status = forms.ChoiceField(required=False, choices=[("", "Any status"), *Delivery.Status.choices])

    def __init__(self, data: Any) -> None:
        super().__init__(data)
        names = Delivery.objects.order_by("channel_name").values_list("channel_name", flat=True).distinct()
        self.fields["channel"].choices = [("", "Any channel"), *((name, name) for name in names)]
