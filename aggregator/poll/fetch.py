"""HTTP for feeds: conditional GET, limits, politeness per host and the private-address guard.

One `Fetcher` per poll run shares an httpx.AsyncClient (connection reuse) across all feeds.
Every fetch ends in a `FetchResult`, never an exception: the error kind and a human-readable
status are what the `fetches` table records.

The address guard lives in the network backend, so it runs at connect time on the first request
and on every redirect: the host name is resolved once, every address is checked, and the socket
connects to a checked address (a DNS answer that changes between check and connect, "DNS
rebinding", cannot slip through). Decimal, octal, hex and IPv4-mapped IPv6 spellings of an
address resolve to the address itself, so they are checked as what they are.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import socket
import ssl
import time
import zlib
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from functools import partial
from http import HTTPStatus
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpcore
import httpx

from aggregator.config import Settings

ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml;q=0.9, "
    "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
)
KEPT_HEADERS = (
    "etag",
    "last-modified",
    "cache-control",
    "expires",
    "retry-after",
    "content-type",
    "content-location",
    "content-language",
)
REDIRECTS = (301, 302, 303, 307, 308)
CHUNK = 64 * 1024
# A gzip body may be several members end to end; empty ones inflate to nothing, so without a
# limit a server could keep the decoder busy (and, decoded recursively, overflow the stack).
MAX_GZIP_MEMBERS = 1000


@dataclass(frozen=True)
class FetchResult:
    """How one fetch ended. `kind` is 'ok' (body), 'not_modified' (304) or 'error'."""

    url: str
    kind: str
    status: str  # human-readable: "HTTP 200 OK", "not modified", "DNS error: ...", "timed out"
    duration_ms: int
    http_status: int | None = None
    error: str | None = None  # error kind: dns, connect, tls, timeout, too_large, redirects...
    final_url: str | None = None
    body: bytes | None = None
    size: int | None = None  # bytes of body received (kept when the body itself is dropped)
    headers: dict[str, str] = field(default_factory=dict)
    conditional: bool = False  # validators were sent


class FetchError(Exception):
    """A fetch that failed; `kind` is the error kind stored in fetches.error."""

    def __init__(self, kind: str, status: str, http_status: int | None = None) -> None:
        super().__init__(status)
        self.kind = kind
        self.status = status
        self.http_status = http_status


class AddressRefused(Exception):
    """The host resolves to an address feeds may not reach (loopback, private, link-local...)."""


class DNSFailure(Exception):
    """The host name did not resolve."""


def refusal(address: str) -> str | None:
    """Why `address` may not be fetched from, or None when it is a public unicast address."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return "not an IP address"
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if ip in ipaddress.IPv6Network("64:ff9b::/96"):  # NAT64 carries an IPv4 address too
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            reason = refusal(str(embedded))
            if reason:
                return reason
    for name in ("loopback", "link_local", "unspecified", "multicast", "reserved", "private"):
        if getattr(ip, f"is_{name}"):
            return f"{name.replace('_', '-')} address"
    if not ip.is_global:
        return "non-public address"
    return None


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, connecting only to addresses the guard accepts."""

    def __init__(self, allow_private: bool) -> None:
        self.allow_private = allow_private
        self.inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await resolve(host, port)
        if not self.allow_private:
            for address in addresses:
                reason = refusal(address)
                if reason:
                    named = address if host.strip("[]") == address else f"{host} ({address})"
                    raise AddressRefused(f"{named} is a {reason}")
        failure: Exception | None = None
        for address in addresses:
            try:
                return await self.inner.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None
        raise failure

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


async def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to, IPv4 and IPv6, in the resolver's order, once."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            host.strip("[]"), port, type=socket.SOCK_STREAM
        )
    except socket.gaierror as exc:
        raise DNSFailure(exc.strerror or str(exc)) from None
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise DNSFailure("no addresses")
    return addresses


@functools.cache
def ssl_context() -> ssl.SSLContext:
    """Certificate verification with the system CA bundle, loaded once per process (~50 ms)."""
    return httpx.create_ssl_context(trust_env=False)


# httpcore's errors as httpx's, most specific first, so callers see one family of exceptions
# (the same correspondence httpx's own transport applies).
HTTPCORE_ERRORS: tuple[tuple[type[Exception], type[httpx.TransportError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.ProxyError, httpx.ProxyError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
)


@contextlib.contextmanager
def _as_httpx_errors() -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        for core, mapped in HTTPCORE_ERRORS:
            if isinstance(exc, core):
                raise mapped(str(exc)) from exc
        raise


class _Body(httpx.AsyncByteStream):
    """A response body from httpcore, read through httpx, with httpcore's errors mapped."""

    def __init__(self, stream: AsyncIterable[bytes]) -> None:
        self.stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _as_httpx_errors():
            async for chunk in self.stream:
                yield chunk

    async def aclose(self) -> None:
        close = getattr(self.stream, "aclose", None)
        if close is not None:
            await close()


