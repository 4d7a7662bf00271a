"""Hostile behaviours for `tests.loopback.LoopbackServer` routes, as handler callables.

    server.route("/drip", handler=slow_drip(seconds=20))

Each handler writes the raw HTTP response itself and stops by itself: every loop is bounded in
bytes and in time, so a test never leaves a server thread writing forever, even when the client
under test is broken.
"""

from __future__ import annotations

import contextlib
import gzip
import time
from collections.abc import Callable

from tests.loopback import LoopbackServer, Request

Handler = Callable[[Request], None]
ENDLESS_LIMIT_S = 30.0  # no hostile handler writes for longer than this


def _raw(write: Callable[[Request], None]) -> Handler:
    def handler(request: Request) -> None:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError, OSError):
            write(request)
        request.handler.close_connection = True

    return handler


def _send(request: Request, data: bytes) -> None:
    request.handler.wfile.write(data)
    request.handler.wfile.flush()


def endless_chunked(chunk: bytes = b"<item>" + b"x" * 16_000 + b"</item>") -> Handler:
    """A 200 with Transfer-Encoding: chunked that never sends the last chunk."""

    def write(request: Request) -> None:
        _send(
            request,
            b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n",
        )
        _send(
            request,
            b"%x\r\n<rss version='2.0'><channel>\r\n" % len(b"<rss version='2.0'><channel>"),
        )
        deadline = time.monotonic() + ENDLESS_LIMIT_S
        while time.monotonic() < deadline:
            _send(request, b"%x\r\n%s\r\n" % (len(chunk), chunk))

    return _raw(write)


def slow_drip(seconds: float = 20.0, every: float = 0.5, chunked: bool = False) -> Handler:
    """Headers at once, then one byte of body every `every` seconds for `seconds`: each read
    comes well inside any read timeout, so only a total deadline stops it."""

    def write(request: Request) -> None:
        framing = b"Transfer-Encoding: chunked" if chunked else b"Content-Length: 100000"
        _send(
            request,
            b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\n" + framing + b"\r\n\r\n",
        )
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            _send(request, b"1\r\n<\r\n" if chunked else b"<")
            time.sleep(every)

    return _raw(write)


def slow_headers(seconds: float = 20.0, every: float = 0.5) -> Handler:
    """The status line, then one header byte at a time ("slow loris" in reverse)."""

    def write(request: Request) -> None:
        _send(request, b"HTTP/1.1 200 OK\r\n")
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            _send(request, b"X")
            time.sleep(every)

    return _raw(write)


def gzip_bomb(inflated_bytes: int) -> tuple[bytes, dict[str, str]]:
    """A gzip body (~1/1000 of `inflated_bytes` on the wire) and its headers."""
    return gzip.compress(b"\0" * inflated_bytes, compresslevel=9), {
        "Content-Encoding": "gzip",
        "Content-Type": "application/rss+xml",
    }


def nested_gzip_bomb(inflated_bytes: int) -> tuple[bytes, dict[str, str]]:
    """Many gzip members back to back, each expanding: the cap must count across members."""
    member = gzip.compress(b"\0" * 1_000_000, compresslevel=9)
    return member * (inflated_bytes // 1_000_000), {
        "Content-Encoding": "gzip",
        "Content-Type": "application/rss+xml",
    }


def lying_length(declared: int, actual: bytes) -> Handler:
    """Content-Length says one thing, the body another (then the connection closes)."""

    def write(request: Request) -> None:
        _send(
            request,
            b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\n"
            b"Content-Length: %d\r\n\r\n" % declared + actual,
        )

    return _raw(write)


def garbage_status_line() -> Handler:
    """Not HTTP at all."""
    return _raw(lambda request: _send(request, b"SSH-2.0-OpenSSH_9.6\r\n\x00\x01\x02garbage"))


def close_without_answer() -> Handler:
    """Accept the request and hang up."""
    return _raw(lambda request: None)


