"""The probe against a real HTTP server on 127.0.0.1: statuses, keyword, methods, headers, auth,
timeouts, redirects and the refusal of cloud metadata addresses."""

from __future__ import annotations

import base64
import re
import time

import pytest

from apps.monitors.probe import ProbeSpec, Refused, check_url, parse_headers, parse_statuses, probe
from tests.fixtures import Route, refusal


def test_status_lists_and_ranges_are_parsed():
    statuses = parse_statuses(" 200-299, 301 ,418")
    assert statuses.text == "200-299,301,418"
    assert all(code in statuses for code in (200, 250, 299, 301, 418))
    assert not any(code in statuses for code in (199, 300, 302, 500))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("abc", "“abc” is not a status code or a range such as 200-299."),
        ("600", "600 is not an HTTP status code (they run from 100 to 599)."),
        ("300-200", "The range 300-200 runs backwards: write 200-300."),
        (" , ", "Give at least one expected status code, e.g. 200-299."),
    ],
)
def test_bad_status_lists_are_refused_with_a_sentence(text, message):
    assert refusal(parse_statuses, text) == message


def test_header_lines():
    assert parse_headers("X-One: 1\n\nX-Two:  two words ") == {"X-One": "1", "X-Two": "two words"}
    with pytest.raises(ValueError, match="Header line 2 is not “Name: value”: no colon here"):
        parse_headers("X-One: 1\nno colon here")


def test_a_matching_status_passes_and_a_wrong_one_fails_with_its_code(http_server):
    http_server.routes["/up"] = Route(200)
    http_server.routes["/down"] = Route(503, b"maintenance")
    up = probe(ProbeSpec(f"{http_server.url}/up", expected=parse_statuses("200-299,301")))
    assert up.ok and up.status_code == 200 and up.error == ""
    assert up.response_ms is not None and up.response_ms < 2000
    down = probe(ProbeSpec(f"{http_server.url}/down", expected=parse_statuses("200-299,301")))
    assert not down.ok and down.status_code == 503
    assert down.error == "Status 503, expected 200-299,301."
    accepted = probe(ProbeSpec(f"{http_server.url}/down", expected=parse_statuses("503")))
    assert accepted.ok


def test_keyword_must_be_in_the_body(http_server):
    http_server.routes["/health"] = Route(200, b'{"status": "ok", "db": "up"}')
    assert probe(ProbeSpec(f"{http_server.url}/health", keyword='"db": "up"')).ok
    missing = probe(ProbeSpec(f"{http_server.url}/health", keyword="ready"))
    assert not missing.ok and missing.status_code == 200
    assert missing.error == "The response does not contain “ready”."


def test_post_and_head_with_headers_arrive_as_sent(http_server):
    http_server.routes["/ping"] = Route(204, b"")
    spec = ProbeSpec(f"{http_server.url}/ping", method="POST", headers={"X-Probe": "dockmon", "Accept": "text/plain"})
    assert probe(spec).ok
    assert probe(ProbeSpec(f"{http_server.url}/ping", method="HEAD")).ok
    post, head = http_server.requests
    assert (post.method, head.method) == ("POST", "HEAD")
    assert post.headers["X-Probe"] == "dockmon" and post.headers["Accept"] == "text/plain"
    assert post.headers["User-Agent"] == "DockMon health check"


def test_basic_and_bearer_auth_arrive(http_server):
    http_server.routes["/private"] = Route(200)
    assert probe(ProbeSpec(f"{http_server.url}/private", auth_kind="basic", username="ops", secret="s3cret:x")).ok
    assert probe(ProbeSpec(f"{http_server.url}/private", auth_kind="bearer", secret="tok-123")).ok
    basic, bearer = (seen.headers["Authorization"] for seen in http_server.requests)
    assert basic == "Basic " + base64.b64encode(b"ops:s3cret:x").decode()
    assert bearer == "Bearer tok-123"


def test_a_slow_server_times_out_with_a_clear_error(http_server):
    http_server.routes["/slow"] = Route(200, delay=1.5)
    outcome = probe(ProbeSpec(f"{http_server.url}/slow", timeout=0.3))
    assert not outcome.ok and outcome.status_code is None
    assert outcome.error == "No response within 0.3 s."


def test_nothing_listening_is_said_plainly(http_server):
    port = http_server.port
    http_server.shutdown()
    http_server.server_close()
    outcome = probe(ProbeSpec(f"http://127.0.0.1:{port}/"))
    assert outcome.error == "Could not connect: Connection refused."


def test_redirects_are_followed_hop_by_hop_or_not_at_all(http_server):
    http_server.routes["/a"] = Route.redirect("/b", 301)
    http_server.routes["/b"] = Route(302, headers={"Location": f"{http_server.url}/c"})
    http_server.routes["/c"] = Route(200, b"arrived")
    followed = probe(ProbeSpec(f"{http_server.url}/a", keyword="arrived"))
    assert followed.ok and followed.status_code == 200
    assert [seen.path for seen in http_server.requests] == ["/a", "/b", "/c"]
    kept = probe(ProbeSpec(f"{http_server.url}/a", follow_redirects=False, expected=parse_statuses("301")))
    assert kept.ok and kept.status_code == 301


def test_a_redirect_loop_stops_after_ten_hops(http_server):
    http_server.routes["/loop"] = Route.redirect("/loop")
    outcome = probe(ProbeSpec(f"{http_server.url}/loop"))
    assert outcome.error == "More than 10 redirects."
    assert len(http_server.requests) == 11


@pytest.mark.parametrize(
    "target",
    ["http://169.254.169.254/latest/meta-data/", "http://metadata.google.internal/computeMetadata/v1/",
     "http://[fd00:ec2::254]/", "http://100.100.100.200/"],
)  # fmt: skip
def test_a_redirect_to_a_metadata_address_is_refused_without_connecting(http_server, target):
    http_server.routes["/go"] = Route.redirect(target)
    started = time.monotonic()
    outcome = probe(ProbeSpec(f"{http_server.url}/go", timeout=5))
    # Nothing answers at these addresses here: connecting would have taken the whole timeout.
    assert time.monotonic() - started < 2
    assert not outcome.ok
    assert outcome.error.startswith("Refused: ") and "is a cloud metadata address" in outcome.error


def test_a_name_that_resolves_to_a_metadata_address_is_refused_at_run_time(http_server):
    http_server.routes["/go"] = Route.redirect("http://innocent.example/")

    def rebinding_dns(host: str, port: int) -> list[str]:
        return ["169.254.169.254"] if host == "innocent.example" else ["127.0.0.1"]

    outcome = probe(ProbeSpec(f"{http_server.url}/go"), resolver=rebinding_dns)
    assert (
        outcome.error
        == "Refused: innocent.example (169.254.169.254) is a cloud metadata address: DockMon does not check it."
    )
    assert [seen.path for seen in http_server.requests] == ["/go"]


def test_only_http_and_https_are_checked():
    for url in ("ftp://example.org/", "file:///etc/passwd", "gopher://x/", "example.org"):
        with pytest.raises(Refused, match=re.escape("Only http:// and https:// URLs can be checked.")):
            check_url(url, resolver=None)
    for url in ("http://[fe80::1]/", "http://169.254.1.1:8080/", "http://[::ffff:169.254.169.254]/"):
        with pytest.raises(Refused, match="cloud metadata address"):
            check_url(url, resolver=None)
    check_url("http://127.0.0.1:8080/health", resolver=None)
    check_url("https://web:8443/", resolver=None)