class GuardedTransport(httpx.AsyncBaseTransport):
    """An httpx transport over an httpcore connection pool whose network backend is the guard.

    Built only from public interfaces (httpx's `AsyncBaseTransport`, httpcore's
    `AsyncConnectionPool(network_backend=...)`): httpx's own transport offers no way to pass a
    network backend, and replacing its private pool would let an httpx upgrade drop the guard
    without a word."""

    def __init__(self, settings: Settings) -> None:
        connections = max(settings.concurrency, 1)
        self.pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context(),
            max_connections=connections,
            max_keepalive_connections=connections,
            keepalive_expiry=httpx.Limits().keepalive_expiry,
            network_backend=GuardedBackend(settings.allow_private_addresses),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.AsyncByteStream)
        url = request.url
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        with _as_httpx_errors():
            response = await self.pool.handle_async_request(core_request)
        assert isinstance(response.stream, AsyncIterable)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_Body(response.stream),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self.pool.aclose()


class HostGate:
    """Politeness for one host: at most N requests at once, starts at least `interval` apart."""

    def __init__(self, concurrency: int, interval_s: float) -> None:
        self.semaphore = asyncio.Semaphore(max(concurrency, 1))
        self.interval_s = interval_s
        self.lock = asyncio.Lock()
        self.next_start = 0.0

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        async with self.semaphore:
            if self.interval_s > 0:
                async with self.lock:
                    loop = asyncio.get_running_loop()
                    wait = self.next_start - loop.time()
                    if wait > 0:
                        await asyncio.sleep(wait)
                    self.next_start = loop.time() + self.interval_s
            yield


class Fetcher:
    """Fetches feeds concurrently across hosts and politely per host. Use `async with`."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.client = httpx.AsyncClient(
            transport=GuardedTransport(settings),
            timeout=httpx.Timeout(settings.timeout_s),
            follow_redirects=False,  # followed by hand: bounded, loop-checked, http(s) only
            trust_env=False,  # a proxy would connect for us and bypass the address guard
            headers={"User-Agent": settings.user_agent, "Accept": ACCEPT},
            # before httpx parses Location (which fails on "javascript:..." with a vague error)
            event_hooks={"response": [_refuse_non_http_redirect]},
        )
        self.gates: dict[str, HostGate] = {}
        self.slots = asyncio.Semaphore(max(settings.concurrency, 1))

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.client.aclose()

    def gate(self, url: str) -> HostGate:
        host = (urlsplit(url).hostname or "").lower()
        if host not in self.gates:
            s = self.settings
            self.gates[host] = HostGate(s.per_host_concurrency, s.per_host_interval_s)
        return self.gates[host]

    async def fetch(
        self,
        url: str,
        etag: str | None = None,
        last_modified: str | None = None,
        *,
        gated: bool = True,
    ) -> FetchResult:
        """GET `url` (conditionally when validators are given); never raises for network trouble.

        `gated=False`: the caller already holds the host's `gate(url).slot()`."""
        validators = {}
        if etag:
            validators["If-None-Match"] = etag
        if last_modified:
            validators["If-Modified-Since"] = last_modified
        polite = self.gate(url).slot() if gated else contextlib.nullcontext()
        async with polite, self.slots:
            started = time.monotonic()
            try:
                async with asyncio.timeout(self.settings.timeout_s):
                    result = await self._follow(url, validators)
            except FetchError as exc:
                result = _failed(url, exc.kind, exc.status, exc.http_status)
            except (TimeoutError, httpx.TimeoutException, httpcore.TimeoutException):
                status = f"timeout (no complete response within {self.settings.timeout_s:g} s)"
                result = _failed(url, "timeout", status)
            except Exception as exc:  # noqa: BLE001 (every network failure is a result)
                kind, status = describe(exc)
                result = _failed(url, kind, status)
        duration = int((time.monotonic() - started) * 1000)
        return _with(result, url=url, duration_ms=duration, conditional=bool(validators))

    async def _follow(self, url: str, validators: dict[str, str]) -> FetchResult:
        seen = {url}
        for _ in range(self.settings.max_redirects + 1):
            request = self.client.build_request(
                "GET", url, headers={**validators, "Accept-Encoding": "gzip, deflate"}
            )
            response = await self.client.send(request, stream=True)
            try:
                if response.status_code in REDIRECTS and "location" in response.headers:
                    url = _redirect_target(url, response, seen)
                    continue
                return await self._finish(url, response, conditional=bool(validators))
            finally:
                await response.aclose()
        limit = self.settings.max_redirects
        raise FetchError("redirects", f"too many redirects (more than {limit})")

    async def _finish(
        self, url: str, response: httpx.Response, *, conditional: bool
    ) -> FetchResult:
        code = response.status_code
        kept = {name: response.headers[name] for name in KEPT_HEADERS if name in response.headers}
        result = partial(FetchResult, url, final_url=url, http_status=code, headers=kept)
        if code == 304 and not conditional:
            # "Not modified" since what? Nothing was asked about, so nothing was delivered: on
            # a first fetch, counting it a success would show a feed that never worked as fine.
            status = "HTTP 304 Not Modified to a request without validators (nothing delivered)"
            return result(kind="error", status=status, duration_ms=0, error="http")
        if code == 304:
            return result(kind="not_modified", status="not modified", duration_ms=0)
        if not 200 <= code < 300:
            return result(kind="error", status=http_status_text(code), duration_ms=0, error="http")
        body = await read_capped(response, self.settings.max_body_bytes)
        status = http_status_text(code)
        return result(kind="ok", status=status, duration_ms=0, body=body, size=len(body))


