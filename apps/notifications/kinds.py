"""The table of channel kinds: each a guided form, how its fields become an apprise URL, which fields
are secret, and a masked one-line summary for pages.

Adding a kind is one form class, one URL builder, one summary and one row in KINDS.
URL syntax follows apprise's plugins (apprise/plugins/<service>.py); webhook kinds hand apprise the
service's own webhook URL, which apprise recognises and rewrites itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

from django import forms
from django.core.exceptions import ValidationError

from apps.notifications import transport
from apps.notifications.forms import (
    PORT_RANGE,
    ChannelForm,
    email_list,
    secret_field,
    server_url_field,
)

Config = dict[str, Any]


class FieldError(ValidationError):
    """A problem with one field, found while building the URL (`field` None: the form as a whole)."""

    def __init__(self, field: str | None, message: str) -> None:
        super().__init__(message)
        self.field = field


def _query(pairs: list[tuple[str, str]]) -> str:
    # quote, not quote_plus: apprise reads a "+" in a value as a plus sign, not a space.
    return urlencode([(key, value) for key, value in pairs if value not in ("", None)], quote_via=quote, safe="+-")


def _tail(secret: str) -> str:
    """The last four characters of a long secret, enough to tell two channels apart."""
    secret = str(secret or "").strip().rstrip("/")
    return f"…{secret[-4:]}" if len(secret) >= 12 else "…"


def _userinfo(user: str, password: str) -> str:
    if not user:
        return ""
    return f"{quote(user, safe='')}:{quote(password, safe='')}@" if password else f"{quote(user, safe='')}@"


def _server(config: Config, field: str = "server_url") -> tuple[bool, str, str]:
    """(secure, host[:port], path without trailing slash) of a server URL field."""
    parts = urlsplit(config[field])
    if parts.username or parts.password:
        raise FieldError(field, "Leave credentials out of the server URL: use the fields below.")
    if parts.query or parts.fragment:
        raise FieldError(field, "The server URL cannot have a query (?…) or a fragment (#…).")
    return parts.scheme == "https", parts.netloc, parts.path.rstrip("/")


# --- the forms -----------------------------------------------------------------------------------------


def webhook_form(help_text: str) -> type[ChannelForm]:
    """A form with only a webhook URL, which is a secret (its path carries the token)."""
    return type("WebhookURLForm", (ChannelForm,), {"webhook_url": secret_field("Webhook URL", help_text=help_text)})


PUSHOVER_PRIORITIES = [(p, p.capitalize()) for p in ("low", "moderate", "normal", "high", "emergency")]
GOTIFY_PRIORITIES = PUSHOVER_PRIORITIES
NTFY_PRIORITIES = [("min", "Min"), ("low", "Low"), ("default", "Default"), ("high", "High"), ("max", "Max (urgent)")]
TELEGRAM_TOKEN = re.compile(r"^\d+:[A-Za-z0-9_-]+$")
TELEGRAM_CHAT = re.compile(r"^(-?\d+|@[A-Za-z0-9_]{4,})$")
NTFY_TOPIC = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*.^_`|~-]+$")


class TelegramForm(ChannelForm):
    bot_token = secret_field("Bot token", help_text="From @BotFather, e.g. <code>123456789:AAE…</code>", masked=True)
    chat_id = forms.CharField(
        label="Chat ID",
        max_length=100,
        help_text="A user, group or channel id (e.g. <code>-1001234567890</code>) or <code>@channelname</code>.",
    )
    topic = forms.IntegerField(
        required=False, min_value=1, label="Topic (thread) ID", help_text="Only for groups with topics."
    )

    def clean_bot_token(self) -> str:
        token = self.cleaned_data["bot_token"]
        if token and not TELEGRAM_TOKEN.match(token):
            raise ValidationError("A bot token looks like 123456789:AAE… (digits, a colon, then letters).")
        return token

    def clean_chat_id(self) -> str:
        chat = self.cleaned_data["chat_id"].strip()
        if not TELEGRAM_CHAT.match(chat):
            raise ValidationError("A chat ID is a number such as -1001234567890, or @channelname.")
        return chat


class PushoverForm(ChannelForm):
    user_key = secret_field("User key", help_text="On your pushover.net dashboard.", masked=True)
    app_token = secret_field(
        "Application token", help_text="Create an application at pushover.net/apps/build.", masked=True
    )
    priority = forms.ChoiceField(choices=PUSHOVER_PRIORITIES, initial="normal")


class GotifyForm(ChannelForm):
    server_url = server_url_field(help_text="e.g. <code>https://gotify.example.com</code>")
    app_token = secret_field("Application token", help_text="Gotify → Apps → create an application.", masked=True)
    priority = forms.ChoiceField(choices=GOTIFY_PRIORITIES, initial="normal")


class NtfyForm(ChannelForm):
    server_url = server_url_field(
        initial="https://ntfy.sh", help_text="<code>https://ntfy.sh</code> or your own server."
    )
    topic = forms.CharField(
        max_length=64, help_text="Letters, digits, - and _. On ntfy.sh, anyone who knows it can read it."
    )
    auth = forms.ChoiceField(
        label="Sign in with",
        choices=[("none", "Nothing (open topic)"), ("token", "Access token"), ("password", "User name and password")],
        initial="none",
        widget=forms.RadioSelect,
    )
    access_token = secret_field("Access token", required=False, help_text="<code>tk_…</code>", masked=True)
    username = forms.CharField(required=False, max_length=200, label="User name")
    password = secret_field("Password", required=False, masked=True)
    priority = forms.ChoiceField(choices=NTFY_PRIORITIES, initial="default")

    def clean_topic(self) -> str:
        topic = self.cleaned_data["topic"].strip()
        if not NTFY_TOPIC.match(topic):
            raise ValidationError("A topic has 1 to 64 letters, digits, - or _.")
        return topic


class EmailForm(ChannelForm):
    smtp_host = forms.CharField(label="SMTP server", max_length=253, help_text="Host name, e.g. smtp.example.com")
    smtp_port = forms.IntegerField(label="Port", initial=587, **PORT_RANGE)
    security = forms.ChoiceField(
        choices=[
            ("starttls", "STARTTLS (usually port 587)"),
            ("ssl", "TLS from the start (usually port 465)"),
            ("none", "None (usually port 25; trusted networks only)"),
        ],
        initial="starttls",
        widget=forms.RadioSelect,
    )
    username = forms.CharField(required=False, max_length=200, label="User name", help_text="Empty: no login.")
    password = secret_field("Password", required=False, masked=True)
    from_address = forms.EmailField(label="From")
    to_addresses = forms.CharField(
        label="To",
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="One or more addresses, separated by commas or new lines.",
    )

    def clean_smtp_host(self) -> str:
        host = self.cleaned_data["smtp_host"].strip()
        if not re.match(r"^[A-Za-z0-9.-]+$|^\[?[0-9A-Fa-f:.]+\]?$", host):
            raise ValidationError("Only the server's host name or IP address, without smtp:// or a port.")
        return host

    def clean_to_addresses(self) -> str:
        addresses = email_list(self.cleaned_data["to_addresses"])
        if not addresses:
            raise ValidationError("At least one address.")
        return ", ".join(addresses)


class JsonWebhookForm(ChannelForm):
    url = secret_field(
        "URL",
        help_text='<code>http://</code> or <code>https://</code>. Receives a JSON POST: <code>{"title": …, '
        '"message": …, "type": …}</code>.',
    )
    headers = secret_field(
        "Headers",
        required=False,
        lines=3,
        help_text="One per line, as <code>Name: value</code> (e.g. <code>Authorization: Bearer …</code>).",
    )


class AppriseForm(ChannelForm):
    url = secret_field(
        "apprise URL",
        help_text="Any service apprise supports, e.g. <code>tgram://…</code> or <code>matrixs://…</code>; "
        "see appriseit.com/services.",
    )


# --- URL builders and summaries ------------------------------------------------------------------------


def _webhook_url(config: Config) -> str:
    return config["webhook_url"].strip()


def _webhook_summary(config: Config) -> str:
    return f"webhook {_tail(config['webhook_url'])}"


def _telegram_url(config: Config) -> str:
    url = f"tgram://{config['bot_token']}/{quote(config['chat_id'], safe='')}"
    query = _query([("topic", str(config.get("topic") or ""))])
    return f"{url}/?{query}" if query else url


def _telegram_summary(config: Config) -> str:
    return f"chat {config['chat_id']} · bot {_tail(config['bot_token'])}"


def _pushover_url(config: Config) -> str:
    user, token = quote(config["user_key"], safe=""), quote(config["app_token"], safe="")
    return f"pover://{user}@{token}/?{_query([('priority', config['priority'])])}"


def _pushover_summary(config: Config) -> str:
    return f"user {_tail(config['user_key'])}"


def _gotify_url(config: Config) -> str:
    secure, netloc, path = _server(config)
    scheme = "gotifys" if secure else "gotify"
    token = quote(config["app_token"], safe="")
    return f"{scheme}://{netloc}{path}/{token}/?{_query([('priority', config['priority'])])}"


def _gotify_summary(config: Config) -> str:
    return f"{urlsplit(config['server_url']).netloc} · token {_tail(config['app_token'])}"


def _ntfy_url(config: Config) -> str:
    secure, netloc, path = _server(config)
    if path:
        raise FieldError("server_url", "ntfy's server URL has no path: https://host or https://host:port.")
    scheme = "ntfys" if secure else "ntfy"
    pairs = [("priority", config["priority"])]
    auth = ""
    if config["auth"] == "token":
        if not config.get("access_token"):
            raise FieldError("access_token", "Enter the access token, or choose another way to sign in.")
        pairs += [("auth", "token"), ("token", config["access_token"])]
    elif config["auth"] == "password":
        if not config.get("username"):
            raise FieldError("username", "Enter the user name, or choose another way to sign in.")
        if not config.get("password"):
            raise FieldError("password", "Enter the password, or choose another way to sign in.")
        auth = _userinfo(config["username"], config["password"])
    return f"{scheme}://{auth}{netloc}/{config['topic']}?{_query(pairs)}"


def _ntfy_summary(config: Config) -> str:
    signed_in = {"token": " · access token", "password": f" · user {config.get('username')}"}.get(config["auth"], "")
    return f"{urlsplit(config['server_url']).netloc}/{config['topic']}{signed_in}"


EMAIL_MODES = {"none": "insecure", "starttls": "starttls", "ssl": "ssl"}


def _email_url(config: Config) -> str:
    scheme = "mailto" if config["security"] == "none" else "mailtos"
    host = config["smtp_host"]
    auth = _userinfo(config.get("username") or "", config.get("password") or "")
    pairs = [
        ("smtp", host),
        ("mode", EMAIL_MODES[config["security"]]),
        ("from", config["from_address"]),
        ("to", ",".join(email_list(config["to_addresses"]))),
    ]
    return f"{scheme}://{auth}{host}:{config['smtp_port']}/?{_query(pairs)}"


def _email_summary(config: Config) -> str:
    recipients = email_list(config["to_addresses"])
    more = f" +{len(recipients) - 1}" if len(recipients) > 1 else ""
    return f"{config['smtp_host']}:{config['smtp_port']} → {recipients[0]}{more}"


def _header_pairs(text: str) -> list[tuple[str, str]]:
    pairs = []
    for number, line in enumerate((text or "").splitlines(), start=1):
        if not line.strip():
            continue
        name, colon, value = line.partition(":")
        if not colon or not HEADER_NAME.match(name.strip()):
            # The line may hold a secret: name its number, never its text.
            raise FieldError("headers", f"Line {number}: write each header as Name: value.")
        pairs.append((f"+{name.strip()}", value.strip()))
    return pairs


def _json_url(config: Config) -> str:
    parts = urlsplit(config["url"].strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FieldError("url", "The webhook URL must start with http:// or https:// and name a host.")
    scheme = "jsons" if parts.scheme == "https" else "json"
    # The receiver's own query parameters travel as apprise's "-name" arguments.
    pairs = [(f"-{key}", value) for key, value in parse_qsl(parts.query, keep_blank_values=True)]
    pairs += _header_pairs(config.get("headers") or "")
    query = _query(pairs)
    return f"{scheme}://{parts.netloc}{parts.path or '/'}" + (f"?{query}" if query else "")


def _json_summary(config: Config) -> str:
    headers = len(_header_pairs(config.get("headers") or ""))
    extra = f" · {headers} header{'s' if headers != 1 else ''}" if headers else ""
    return f"{urlsplit(config['url']).hostname} …{extra}"


def _apprise_url(config: Config) -> str:
    return config["url"].strip()


def _apprise_summary(config: Config) -> str:
    return f"{urlsplit(config['url']).scheme}://…"


# --- the table -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Kind:
    key: str
    label: str
    hint: str  # one line on the "pick a kind" page
    form: type[ChannelForm]
    build_url: Callable[[Config], str]
    summarize: Callable[[Config], str]
    secret_fields: tuple[str, ...]
    plugin: str = ""  # the apprise plugin class the URL must select; "" accepts any
    url_field: str | None = None  # where apprise's refusal is shown; None: above the form
    url_noun: str = ""  # how the refusal names the URL; default "<label> URL"

    def summary(self, config: Config) -> str:
        """A one-line description that never shows a secret, e.g. "Discord · webhook …a1b2"."""
        try:
            return f"{self.label} · {self.summarize(config)}"
        except (KeyError, IndexError, ValidationError, ValueError):
            return f"{self.label} · incomplete settings"

    def secrets(self, config: Config) -> list[str]:
        return [str(config[name]) for name in self.secret_fields if config.get(name)]

    def refusal(self, config: Config) -> str:
        """Why apprise would not send to what `config` builds ("" when it would). May raise FieldError."""
        url = self.build_url(config)
        plugin, reason = transport.instantiate(url)
        if plugin is not None and (not self.plugin or type(plugin).__name__ == self.plugin):
            return ""
        if plugin is not None:
            reason = f"it is not a {self.label} URL"
        message = f"apprise does not accept this {self.url_noun or self.label + ' URL'}"
        return f"{message}: {transport.redact(reason, self.secrets(config))}" if reason else f"{message}."


KINDS: dict[str, Kind] = {
    kind.key: kind
    for kind in [
        Kind(
            "discord",
            "Discord",
            "A channel webhook (Server settings → Integrations → Webhooks).",
            webhook_form("e.g. <code>https://discord.com/api/webhooks/1234…/abcd…</code>"),
            _webhook_url,
            _webhook_summary,
            ("webhook_url",),
            plugin="NotifyDiscord",
            url_field="webhook_url",
            url_noun="Discord webhook URL",
        ),
        Kind(
            "slack",
            "Slack",
            "An incoming webhook of a Slack app.",
            webhook_form("e.g. <code>https://hooks.slack.com/services/T…/B…/…</code>"),
            _webhook_url,
            _webhook_summary,
            ("webhook_url",),
            plugin="NotifySlack",
            url_field="webhook_url",
            url_noun="Slack webhook URL",
        ),
        Kind(
            "telegram",
            "Telegram",
            "A bot posting to a user, group, channel or topic.",
            TelegramForm,
            _telegram_url,
            _telegram_summary,
            ("bot_token",),
            plugin="NotifyTelegram",
        ),
        Kind(
            "pushover",
            "Pushover",
            "Push notifications to phones through pushover.net.",
            PushoverForm,
            _pushover_url,
            _pushover_summary,
            ("user_key", "app_token"),
            plugin="NotifyPushover",
        ),
        Kind(
            "gotify",
            "Gotify",
            "Your own Gotify server.",
            GotifyForm,
            _gotify_url,
            _gotify_summary,
            ("app_token",),
            plugin="NotifyGotify",
        ),
        Kind(
            "ntfy",
            "ntfy",
            "A topic on ntfy.sh or your own ntfy server.",
            NtfyForm,
            _ntfy_url,
            _ntfy_summary,
            ("access_token", "password"),
            plugin="NotifyNtfy",
        ),
        Kind(
            "email",
            "E-mail",
            "Through an SMTP server of this channel's own.",
            EmailForm,
            _email_url,
            _email_summary,
            ("password",),
            plugin="NotifyEmail",
        ),
        Kind(
            "msteams",
            "Microsoft Teams",
            "A Teams Workflows webhook (“Post to a channel when a webhook request is received”).",
            webhook_form("e.g. <code>https://….logic.azure.com:443/workflows/…/triggers/manual/paths/invoke?…</code>"),
            _webhook_url,
            _webhook_summary,
            ("webhook_url",),
            plugin="NotifyWorkflows",
            url_field="webhook_url",
            url_noun="Teams workflow URL",
        ),
        Kind(
            "googlechat",
            "Google Chat",
            "A space's incoming webhook.",
            webhook_form("e.g. <code>https://chat.googleapis.com/v1/spaces/…/messages?key=…&amp;token=…</code>"),
            _webhook_url,
            _webhook_summary,
            ("webhook_url",),
            plugin="NotifyGoogleChat",
            url_field="webhook_url",
            url_noun="Google Chat webhook URL",
        ),
        Kind(
            "webhook",
            "Webhook",
            "A JSON POST to any http(s) URL, with headers of your choice.",
            JsonWebhookForm,
            _json_url,
            _json_summary,
            ("url", "headers"),
            plugin="NotifyJSON",
            url_field="url",
            url_noun="webhook URL",
        ),
        Kind(
            "apprise",
            "apprise URL",
            "Any of apprise's 100+ services, written as an apprise URL.",
            AppriseForm,
            _apprise_url,
            _apprise_summary,
            ("url",),
            url_field="url",
            url_noun="URL",
        ),
    ]
}
