"""`aggregator serve`: Datasette on the aggregator's database, with its metadata, templates,
stylesheet and plugin, in-process.

Datasette opens the file read-only (`mode=ro`; `immutable=1` on read-only media, where no
writer can exist). With WAL, it reads a consistent snapshot per query while
`aggregator run --loop` keeps writing, and never blocks it. Serving never creates, upgrades or
changes a database: a file that is not ours, or ours at an older schema, is refused.
"""

from __future__ import annotations

import errno
import socket
from importlib import resources
from pathlib import Path

import uvicorn
from datasette.app import Datasette
from datasette.plugins import pm

from aggregator import store
from aggregator.errors import UserError
from aggregator.publish import metadata, plugin

PLUGIN_NAME = "aggregator.publish"
PACKAGE = resources.files("aggregator.publish")

SETTINGS = {
    "default_page_size": 50,
    # Facets over 100,000 articles take tens of milliseconds; a busy 2-core machine needs room.
    "facet_time_limit_ms": 1500,
    "sql_time_limit_ms": 3000,
    # Suggestions try a facet on every column of every table page: seconds at 100,000 rows.
    # The useful facets are configured in metadata.yaml instead.
    "suggest_facets": False,
    "allow_download": False,
}


def make_datasette(db_path: str | Path) -> Datasette:
    """A Datasette instance for `db_path`, ready for `.client` (tests) or an ASGI server."""
    db_path = Path(db_path)
    if not db_path.is_file():
        raise UserError(f"{db_path}: no database yet (run `aggregator run` or `aggregator demo`)")
    conn = store.connect_readonly(db_path)  # refuses anything but ours at this version
    try:
        meta = metadata.build(db_path, conn)
    finally:
        conn.close()
    if pm.get_plugin(PLUGIN_NAME) is None:
        pm.register(plugin, name=PLUGIN_NAME)
    immutable = store.readonly_mode(db_path) == "immutable=1"
    return Datasette(
        [] if immutable else [str(db_path)],
        immutables=[str(db_path)] if immutable else [],
        metadata=meta,
        template_dir=str(PACKAGE / "templates"),
        static_mounts=[(plugin.STATIC_MOUNT, str(PACKAGE / "static"))],
        settings=SETTINGS,
    )


def serve(db_path: str | Path, host: str = "127.0.0.1", port: int = 8001) -> None:
    """Serve until interrupted, printing the address to open."""
    _check_port(host, port)
    datasette = make_datasette(db_path)
    shown = f"[{host}]" if ":" in host else host
    print(f"Serving {db_path} at http://{shown}:{port}/  (Ctrl+C to stop)", flush=True)
    uvicorn.run(datasette.app(), host=host, port=port, log_level="warning")


def _check_port(host: str, port: int) -> None:
    """Fail with one line, before loading anything, when the address cannot be used."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise UserError(f"port {port} on {host} is in use (pass --port)") from None
            raise UserError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
