"""Every kind's guided form builds a URL apprise accepts, with the right parts; bad input is refused
with a clear sentence that never repeats a secret."""

from __future__ import annotations

import apprise
import pytest

from apps.notifications.kinds import KINDS

DISCORD = "https://discord.com/api/webhooks/112233445566/Tok3n_discord-abcdefXYZ"
SLACK = "https://hooks.slack.com/services/T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ"
TEAMS = (
    "https://prod-01.westus.logic.azure.com:443/workflows/0a1b2c3d4e/triggers/manual/paths/invoke"
    "?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=Sig_teams-0123456789"
)
GCHAT = "https://chat.googleapis.com/v1/spaces/AAAAkM123/messages?key=AIzaSyDdI0hCZtE6vySjMm&token=gchat-Token_123"


def build(kind: str, **fields):
    """(the form, the apprise plugin its URL selects)."""
    form = KINDS[kind].form({"name": f"test {kind}", "enabled": True, **fields}, kind=KINDS[kind])
    assert form.is_valid(), form.errors
    return form, apprise.Apprise.instantiate(KINDS[kind].build_url(form.config))


def refused(kind: str, **fields) -> dict[str, list[str]]:
    form = KINDS[kind].form({"name": f"test {kind}", "enabled": True, **fields}, kind=KINDS[kind])
    assert not form.is_valid()
    return form.errors


@pytest.mark.django_db
class TestUrlsApprise:
    def test_discord(self):
        form, plugin = build("discord", webhook_url=DISCORD)
        assert type(plugin).__name__ == "NotifyDiscord"
        assert (plugin.webhook_id, plugin.webhook_token) == ("112233445566", "Tok3n_discord-abcdefXYZ")
        assert KINDS["discord"].summary(form.config) == "Discord · webhook …fXYZ"

    def test_slack(self):
        _, plugin = build("slack", webhook_url=SLACK)
        assert type(plugin).__name__ == "NotifySlack"
        assert (plugin.token_a, plugin.token_b, plugin.token_c) == (
            "T1JJ3T3L2",
            "A1BRTD4JD",
            "TIiajkdnlazkcOXrIdevi7FQ",
        )

    def test_msteams(self):
        _, plugin = build("msteams", webhook_url=TEAMS)
        assert type(plugin).__name__ == "NotifyWorkflows"
        assert plugin.host == "prod-01.westus.logic.azure.com"
        assert plugin.workflow == "0a1b2c3d4e"
        assert plugin.signature == "Sig_teams-0123456789"

    def test_googlechat(self):
        _, plugin = build("googlechat", webhook_url=GCHAT)
        assert type(plugin).__name__ == "NotifyGoogleChat"
        assert (plugin.workspace, plugin.webhook_key, plugin.webhook_token) == (
            "AAAAkM123",
            "AIzaSyDdI0hCZtE6vySjMm",
            "gchat-Token_123",
        )

    def test_telegram_with_topic(self):
        form, plugin = build("telegram", bot_token="123456789:AAE-bot_TOKEN", chat_id="-1001234567890", topic="42")
        assert type(plugin).__name__ == "NotifyTelegram"
        assert plugin.bot_token == "123456789:AAE-bot_TOKEN"
        assert plugin.targets == [(-1001234567890, 42)]
        assert KINDS["telegram"].summary(form.config) == "Telegram · chat -1001234567890 · bot …OKEN"

    def test_telegram_channel_name(self):
        _, plugin = build("telegram", bot_token="123456789:AAE-bot_TOKEN", chat_id="@dockmon_alerts")
        assert plugin.targets[0][0] == "@dockmon_alerts"

    def test_pushover(self):
        _, plugin = build("pushover", user_key="u" * 30, app_token="a" * 30, priority="high")
        assert type(plugin).__name__ == "NotifyPushover"
        assert (plugin.user_key, plugin.token, plugin.priority) == ("u" * 30, "a" * 30, 1)

    def test_gotify_under_a_path(self):
        form, plugin = build(
            "gotify", server_url="https://push.example.com/gotify/", app_token="AbC.def-123", priority="low"
        )
        assert type(plugin).__name__ == "NotifyGotify"
        assert (plugin.secure, plugin.host, plugin.fullpath, plugin.token, plugin.priority) == (
            True,
            "push.example.com",
            "/gotify/",
            "AbC.def-123",
            0,
        )
        assert KINDS["gotify"].summary(form.config) == "Gotify · push.example.com · token …"

    def test_ntfy_default_server_with_token(self):
        _, plugin = build(
            "ntfy",
            server_url="https://ntfy.sh",
            topic="dockmon-alerts",
            auth="token",
            access_token="tk_abcdefghijklmnop",
            priority="max",
        )
        assert type(plugin).__name__ == "NotifyNtfy"
        assert (plugin.host, plugin.topics, plugin.token, plugin.auth, plugin.priority) == (
            "ntfy.sh",
            ["dockmon-alerts"],
            "tk_abcdefghijklmnop",
            "token",
            "max",
        )

    def test_ntfy_own_server_with_password(self):
        form, plugin = build(
            "ntfy",
            server_url="http://127.0.0.1:8080",
            topic="t1",
            auth="password",
            username="bob",
            password="p@ss w:rd/+",
            priority="default",
        )
        assert (plugin.secure, plugin.port, plugin.user, plugin.password) == (False, 8080, "bob", "p@ss w:rd/+")
        assert KINDS["ntfy"].summary(form.config) == "ntfy · 127.0.0.1:8080/t1 · user bob"

    @pytest.mark.parametrize(
        ("security", "mode", "scheme_secure"),
        [("none", "insecure", False), ("starttls", "starttls", True), ("ssl", "ssl", True)],
    )
    def test_email(self, security, mode, scheme_secure):
        form, plugin = build(
            "email",
            smtp_host="mail.example.org",
            smtp_port="2525",
            security=security,
            username="me@example.org",
            password="pa:ss/+word",
            from_address="dockmon@example.org",
            to_addresses="ops@example.org\nboss@example.org",
        )
        assert type(plugin).__name__ == "NotifyEmail"
        assert (plugin.smtp_host, plugin.port, plugin.secure_mode, plugin.secure) == (
            "mail.example.org",
            2525,
            mode,
            scheme_secure,
        )
        assert (plugin.user, plugin.password) == ("me@example.org", "pa:ss/+word")
        assert plugin.from_addr[1] == "dockmon@example.org"
        assert [address for _, address in plugin.targets] == ["ops@example.org", "boss@example.org"]
        assert KINDS["email"].summary(form.config) == "E-mail · mail.example.org:2525 → ops@example.org +1"

    def test_json_webhook_with_headers_and_query(self):
        form, plugin = build(
            "webhook",
            url="https://hooks.example.net/in/abc?team=ops&x=a b",
            headers="Authorization: Bearer t0k+en\nX-Source: DockMon",
        )
        assert type(plugin).__name__ == "NotifyJSON"
        assert (plugin.secure, plugin.host, plugin.fullpath) == (True, "hooks.example.net", "/in/abc")
        assert plugin.headers == {"Authorization": "Bearer t0k+en", "X-Source": "DockMon"}
        assert plugin.params == {"team": "ops", "x": "a b"}
        assert KINDS["webhook"].summary(form.config) == "Webhook · hooks.example.net … · 2 headers"

    def test_any_apprise_url(self):
        form, plugin = build("apprise", url="mailtos://user:pw@mail.example.org?to=a@example.org")
        assert type(plugin).__name__ == "NotifyEmail"
        assert KINDS["apprise"].summary(form.config) == "apprise URL · mailtos://…"