async def _refuse_non_http_redirect(response: httpx.Response) -> None:
    """Name a bad redirect before httpx parses its Location (its own errors are vague)."""
    location = response.headers.get("location", "").strip()
    if response.status_code not in REDIRECTS or not location:
        return
    scheme = location.split(":", 1)[0].lower() if ":" in location else ""
    if scheme.isalpha() and scheme not in ("http", "https"):
        raise FetchError(
            "redirects", f"redirect to a non-http URL ({location[:80]})", response.status_code
        )
    try:
        httpx.URL(location)
    except httpx.InvalidURL as exc:
        status = f"redirect to an invalid URL ({location[:80]}: {exc})"
        raise FetchError("redirects", status, response.status_code) from None


def _redirect_target(url: str, response: httpx.Response, seen: set[str]) -> str:
    target = urljoin(url, response.headers["location"].strip())
    if urlsplit(target).scheme.lower() not in ("http", "https"):
        raise FetchError(
            "redirects", f"redirect to a non-http URL ({target[:80]})", response.status_code
        )
    # httpx takes any port number and no host; the connection would then fail obscurely
    parsed = httpx.URL(target)
    if not parsed.host or (parsed.port is not None and not 1 <= parsed.port <= 65535):
        why = "no host" if not parsed.host else f"port {parsed.port} outside 1-65535"
        raise FetchError(
            "redirects", f"bad redirect target ({target[:80]}: {why})", response.status_code
        )
    if target in seen:
        raise FetchError("redirects", f"redirect loop ({target[:80]})", response.status_code)
    seen.add(target)
    return target


async def read_capped(response: httpx.Response, cap: int) -> bytes:
    """The decoded body, refusing anything over `cap` bytes as it streams in, compressed or not:
    a gzip body that expands past the cap is cut off without ever being inflated in memory."""
    declared = response.headers.get("content-length", "").strip().lstrip("0")
    # ASCII digits only (isdigit() takes "²", which int() refuses), and no int() of a huge one
    if (
        declared.isascii()
        and declared.isdigit()
        and (len(declared) > len(str(cap)) or int(declared) > cap)
    ):
        size = f"{int(declared):,} bytes" if len(declared) <= 30 else f"{len(declared)}-digit size"
        raise FetchError("too_large", f"body too large ({size}, cap {cap:,})", response.status_code)
    decoder = Decoder(response.headers.get("content-encoding", ""), response.status_code)
    body = bytearray()
    async for chunk in response.aiter_raw(CHUNK):
        body += decoder.decode(chunk, cap - len(body) + 1)
        if len(body) > cap:
            raise FetchError(
                "too_large", f"body too large (over the {cap:,} byte cap)", response.status_code
            )
    body += decoder.finish()
    if len(body) > cap:
        raise FetchError(
            "too_large", f"body too large (over the {cap:,} byte cap)", response.status_code
        )
    return bytes(body)


