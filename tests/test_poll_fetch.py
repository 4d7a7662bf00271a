"""HTTP behaviour against a real server on 127.0.0.1: validators, limits, redirects, the guard."""

import asyncio
import contextlib
import gzip
import threading
import time
import zlib

import pytest

from aggregator.poll import fetch as fetch_module
from aggregator.poll.fetch import Fetcher, refusal
from tests.loopback import Response
from tests.poll_helpers import item, rss, settings

BODY = rss(item(1), item(2))


def fetch(url, etag=None, last_modified=None, **changes):
    async def go():
        async with Fetcher(settings(**changes)) as fetcher:
            return await fetcher.fetch(url, etag, last_modified)

    return asyncio.run(go())


def fetch_all(urls, **changes):
    async def go():
        async with Fetcher(settings(**changes)) as fetcher:
            return await asyncio.gather(*(fetcher.fetch(url) for url in urls))

    return asyncio.run(go())


def raw(handler_writes):
    """A route that writes raw bytes to the socket (for streaming and broken responses)."""

    def handler(request):
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            handler_writes(request.handler.wfile)
        request.handler.close_connection = True

    return handler


def test_duration_is_the_time_the_fetch_took(server):
    """duration_ms (stored in fetches) measures the fetch, body included: a server that
    answers after 300 ms and sends its body 200 ms later gives at least 500."""

    def slow(out):
        time.sleep(0.3)
        out.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\n")
        out.write(b"Content-Length: %d\r\n\r\n" % len(BODY))
        out.flush()
        time.sleep(0.2)
        out.write(BODY)

    result = fetch(server.route("/slow.xml", handler=raw(slow)))
    assert result.kind == "ok" and result.body == BODY
    assert 500 <= result.duration_ms < 5000, result.duration_ms


def test_plain_fetch_keeps_validators_and_caching_headers(server):
    url = server.route(
        "/feed.xml",
        BODY,
        headers={
            "ETag": '"v1"',
            "Last-Modified": "Sat, 21 Nov 2026 10:00:00 GMT",
            "Cache-Control": "max-age=60",
            "Content-Type": "application/rss+xml",
        },
    )
    result = fetch(url)
    assert (result.kind, result.status, result.http_status, result.error) == (
        "ok",
        "HTTP 200 OK",
        200,
        None,
    )
    assert result.body == BODY
    assert result.headers["etag"] == '"v1"'
    assert result.headers["cache-control"] == "max-age=60"
    assert not result.conditional
    sent = server.hits("/feed.xml")[0].headers
    assert "If-None-Match" not in sent
    assert sent["User-Agent"].startswith("news-aggregator/")
    assert "gzip" in sent["Accept-Encoding"]


def test_conditional_get_sends_validators_and_understands_304(server):
    def handler(request):
        if request.headers.get("If-None-Match") == '"v1"':
            return Response(b"", 304, {"ETag": '"v1"'})
        return Response(BODY, 200, {"ETag": '"v1"'})

    url = server.route("/feed.xml", handler=handler)
    result = fetch(url, etag='"v1"', last_modified="Sat, 21 Nov 2026 10:00:00 GMT")
    assert (result.kind, result.status, result.http_status) == ("not_modified", "not modified", 304)
    assert result.conditional and result.body is None
    sent = server.hits("/feed.xml")[0].headers
    assert sent["If-Modified-Since"] == "Sat, 21 Nov 2026 10:00:00 GMT"
    assert fetch(url, etag='"v0"').kind == "ok"  # a changed ETag gets the body


@pytest.mark.parametrize("encoding", ["gzip", "x-gzip", "deflate", "raw-deflate"])
def test_compressed_bodies_are_decoded(server, encoding):
    if encoding == "raw-deflate":
        packer = zlib.compressobj(wbits=-zlib.MAX_WBITS)
        body, header = packer.compress(BODY) + packer.flush(), "deflate"
    elif encoding == "deflate":
        body, header = zlib.compress(BODY), "deflate"
    else:
        body, header = gzip.compress(BODY), encoding
    url = server.route("/z", body, headers={"Content-Encoding": header})
    result = fetch(url)
    assert result.kind == "ok" and result.body == BODY


def test_corrupt_or_unknown_encodings_are_errors(server):
    url = server.route("/bad", b"definitely not gzip", headers={"Content-Encoding": "gzip"})
    assert fetch(url).error == "protocol"
    url = server.route("/br", b"xx", headers={"Content-Encoding": "br"})
    assert fetch(url).status == "unsupported content encoding 'br'"