@pytest.mark.django_db
class TestRefused:
    def test_bad_apprise_url(self):
        errors = refused("apprise", url="nosuchservice://very-secret-token-1234")
        # apprise masks the URL itself (first and last character); DockMon hides the rest.
        assert errors["url"] == ["apprise does not accept this URL: Unparseable URL nosuchservice://v...4"]

    def test_a_webhook_of_another_service(self):
        errors = refused("discord", webhook_url="https://example.com/api/webhooks/1/abcdef")
        assert errors["webhook_url"] == ["apprise does not accept this Discord webhook URL: Unparseable URL [hidden]"]
        errors = refused("discord", webhook_url=SLACK)
        assert errors["webhook_url"] == ["apprise does not accept this Discord webhook URL: it is not a Discord URL"]

    def test_apprise_reason_without_the_secret(self):
        errors = refused("apprise", url="tgram://not-a-bot-token-xyz/12345")
        [message] = errors["url"]
        assert message.startswith("apprise does not accept this URL: ")
        assert "not-a-bot-token-xyz" not in message

    def test_missing_token(self):
        errors = refused("telegram", chat_id="12345")
        assert errors["bot_token"] == ["This field is required."]
        errors = refused("ntfy", server_url="https://ntfy.sh", topic="t", auth="token", priority="default")
        assert errors["access_token"] == ["Enter the access token, or choose another way to sign in."]

    def test_port_out_of_range(self):
        errors = refused(
            "email",
            smtp_host="mail.example.org",
            smtp_port="70000",
            security="ssl",
            from_address="a@example.org",
            to_addresses="b@example.org",
        )
        assert errors["smtp_port"] == ["Ensure this value is less than or equal to 65535."]

    def test_bad_email_addresses(self):
        errors = refused(
            "email",
            smtp_host="mail.example.org",
            smtp_port="25",
            security="none",
            from_address="not-an-address",
            to_addresses="ok@example.org, broken@",
        )
        assert errors["from_address"] == ["Enter a valid email address."]
        assert errors["to_addresses"] == ["“broken@” is not a valid e-mail address."]

    def test_smtp_host_with_scheme(self):
        errors = refused(
            "email",
            smtp_host="smtp://mail.example.org",
            smtp_port="25",
            security="none",
            from_address="a@example.org",
            to_addresses="b@example.org",
        )
        assert errors["smtp_host"] == ["Only the server's host name or IP address, without smtp:// or a port."]

    def test_webhook_must_be_http(self):
        errors = refused("webhook", url="ftp://example.com/x")
        assert errors["url"] == ["The webhook URL must start with http:// or https:// and name a host."]

    def test_bad_header_line_does_not_echo_it(self):
        errors = refused("webhook", url="https://example.com/x", headers="X-Ok: 1\nAuthorization Bearer secret-abc")
        assert errors["headers"] == ["Line 2: write each header as Name: value."]

    def test_bad_telegram_fields(self):
        errors = refused("telegram", bot_token="not a token", chat_id="my group")
        assert errors["bot_token"] == ["A bot token looks like 123456789:AAE… (digits, a colon, then letters)."]
        assert errors["chat_id"] == ["A chat ID is a number such as -1001234567890, or @channelname."]

    def test_ntfy_server_with_path(self):
        errors = refused("ntfy", server_url="https://ntfy.example.com/sub", topic="t", auth="none", priority="default")
        assert errors["server_url"] == ["ntfy's server URL has no path: https://host or https://host:port."]

    def test_duplicate_name(self, make_channel):
        make_channel("discord", name="Ops", webhook_url=DISCORD)
        errors = refused("discord", webhook_url=DISCORD, name="ops")
        assert errors["name"] == ["Another channel already has this name."]
