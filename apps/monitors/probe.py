"""One HTTP health check, done: no database, no Django. `probe(ProbeSpec(...))` answers a ProbeOutcome.

Redirects are followed here, hop by hop, so every hop's address is checked against the cloud metadata
addresses before DockMon connects to it (SSRF), and the connection itself refuses such an address in case
DNS answers differently the second time.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.client import RemoteDisconnected
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

MAX_REDIRECTS = 10
# Enough of the body to find a keyword in a health page; a check never downloads a whole file.
BODY_LIMIT = 1024 * 1024
USER_AGENT = "DockMon health check"
REDIRECT_STATUSES = {301, 302, 303, 307, 308}
METADATA_NAMES = frozenset({"metadata.google.internal"})
METADATA_NETWORKS = tuple(
    ipaddress.ip_network(net)
    for net in (
        "169.254.0.0/16",  # link-local, AWS/Azure/GCP/OpenStack metadata at 169.254.169.254
        "fe80::/10",  # IPv6 link-local
        "fd00:ec2::254/128",  # AWS metadata over IPv6
        "100.100.100.200/32",  # Alibaba Cloud metadata
    )
)

Resolver = Callable[[str, int], list[str]]


class Refused(Exception):
    """The URL may not be checked (not http(s), or a cloud metadata address); the message says why."""


# --- expected status codes ---------------------------------------------------------------------------


@dataclass(frozen=True)
class StatusSet:
    """Expected status codes, written like "200-299,301"."""

    ranges: tuple[tuple[int, int], ...]
    text: str

    def __contains__(self, status: int) -> bool:
        return any(low <= status <= high for low, high in self.ranges)


def parse_statuses(text: str) -> StatusSet:
    """Parse "200-299,301"; raises ValueError with a sentence a user can act on."""
    ranges = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        match = re.fullmatch(r"(\d+)\s*(?:-\s*(\d+))?", part)
        if not match:
            raise ValueError(f"“{part}” is not a status code or a range such as 200-299.")
        low = int(match.group(1))
        high = int(match.group(2) or low)
        for code in (low, high):
            if not 100 <= code <= 599:
                raise ValueError(f"{code} is not an HTTP status code (they run from 100 to 599).")
        if low > high:
            raise ValueError(f"The range {part} runs backwards: write {high}-{low}.")
        ranges.append((low, high))
    if not ranges:
        raise ValueError("Give at least one expected status code, e.g. 200-299.")
    return StatusSet(tuple(ranges), ",".join(f"{lo}-{hi}" if lo != hi else str(lo) for lo, hi in ranges))


def parse_headers(text: str) -> dict[str, str]:
    """ "Name: value" lines to a dict; raises ValueError naming the first bad line."""
    headers = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        name, colon, value = line.partition(":")
        name = name.strip()
        if not colon or not re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", name):
            raise ValueError(f"Header line {number} is not “Name: value”: {line.strip()[:60]}")
        if "\r" in value or "\n" in value:
            raise ValueError(f"Header line {number} has a line break in its value.")
        headers[name] = value.strip()
    return headers


# --- SSRF guard --------------------------------------------------------------------------------------


def is_metadata_address(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return any(ip in network for network in METADATA_NETWORKS)


def resolve(host: str, port: int) -> list[str]:
    """Every address the host name resolves to (what the connection may end up using)."""
    return sorted({info[4][0] for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)})


def check_url(url: str, *, resolver: Resolver | None = resolve) -> None:
    """Raise Refused unless `url` is http(s) and its host is not a cloud metadata address.

    With `resolver=None` only the URL's own text is checked (no DNS: for quick checks of labels).
    A name that does not resolve is let through: the request then fails with its own clear error.
    """
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https"):
        raise Refused("Only http:// and https:// URLs can be checked.")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        raise Refused("The URL's port is not a number from 1 to 65535.") from None
    if not host:
        raise Refused("The URL has no host name.")
    if host.rstrip(".").lower() in METADATA_NAMES:
        raise Refused(f"{host} is a cloud metadata address: DockMon does not check it.")
    try:
        addresses = [str(ipaddress.ip_address(host))]
    except ValueError:
        if resolver is None:
            return
        try:
            addresses = resolver(host, port or (443 if parts.scheme == "https" else 80))
        except OSError:
            return
    for address in addresses:
        if is_metadata_address(address):
            shown = host if host == address else f"{host} ({address})"
            raise Refused(f"{shown} is a cloud metadata address: DockMon does not check it.")


class _GuardedConnectionMixin:
    """Refuse the connection when the address it reached is a metadata address (DNS may have changed)."""

    def _new_conn(self):
        sock = super()._new_conn()
        address = sock.getpeername()[0]
        if is_metadata_address(address):
            sock.close()
            raise Refused(f"{self.host} ({address}) is a cloud metadata address: DockMon does not check it.")
        return sock


class _GuardedHTTPConnection(_GuardedConnectionMixin, HTTPConnection):
    pass


class _GuardedHTTPSConnection(_GuardedConnectionMixin, HTTPSConnection):
    pass


class _GuardedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _GuardedHTTPConnection


class _GuardedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _GuardedHTTPSConnection


class _GuardedAdapter(HTTPAdapter):
    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _GuardedHTTPPool, "https": _GuardedHTTPSPool}


# --- the probe ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProbeSpec:
    url: str
    method: str = "GET"
    expected: StatusSet = field(default_factory=lambda: parse_statuses("200-299"))
    keyword: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    auth_kind: str = "none"  # none, basic, bearer
    username: str = ""
    secret: str = ""
    timeout: float = 10
    follow_redirects: bool = True
    verify_tls: bool = True


@dataclass(frozen=True)
class ProbeOutcome:
    ok: bool
    status_code: int | None = None
    response_ms: int | None = None
    error: str = ""


def _causes(error: BaseException) -> Iterator[BaseException]:
    """The error and everything it wraps (requests and urllib3 nest the socket's error deeply)."""
    stack, seen = [error], set()
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        stack.extend(arg for arg in current.args if isinstance(arg, BaseException))
        stack.extend(
            wrapped
            for wrapped in (getattr(current, "reason", None), current.__cause__, current.__context__)
            if isinstance(wrapped, BaseException)
        )


def _readable(error: requests.RequestException, timeout: float) -> str:
    """requests' messages name pool objects and memory addresses; users need the reason at the end."""
    if isinstance(error, requests.ConnectTimeout):
        return f"Could not connect within {timeout:g} s."
    if isinstance(error, requests.Timeout):
        return f"No response within {timeout:g} s."
    if isinstance(error, requests.exceptions.SSLError):
        match = re.search(r"certificate verify failed: ([^(')\"]+)", str(error))
        reason = f"certificate verify failed: {match.group(1).strip()}" if match else "the TLS handshake failed"
        return f"TLS error: {reason}."
    for cause in _causes(error):
        if isinstance(cause, RemoteDisconnected):
            return "The server closed the connection without answering."
        if isinstance(cause, socket.gaierror):
            return f"Could not resolve the host name: {cause.strerror}."
        if isinstance(cause, ConnectionRefusedError):
            return "Could not connect: Connection refused."
        if isinstance(cause, OSError) and cause.strerror:
            return f"The connection failed: {cause.strerror}."
    return f"The request failed: {str(error)[:200]}"


def _next_method(method: str, status: int) -> str:
    # What browsers do, and what requests would do: 303 becomes GET, and so does a POST answered by 301/302.
    if status == 303 and method != "HEAD":
        return "GET"
    if status in (301, 302) and method == "POST":
        return "GET"
    return method


def _read_body(response: requests.Response) -> str:
    data = b""
    for chunk in response.iter_content(chunk_size=65536):
        data += chunk
        if len(data) >= BODY_LIMIT:
            break
    return data[:BODY_LIMIT].decode(response.encoding or "utf-8", errors="replace")


def probe(spec: ProbeSpec, *, resolver: Resolver = resolve) -> ProbeOutcome:
    """Do the request (following redirects hop by hop when asked) and judge the answer. Never raises."""
    headers = {"User-Agent": USER_AGENT, **spec.headers}
    auth = None
    if spec.auth_kind == "basic":
        auth = requests.auth.HTTPBasicAuth(spec.username, spec.secret)
    elif spec.auth_kind == "bearer":
        headers["Authorization"] = f"Bearer {spec.secret}"
    session = requests.Session()
    session.trust_env = False  # no proxy from the environment, no ~/.netrc credentials
    for scheme in ("http://", "https://"):
        session.mount(scheme, _GuardedAdapter(max_retries=0))
    started = time.monotonic()

    def elapsed_ms() -> int:
        return round((time.monotonic() - started) * 1000)

    url, method = spec.url.strip(), spec.method
    origin = urlsplit(url).netloc
    with session:
        for _hop in range(MAX_REDIRECTS + 1):
            try:
                check_url(url, resolver=resolver)
                response = session.request(
                    method,
                    url,
                    headers=headers,
                    auth=auth,
                    timeout=spec.timeout,
                    verify=spec.verify_tls,
                    allow_redirects=False,
                    stream=True,
                )
            except Refused as refused:
                return ProbeOutcome(False, response_ms=elapsed_ms(), error=f"Refused: {refused}")
            except requests.RequestException as error:
                return ProbeOutcome(False, response_ms=elapsed_ms(), error=_readable(error, spec.timeout))
            with response:
                location = response.headers.get("Location")
                if spec.follow_redirects and response.status_code in REDIRECT_STATUSES and location:
                    url = urljoin(url, location)
                    method = _next_method(method, response.status_code)
                    if urlsplit(url).netloc != origin:
                        # Credentials are for the checked site only, never for where it sends us.
                        auth = None
                        headers.pop("Authorization", None)
                    continue
                return _judge(spec, response, elapsed_ms)
    return ProbeOutcome(False, response_ms=elapsed_ms(), error=f"More than {MAX_REDIRECTS} redirects.")


def _judge(spec: ProbeSpec, response: requests.Response, elapsed_ms: Callable[[], int]) -> ProbeOutcome:
    status = response.status_code
    body = ""
    if spec.keyword and spec.method != "HEAD":
        try:
            body = _read_body(response)
        except requests.RequestException as error:
            return ProbeOutcome(False, status, elapsed_ms(), _readable(error, spec.timeout))
    took = elapsed_ms()
    if status not in spec.expected:
        return ProbeOutcome(False, status, took, f"Status {status}, expected {spec.expected.text}.")
    if spec.keyword and spec.keyword not in body:
        return ProbeOutcome(False, status, took, f"The response does not contain “{spec.keyword}”.")
    return ProbeOutcome(True, status, took)