def test_declared_oversized_body_is_refused_before_reading(server):
    url = server.route("/big", b"x" * 2000)
    result = fetch(url, max_body_bytes=1000)
    assert result.error == "too_large"
    assert "2,000 bytes" in result.status


def test_cap_is_enforced_while_streaming_an_endless_body(server):
    def endless(out):
        out.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\n\r\n")
        for _ in range(10_000):  # 640 MB if nobody stops reading
            out.write(b"<x>" + b"y" * 65_530 + b"</x>")

    url = server.route("/endless", handler=raw(endless))
    started = time.monotonic()
    result = fetch(url, max_body_bytes=200_000, timeout_s=20)
    assert result.error == "too_large", result.status
    assert time.monotonic() - started < 5  # cut off at the cap, not at the timeout


def test_gzip_that_expands_past_the_cap_is_refused_without_inflating_it(server):
    bomb = gzip.compress(b"\0" * 50_000_000)  # ~50 KB on the wire, 50 MB inflated
    url = server.route("/bomb", bomb, headers={"Content-Encoding": "gzip"})
    result = fetch(url, max_body_bytes=1_000_000)
    assert len(bomb) < 1_000_000
    assert result.error == "too_large"


def test_decoder_never_inflates_more_than_asked():
    decoder = fetch_module.Decoder("gzip", 200)
    piece = decoder.decode(gzip.compress(b"\0" * 10_000_000), 1001)
    assert len(piece) == 1001


def test_slow_drip_hits_the_total_deadline(server):
    def drip(out):
        out.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
        for _ in range(100):
            out.write(b"<")
            out.flush()
            time.sleep(0.1)  # each byte well inside any read timeout

    url = server.route("/drip", handler=raw(drip))
    started = time.monotonic()
    result = fetch(url, timeout_s=1.0)
    elapsed = time.monotonic() - started
    assert result.error == "timeout" and result.status.startswith("timeout")
    assert 0.9 < elapsed < 3


def test_server_that_never_answers_times_out(server):
    url = server.route("/silent", handler=raw(lambda out: time.sleep(3)))
    result = fetch(url, timeout_s=0.5)
    assert result.error == "timeout"


def test_redirects_are_followed_and_recorded(server):
    server.route("/old", status=301, headers={"Location": "/new"})
    server.route("/new", status=302, headers={"Location": server.url("/feed.xml")})
    server.route("/feed.xml", BODY)
    result = fetch(server.url("/old"))
    assert result.kind == "ok" and result.final_url == server.url("/feed.xml")


def test_redirect_loops_and_long_chains_stop(server):
    server.route("/a", status=302, headers={"Location": "/b"})
    server.route("/b", status=302, headers={"Location": "/a"})
    loop = fetch(server.url("/a"))
    assert loop.error == "redirects" and loop.status.startswith("redirect loop")
    for n in range(10):
        server.route(f"/hop{n}", status=307, headers={"Location": f"/hop{n + 1}"})
    chain = fetch(server.url("/hop0"), max_redirects=3)
    assert chain.error == "redirects" and chain.status == "too many redirects (more than 3)"
    assert len(server.hits("/hop0") + server.hits("/hop3") + server.hits("/hop4")) == 2


def test_redirect_to_another_scheme_is_refused(server):
    server.route("/ftp", status=302, headers={"Location": "ftp://files.example/feed"})
    result = fetch(server.url("/ftp"))
    assert result.error == "redirects" and "non-http" in result.status


@pytest.mark.parametrize(
    ("status", "text"),
    [
        (404, "HTTP 404 Not Found"),
        (410, "HTTP 410 Gone"),
        (500, "HTTP 500 Internal Server Error"),
        (503, "HTTP 503 Service Unavailable"),
        (599, "HTTP 599"),
    ],
)
def test_http_errors_are_named(server, status, text):
    url = server.route("/e", b"oops", status=status)
    result = fetch(url)
    assert (result.kind, result.error, result.http_status, result.status) == (
        "error",
        "http",
        status,
        text,
    )


def test_429_keeps_retry_after(server):
    url = server.route("/busy", status=429, headers={"Retry-After": "3600"})
    result = fetch(url)
    assert result.status == "HTTP 429 Too Many Requests"
    assert result.headers["retry-after"] == "3600"


