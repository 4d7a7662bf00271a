"""The loopback HTTP server that serves the bundled sample feeds to the demo and the tests.

The feeds go through the real polling path (HTTP, validators, parsing), only offline.
"""

from __future__ import annotations

import functools
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

FEEDS_DIR = Path(__file__).resolve().parent / "feeds"
PREFERRED_PORT = 8765


class _QuietHandler(SimpleHTTPRequestHandler):
    extensions_map = {**SimpleHTTPRequestHandler.extensions_map, ".xml": "application/xml"}

    def log_message(self, *args: object) -> None:
        pass


class FeedServer:
    """Serves FEEDS_DIR on 127.0.0.1, on the preferred port when it is free."""

    def __init__(self, directory: Path = FEEDS_DIR, port: int = PREFERRED_PORT) -> None:
        handler = functools.partial(_QuietHandler, directory=str(directory))
        try:
            self.httpd = ThreadingHTTPServer(("127.0.0.1", port), handler)
        except OSError:
            self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> FeedServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
