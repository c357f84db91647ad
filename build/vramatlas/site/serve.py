"""Serve a built site on 127.0.0.1 with the standard library's http.server."""

from __future__ import annotations

import functools
import http.server
import sys
import threading
from pathlib import Path


class _Handler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".js": "text/javascript",
        ".json": "application/json",
        ".parquet": "application/octet-stream",
        ".csv": "text/csv; charset=utf-8",
        ".wasm": "application/wasm",  # Pyodide compiles it while it streams in only with this type
        ".mjs": "text/javascript",
    }

    def send_error(self, code, message=None, explain=None):
        """A missing page gets the site's own 404.html (status 404), as static hosts do."""
        page = Path(self.directory) / "404.html"
        if code != 404 or not page.is_file():
            return super().send_error(code, message, explain)
        body = page.read_bytes()
        self.send_response(404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format, *args):  # noqa: A002 - quiet unless asked
        if getattr(self.server, "verbose", False):
            super().log_message(format, *args)


class _Server(http.server.ThreadingHTTPServer):
    """One thread per connection; a deep listen queue, since a browser opens many connections at once
    (the default of 5 drops the rest, which then wait a second or more to retry)."""

    request_queue_size = 128
    daemon_threads = True

    def handle_error(self, request, client_address):
        # a browser that leaves a page cuts off what it was still loading (the search index, Pyodide):
        # that is the client's doing and not worth a traceback; anything else is reported as usual
        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError, ConnectionAbortedError)):
            return
        super().handle_error(request, client_address)


def make_server(site: Path, port: int = 0, verbose: bool = False) -> http.server.ThreadingHTTPServer:
    """A server for ``site`` on 127.0.0.1 (port 0: any free port); not started."""
    handler = functools.partial(_Handler, directory=str(site))
    server = _Server(("127.0.0.1", port), handler)
    server.verbose = verbose
    return server


def serve_in_thread(site: Path, port: int = 0) -> tuple[http.server.ThreadingHTTPServer, str]:
    """Start a server in a daemon thread; return it and its base URL (tests use this)."""
    server = make_server(site, port)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


def serve_forever(site: Path, port: int) -> int:
    try:
        server = make_server(site, port, verbose=True)
    except OSError as exc:
        from ..cli import CLIError

        raise CLIError(f"vramatlas serve: cannot listen on 127.0.0.1:{port} ({exc.strerror})") from None
    print(f"serving {site} at http://127.0.0.1:{server.server_address[1]}/ (Ctrl-C stops)", file=sys.stderr)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