RSS = "<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel><title>{title}</title>"
END = "</channel></rss>"


def item(n: int, prefix: str, description: str | None = None) -> str:
    text = description if description is not None else f"Summary {n} of the {prefix} story."
    return (
        f"<item><title>{prefix} story {n}</title><link>https://{prefix}.example/s/{n}</link>"
        f"<guid>{prefix}-{n}</guid><description>{text}</description>"
        "<pubDate>Sat, 21 Nov 2026 10:00:00 GMT</pubDate></item>"
    )


def feed(prefix: str, count: int, description: str | None = None) -> bytes:
    items = "".join(item(n, prefix, description) for n in range(count))
    return (RSS.format(title=prefix) + items + END).encode()


def compact_feed(prefix: str, count: int) -> bytes:
    """Items of a title and a GUID only (~63 bytes each): the most entries a body under the
    cap can hold, so the most memory its parse and its parsed entries take (issue 10: 60,000
    items, 3.8 MB)."""
    items = "".join(
        f"<item><title>{prefix} story {n}</title><guid>{prefix}-{n}</guid></item>"
        for n in range(count)
    )
    return (RSS.format(title=prefix) + items + END).encode()


def hostile_routes(server: LoopbackServer, timeout_s: float, max_body: int) -> None:
    """Every hostile behaviour at its own path (tests/test_reliability_hostile.py says what
    each must end in); the slow ones last four times `timeout_s`."""
    for name in ("good-a", "good-b", "good-c"):
        server.route(f"/{name}.xml", feed(name, 3))
    server.route("/malformed.xml", feed("broken", 2).replace(b"</channel>", b"<unclosed>"))
    server.route(
        "/html-page.xml",
        b"<!DOCTYPE html><html><head><title>Hi</title></head><body><p>Not a feed</p></body></html>",
        headers={"Content-Type": "text/html"},
    )
    server.route("/empty-200.xml", b"")
    body, headers = gzip_bomb(200_000_000)
    server.route("/gzip-bomb.xml", body, headers=headers)
    body, headers = nested_gzip_bomb(50_000_000)
    server.route("/gzip-members-bomb.xml", body, headers=headers)
    server.route("/declared-too-large.xml", handler=lying_length(max_body * 10, b"<rss>"))
    server.route("/endless-chunked.xml", handler=endless_chunked())
    server.route("/slow-drip.xml", handler=slow_drip(seconds=timeout_s * 4))
    server.route("/slow-drip-chunked.xml", handler=slow_drip(seconds=timeout_s * 4, chunked=True))
    server.route("/slow-headers.xml", handler=slow_headers(seconds=timeout_s * 4))
    server.route("/redirect-loop-a.xml", status=302, headers={"Location": "/redirect-loop-b.xml"})
    server.route("/redirect-loop-b.xml", status=301, headers={"Location": "/redirect-loop-a.xml"})
    for n in range(20):
        server.route(
            f"/redirect-chain-{n}.xml",
            status=307,
            headers={"Location": f"/redirect-chain-{n + 1}.xml"},
        )
    server.route("/redirect-to-file.xml", status=302, headers={"Location": "file:///etc/passwd"})
    server.route("/not-http.xml", handler=garbage_status_line())
    server.route("/hang-up.xml", handler=close_without_answer())
    server.route("/short-body.xml", handler=lying_length(5000, feed("short", 1)[:200]))
    server.route("/server-error.xml", b"oops", status=500)
    server.route("/gone.xml", b"gone", status=410)
    canary = server.url("/canary")
    xxe = (
        f"<?xml version='1.0'?><!DOCTYPE rss SYSTEM '{canary}-dtd' "
        f"[<!ENTITY x SYSTEM '{canary}-entity'>]><rss version='2.0'><channel><title>x</title>"
        "<item><title>Leak &x; here</title><link>https://xxe.example/1</link></item>"
        "</channel></rss>"
    )
    server.route("/xxe-over-http.xml", xxe)