class Decoder:
    """Content-Encoding gzip/deflate/identity, inflating at most `limit` bytes per call."""

    def __init__(self, encoding: str, http_status: int) -> None:
        codings = [c.strip().lower() for c in encoding.split(",")]
        self.codings = [c for c in codings if c and c != "identity"]
        self.http_status = http_status
        if len(self.codings) > 1 or not set(self.codings) <= {"gzip", "x-gzip", "deflate"}:
            raise FetchError("protocol", f"unsupported content encoding {encoding!r}", http_status)
        self.inflater = self._inflater() if self.codings else None
        self.raw_deflate = False
        self.members = 1

    def _inflater(self) -> Any:
        # wbits: 16+ = gzip wrapper; 32+ = zlib or gzip auto-detected ("deflate" is zlib per RFC
        # 9110, but some servers send raw deflate: that is retried below).
        return zlib.decompressobj(16 + zlib.MAX_WBITS if self.codings[0] != "deflate" else 32 + 15)

    def decode(self, data: bytes, limit: int) -> bytes:
        if self.inflater is None:
            return data
        out, pending = b"", data
        try:
            while True:  # a loop, not recursion: one pass per gzip member in `data`
                tail = self.inflater.unconsumed_tail
                out += self.inflater.decompress(tail + pending, max(limit - len(out), 1))
                if not (self.inflater.eof and self.inflater.unused_data):
                    return out
                self.members += 1  # another gzip member follows
                if self.members > MAX_GZIP_MEMBERS:
                    raise FetchError(
                        "protocol",
                        f"too many gzip members (more than {MAX_GZIP_MEMBERS:,})",
                        self.http_status,
                    )
                pending = self.inflater.unused_data
                self.inflater = self._inflater()
        except zlib.error:
            if self.codings[0] == "deflate" and not self.raw_deflate:
                self.raw_deflate = True
                self.inflater = zlib.decompressobj(-zlib.MAX_WBITS)
                return self.decode(data, limit)
            raise FetchError("protocol", "corrupt compressed body", self.http_status) from None

    def finish(self) -> bytes:
        if self.inflater is None:
            return b""
        if not self.inflater.eof:
            raise FetchError("protocol", "truncated compressed body", self.http_status)
        return self.inflater.flush()


def http_status_text(code: int) -> str:
    """'HTTP 410 Gone' for any code, 'HTTP 599' when the code has no standard name."""
    try:
        return f"HTTP {code} {HTTPStatus(code).phrase}"
    except ValueError:
        return f"HTTP {code}"


def describe(exc: BaseException) -> tuple[str, str]:
    """(error kind, human-readable status) for a failure below HTTP."""
    text = str(exc) or type(exc).__name__
    if isinstance(exc, AddressRefused):
        return "refused", f"refused: {text} (allow_private_addresses is false)"
    if isinstance(exc, DNSFailure):
        return "dns", f"DNS error: {text}"
    if any(isinstance(cause, ssl.SSLError) for cause in _chain(exc)):
        return "tls", f"TLS error: {text}"
    if isinstance(exc, httpx.ConnectError | httpcore.ConnectError | ConnectionError):
        if any(isinstance(cause, ConnectionRefusedError) for cause in _chain(exc)):
            return "connect", "connection refused"
        return "connect", f"connection failed: {text}"
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return "bad_url", f"bad URL: {text}"
    if isinstance(exc, httpx.ProtocolError | httpx.DecodingError | httpx.ReadError):
        return "protocol", f"broken response: {text}"
    if isinstance(exc, OSError):
        return "connect", f"network error: {text}"
    return "other", f"{type(exc).__name__}: {text}"


def _failed(url: str, kind: str, status: str, http_status: int | None = None) -> FetchResult:
    return FetchResult(url, "error", status, 0, http_status, kind)


def _with(result: FetchResult, **changes: Any) -> FetchResult:
    return replace(result, **changes)


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception and everything it was raised from (httpx wraps ssl and socket errors)."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain
