"""A real HTTP server on 127.0.0.1 for tests: routes are set per test, requests are recorded.

    server.route("/feed.xml", body=b"<rss>...", headers={"ETag": '"v1"'})
    server.route("/slow", handler=lambda req: ...)   # full control over the raw response

Each route may be a fixed Response or a callable taking the request and returning a Response
(or writing to the socket itself and returning None).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Response:
    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    handler: BaseHTTPRequestHandler


Route = Response | Callable[[Request], Response | None]


class LoopbackServer:
    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[Request] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                path = self.path.split("?", 1)[0]
                request = Request("GET", self.path, dict(self.headers.items()), self)
                server.requests.append(request)
                route = server.routes.get(path) or server.routes.get(self.path)
                if route is None:
                    response: Response | None = Response(b"not found", 404)
                elif callable(route):
                    response = route(request)
                else:
                    response = route
                if response is not None:
                    self._send(response)

            def _send(self, response: Response) -> None:
                try:
                    self.send_response(response.status)
                    headers = {"Content-Length": str(len(response.body)), **response.headers}
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(response.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args: object) -> None:
                pass

        class Server(ThreadingHTTPServer):
            request_queue_size = 128  # a poll opens many connections at once

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        # A short poll interval makes stop() quick (http.server checks for shutdown this often),
        # so every test can afford a server of its own.
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def start(self) -> LoopbackServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def url(self, path: str) -> str:
        return self.base_url + path

    def route(
        self,
        path: str,
        body: bytes | str = b"",
        status: int = 200,
        headers: dict[str, str] | None = None,
        handler: Callable[[Request], Response | None] | None = None,
    ) -> str:
        """Serve `path`; return its full URL."""
        if handler is not None:
            self.routes[path] = handler
        else:
            if isinstance(body, str):
                body = body.encode("utf-8")
            self.routes[path] = Response(body, status, dict(headers or {}))
        return self.url(path)

    def hits(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.path.split("?", 1)[0] == path]
