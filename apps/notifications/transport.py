"""The only module that talks to apprise: checking that it accepts a URL, and sending one message.

apprise reports problems through its logger, not through exceptions, so a send listens to that
logger and returns what apprise said about this send as the error text.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from urllib.parse import quote, unquote, urlsplit

import apprise

APPRISE_LOGGER = logging.getLogger("apprise")
# apprise's own log lines can quote webhook paths and tokens: they never reach DockMon's log
# handlers; a failed send is logged by services, redacted.
APPRISE_LOGGER.propagate = False

HIDDEN = "[hidden]"
# Debug lines worth keeping: the underlying exception (refused login, connection refused, timeout)
# and what the server answered.
USEFUL_DEBUG_PREFIXES = ("Socket Exception", "Response Details")
URL_PIECE_SEPARATORS = re.compile(r"[/:@?&=#,;+\s]+")
SHORTEST_URL_PIECE = 6  # pieces of a secret URL at least this long are hidden (ids, tokens, keys)
SHORTEST_SECRET = 3


class _CapturedLines(logging.Handler):
    """Hands each apprise message to the send that caused it. apprise runs a send on its own worker
    threads but copies the caller's context into them, so a context variable finds the right send
    even when several threads send at once."""

    def emit(self, record: logging.LogRecord) -> None:
        lines = _current_lines.get()
        if lines is None:
            return
        message = record.getMessage().strip()
        if record.levelno >= logging.WARNING or message.startswith(USEFUL_DEBUG_PREFIXES):
            lines.append(" ".join(message.split()))


_current_lines: ContextVar[list[str] | None] = ContextVar("dockmon_apprise_lines", default=None)
APPRISE_LOGGER.addHandler(_CapturedLines())
# apprise says why a send failed mostly at debug level; nothing else listens to its logger.
APPRISE_LOGGER.setLevel(logging.DEBUG)


@contextmanager
def _apprise_messages() -> Iterator[list[str]]:
    lines: list[str] = []
    token = _current_lines.set(lines)
    try:
        yield lines
    finally:
        _current_lines.reset(token)


def instantiate(url: str) -> tuple[object | None, str]:
    """apprise's plugin for `url`, or (None, apprise's reason) when apprise does not accept it."""
    with _apprise_messages() as lines:
        plugin = apprise.Apprise.instantiate(url)
    return plugin or None, "; ".join(lines)


def send(url: str, *, title: str, body: str, notify_type: str = "info") -> str:
    """Send one message (`notify_type`: apprise's info, success, warning or failure, which services show as a
    colour or an icon). Returns "" on success, else the error as apprise reported it (NOT redacted)."""
    sender = apprise.Apprise()
    with _apprise_messages() as lines:
        if not sender.add(url):
            return "; ".join(lines) or "apprise does not accept this URL."
        sent = sender.notify(title=title, body=body, notify_type=notify_type)
    if sent:
        return ""
    return "; ".join(lines) or "apprise reported a failure without details."


def server_host(url: str) -> str:
    """The server host name in an apprise URL, when the service's URL has one ("" for services whose
    "host" part is really an id or a token, such as tgram://<bot token>)."""
    with _apprise_messages():
        plugin = apprise.Apprise.instantiate(url)
    if plugin is None or "host" not in type(plugin).template_tokens:
        return ""
    return str(plugin.host or "")


def _url_pieces(value: str) -> list[str]:
    """The parts of a secret URL that may turn up alone in an error (ids, tokens, user info), but not its
    scheme, nor an http(s) URL's host name: they help to understand the error and are no secret."""
    parts = urlsplit(value)
    keep = {parts.scheme}
    if parts.scheme in ("http", "https") and parts.hostname:
        keep.add(parts.hostname)
    pieces = [unquote(piece) for piece in URL_PIECE_SEPARATORS.split(value)]
    return [piece for piece in pieces if len(piece) >= SHORTEST_URL_PIECE and piece not in keep]


def redact(text: str, secrets: Iterable[str], *, keep: Iterable[str] = ()) -> str:
    """`text` with every secret value, its URL-encoded forms and the telling parts of secret URLs hidden,
    except the `keep` values (e.g. a server's host name, which explains an error and is no secret)."""
    hidden: set[str] = set()
    for secret in secrets:
        secret = str(secret or "").strip()
        if len(secret) < SHORTEST_SECRET:
            continue
        hidden.update({secret, quote(secret, safe=""), quote(secret)})
        if "://" in secret or "\n" in secret or ":" in secret:
            hidden.update(_url_pieces(secret))
    hidden -= set(keep)
    # Longest first, so a secret containing another is hidden whole.
    for value in sorted(hidden, key=len, reverse=True):
        text = text.replace(value, HIDDEN)
    return text
