"""The lab CDN edge answers a refused name the way Cloudflare's edge does: HTTP 451
with the legal notice under `Server: cloudflare` and a `CF-RAY` header (what
the analysis recognises an edge by), over plain HTTP and TLS, while the names
it serves normally stay nginx's own. Real nginx, in the test's private netns.
"""

from __future__ import annotations

import http.client
import re
import shutil
import socket
import ssl
from pathlib import Path

import pytest

from tests.lab.edge import EdgeOrigin
from tests.lab.nginx import Nginx, Site
from tests.lab.tlsca import LabCA

pytestmark = pytest.mark.lab

EDGE = "127.61.0.10"
NOTICE = "This site is not available in your country (IT) by order of a court (lab-order)."


def _get(address: str, name: str, context: ssl.SSLContext | None = None
         ) -> tuple[int, dict[str, list[str]], str]:
    """GET / from `address` with Host (and SNI) = name, as the probe asks."""
    sock = socket.create_connection((address, 443 if context else 80), timeout=10)
    if context is not None:
        sock = context.wrap_socket(sock, server_hostname=name)
    with sock:
        sock.sendall(f"GET / HTTP/1.1\r\nHost: {name}\r\nConnection: close\r\n\r\n".encode())
        response = http.client.HTTPResponse(sock)
        response.begin()
        body = response.read().decode()
    headers: dict[str, list[str]] = {}
    for key, value in response.getheaders():
        headers.setdefault(key.lower(), []).append(value)
    return response.status, headers, body


def test_refused_name_answers_451_under_the_edges_own_headers(
        isolated: None, tmp_path: Path) -> None:
    if shutil.which("nginx") is None:
        pytest.skip("nginx is not installed")
    ca = LabCA(tmp_path / "ca")
    cert = ca.issue("edge", "refused.example", "served.example")
    with EdgeOrigin(tmp_path / "edge.sock") as origin:
        sites = [Site(EDGE, ("refused.example",), cert, status=451,
                      title="Unavailable For Legal Reasons", text=NOTICE,
                      origin=str(origin.socket_path), colo="MXP"),
                 Site(EDGE, ("served.example",), cert, title="Served", text="Served")]
        with Nginx(tmp_path / "nginx", sites):
            rays = set()
            for tls in (None, ca.client_context()):
                status, headers, body = _get(EDGE, "refused.example", tls)
                assert status == 451
                assert headers["server"] == ["cloudflare"]        # nginx's own is gone
                (ray,) = headers["cf-ray"]
                assert re.fullmatch(r"[0-9a-f]{16}-MXP", ray), ray
                rays.add(ray)
                assert NOTICE in body and "<title>Unavailable For Legal Reasons</title>" in body
            assert len(rays) == 2          # a ray id per response
            status, headers, body = _get(EDGE, "served.example")
            assert (status, headers["server"], "cf-ray" in headers) == (200, ["nginx"], False)
            assert "<title>Served</title>" in body