def test_dns_and_connection_errors(server):
    assert fetch("http://no-such-host.invalid/feed").error == "dns"
    closed = fetch("http://127.0.0.1:9/feed")  # discard port: nothing listens
    assert (closed.error, closed.status) == ("connect", "connection refused")


def test_truncated_body_is_an_error(server):
    def short(out):
        out.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n<rss>")

    result = fetch(server.route("/short", handler=raw(short)))
    assert result.error == "protocol"


# --- the private-address guard ---------------------------------------------------------------

PRIVATE_SPELLINGS = [
    "http://127.0.0.1:{port}/feed.xml",
    "http://localhost:{port}/feed.xml",
    "http://2130706433:{port}/feed.xml",  # decimal
    "http://0x7f000001:{port}/feed.xml",  # hex
    "http://0x7f.1:{port}/feed.xml",
    "http://127.1:{port}/feed.xml",
    "http://[::ffff:127.0.0.1]:{port}/feed.xml",  # IPv4-mapped IPv6
    "http://[::ffff:7f00:1]:{port}/feed.xml",
]


@pytest.mark.parametrize("spelling", PRIVATE_SPELLINGS)
def test_loopback_is_refused_in_every_spelling(server, spelling):
    server.route("/feed.xml", BODY)
    result = fetch(spelling.format(port=server.port), allow_private_addresses=False)
    assert result.error == "refused", result.status
    assert "loopback" in result.status and "allow_private_addresses" in result.status
    assert server.requests == []  # not one byte reached the server


def test_ipv6_loopback_is_refused():
    result = fetch("http://[::1]:9/feed.xml", allow_private_addresses=False)
    assert result.error == "refused"


def test_loopback_is_allowed_when_configured(server):
    server.route("/feed.xml", BODY)
    for spelling in PRIVATE_SPELLINGS:
        assert fetch(spelling.format(port=server.port)).kind == "ok", spelling


def test_every_redirect_hop_is_checked(server, monkeypatch):
    """127.0.0.1 stands in for a public address here; the redirect goes to 127.0.0.2."""
    monkeypatch.setattr(
        fetch_module, "refusal", lambda address: None if address == "127.0.0.1" else "private x"
    )
    server.route("/start", status=302, headers={"Location": f"http://127.0.0.2:{server.port}/in"})
    result = fetch(server.url("/start"), allow_private_addresses=False)
    assert result.error == "refused" and "127.0.0.2" in result.status
    assert len(server.hits("/start")) == 1 and server.hits("/in") == []


def test_the_socket_connects_to_the_address_that_was_checked(server, monkeypatch):
    """One resolution, then a connection to exactly that address: the host name below does not
    exist in DNS, so a second lookup (as a rebinding attack would need) could not connect."""
    lookups = []

    async def resolve(host, port):
        lookups.append(host)
        return ["127.0.0.1"]

    monkeypatch.setattr(fetch_module, "resolve", resolve)
    server.route("/feed.xml", BODY)
    result = fetch(f"http://feeds.rebind.invalid:{server.port}/feed.xml")
    assert result.kind == "ok"
    assert lookups == ["feeds.rebind.invalid"]
    assert server.hits("/feed.xml")[0].headers["Host"].startswith("feeds.rebind.invalid")


def test_a_host_with_any_private_address_is_refused(monkeypatch):
    async def resolve(host, port):
        return ["93.184.215.14", "10.0.0.7"]

    monkeypatch.setattr(fetch_module, "resolve", resolve)
    result = fetch("http://mixed.invalid/feed", allow_private_addresses=False)
    assert result.error == "refused" and "10.0.0.7" in result.status


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),
        ("0.0.0.0", "unspecified"),
        ("100.64.0.1", "non-public"),
        ("224.0.0.1", "multicast"),
        ("::1", "loopback"),
        ("fe80::1%eth0", "link-local"),
        ("fc00::1", "private"),
        ("::ffff:10.0.0.1", "private"),
        ("::ffff:169.254.169.254", "link-local"),
        ("64:ff9b::7f00:1", "loopback"),
        ("2002:7f00:1::", "loopback"),
        ("240.0.0.1", "reserved"),
    ],
)
def test_refusal_reasons(address, reason):
    assert reason in (refusal(address) or "")


@pytest.mark.parametrize("address", ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111"])
def test_public_addresses_are_allowed(address):
    assert refusal(address) is None


# --- politeness ------------------------------------------------------------------------------


def counting_handler(body, delay=0.0):
    state = {"now": 0, "max": 0, "starts": []}
    lock = threading.Lock()

    def handler(request):
        with lock:
            state["now"] += 1
            state["max"] = max(state["max"], state["now"])
            state["starts"].append(time.monotonic())
        time.sleep(delay)
        with lock:
            state["now"] -= 1
        return Response(body)

    return handler, state


def test_per_host_concurrency_is_respected(server):
    handler, state = counting_handler(BODY, delay=0.2)
    server.route("/feed.xml", handler=handler)
    urls = [server.url(f"/feed.xml?n={n}") for n in range(6)]
    results = fetch_all(urls, per_host_concurrency=2, concurrency=16)
    assert all(r.kind == "ok" for r in results)
    assert state["max"] == 2


def test_per_host_interval_spaces_requests(server):
    handler, state = counting_handler(BODY)
    server.route("/feed.xml", handler=handler)
    urls = [server.url(f"/feed.xml?n={n}") for n in range(4)]
    fetch_all(urls, per_host_concurrency=4, per_host_interval_s=0.25)
    gaps = [b - a for a, b in zip(state["starts"], state["starts"][1:], strict=False)]
    assert len(gaps) == 3 and min(gaps) >= 0.2


def test_different_hosts_are_fetched_concurrently(server):
    handler, state = counting_handler(BODY, delay=0.3)
    server.route("/feed.xml", handler=handler)
    hosts = ["127.0.0.1", "localhost"]  # one server, two host names: two politeness queues
    urls = [f"http://{host}:{server.port}/feed.xml" for host in hosts]
    started = time.monotonic()
    results = fetch_all(urls, per_host_concurrency=1, per_host_interval_s=5)
    assert all(r.kind == "ok" for r in results), [r.status for r in results]
    assert state["max"] == 2 and time.monotonic() - started < 2


@pytest.mark.parametrize("location", ["javascript:alert(1)", "mailto:a@b.example", "data:,x"])
def test_redirects_to_other_schemes_are_named_and_never_followed(server, location):
    server.route("/js", status=302, headers={"Location": location})
    result = fetch(server.url("/js"))
    assert (result.error, result.http_status) == ("redirects", 302)
    assert result.status.startswith("redirect to a non-http URL")
    assert len(server.requests) == 1


def test_a_redirect_to_an_unparsable_url_is_a_redirect_error(server):
    server.route("/bad", status=302, headers={"Location": "http://[::1"})
    result = fetch(server.url("/bad"))
    assert result.error == "redirects" and "invalid URL" in result.status


# --- issue 10, section 5 -----------------------------------------------------------------------


def test_a_304_to_a_request_without_validators_is_an_error(server):
    """Nothing was asked about, so "not modified" delivered nothing (a conditional 304 stays a
    success: test_conditional_get_sends_validators_and_understands_304)."""
    url = server.route("/feed.xml", b"", status=304)
    result = fetch(url)
    assert (result.kind, result.error, result.http_status) == ("error", "http", 304)
    assert result.status.startswith("HTTP 304 Not Modified to a request without validators")
    assert fetch(url, etag='"v1"').kind == "not_modified"


@pytest.mark.parametrize(
    "location",
    ["http://127.0.0.1:99999/feed.xml", "http://127.0.0.1:0/feed.xml", "http://127.0.0.1:-1/x"],
)
def test_a_redirect_to_an_impossible_port_is_a_bad_redirect_target(server, location):
    server.route("/moved", status=301, headers={"Location": location})
    result = fetch(server.url("/moved"))
    assert (result.error, result.http_status) == ("redirects", 301), result.status
    assert result.status.startswith(f"bad redirect target ({location}: port ")
    assert len(server.requests) == 1


def test_many_empty_gzip_members_are_refused_by_count(server):
    body = gzip.compress(b"") * 200_000  # 4 MB that inflates to nothing
    url = server.route("/members", body, headers={"Content-Encoding": "gzip"})
    result = fetch(url, max_body_bytes=10_000_000)
    assert (result.error, result.status) == ("protocol", "too many gzip members (more than 1,000)")
    some = b"".join(gzip.compress(b"<%d>" % n) for n in range(fetch_module.MAX_GZIP_MEMBERS))
    url = server.route("/some-members", some, headers={"Content-Encoding": "gzip"})
    result = fetch(url)
    assert result.kind == "ok" and result.body == b"".join(b"<%d>" % n for n in range(1000))
