"""The lab CDN edge's own response head: what nginx alone cannot send.

Cloudflare marks every response its edge serves with `Server: cloudflare` and a
`CF-RAY: <id>-<colo>` header, and that is how the analysis recognises an edge
refusing a site (webverdicts.edge_operator). Debian's nginx (without the
headers-more module) always sends its own `Server: nginx`, except for a
proxied response when told `proxy_pass_header Server`. So the lab edge is what
the real one is, a reverse proxy: the country's nginx terminates TLS and
proxies the refused names to this origin over a unix socket (pathname sockets
cross network namespaces), passing the page it decided on in request headers
(X-Lab-Status/-Title/-Text/-Colo); the origin answers it under Cloudflare's
Server header with a fresh ray id. It decides nothing itself.

One origin serves the whole world, in a thread of the process that built it.
"""

from __future__ import annotations

import secrets
import socketserver
import threading
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from types import TracebackType
from typing import Self

from tests.lab.nginx import Site

SERVER = "cloudflare"
# Cloudflare's colo codes (IATA) of the lab countries' edges
COLO = {"IT": "MXP", "FR": "CDG", "DE": "FRA", "CH": "ZRH"}


class _Handler(BaseHTTPRequestHandler):
    server_version = SERVER
    sys_version = ""
    protocol_version = "HTTP/1.1"

    def version_string(self) -> str:
        return SERVER

    def do_GET(self) -> None:
        status = int(self.headers.get("X-Lab-Status", "502"))
        page = Site("", title=self.headers.get("X-Lab-Title", ""),
                    text=self.headers.get("X-Lab-Text", "")).page().encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(page)))
        self.send_header("CF-RAY", f"{secrets.token_hex(8)}-{self.headers.get('X-Lab-Colo', '')}")
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(page)

    def address_string(self) -> str:
        return "unix"            # a unix socket's peer has no address

    def log_message(self, format: str, *args: object) -> None:
        pass                     # nginx logs the requests


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


class EdgeOrigin:
    """The origin behind the lab edge's refusals, on a unix socket."""

    def __init__(self, socket_path: Path) -> None:
        self.socket_path = socket_path
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.socket_path.unlink(missing_ok=True)
        self._server = _Server(str(self.socket_path), _Handler)
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        name="lab-edge-origin", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(5)
        self.socket_path.unlink(missing_ok=True)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
